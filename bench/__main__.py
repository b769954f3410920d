"""python -m bench [--quick] [--only NAME ...]: run the benchmarks, print figures, write bench/results.md."""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import ROOT
from bench.common import Section, md_table

RESULTS = ROOT / "bench" / "results.md"
NAMES = ("imports", "calls", "sweep", "throughput", "csv", "console", "keyheat", "cost")


def _run(name: str, quick: bool, baseline: str | None = None) -> list[Section]:
    if name == "imports":
        from bench import imports

        return [imports.run(quick, baseline)]
    if name == "calls":
        from bench import calls

        c, cap, _ = calls.run(quick)
        return [c, cap]
    if name == "sweep":
        from bench import sweep

        return [sweep.run(quick)]
    if name == "throughput":
        from bench import throughput

        return [throughput.run(quick)]
    if name == "console":
        from bench import console

        return [console.run(quick)]
    if name == "keyheat":
        from bench import keyheat

        return [keyheat.run(quick)]
    if name == "cost":
        from bench import cost

        return [cost.run(quick)]
    from bench import csvjob

    return [csvjob.run(quick)]


def _cpu() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> list[str]:
    return [
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Platform: {platform.platform()} ({platform.machine()})",
        f"- CPU: {_cpu()}, {os.cpu_count()} CPUs",
        f"- Python: {platform.python_version()} ({platform.python_implementation()})",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a quick look, not the figures)")
    parser.add_argument("--only", nargs="+", choices=NAMES, help="run only these benchmarks")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results.md alone")
    parser.add_argument(
        "--baseline",
        metavar="GIT_REF",
        help="imports: also time the handlers of that commit in the same rounds (a git worktree)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    logging.getLogger().setLevel(logging.WARNING)

    sections: list[Section] = []
    timings = []
    for name in args.only or NAMES:
        print(f"\n== {name} ==", flush=True)
        t = time.perf_counter()
        sections += _run(name, args.quick, args.baseline)
        timings.append(f"{name} {time.perf_counter() - t:.0f} s")

    order = {s.title: i for i, s in enumerate(sections)}
    sections.sort(key=lambda s: order[s.title] if not s.title[0].isdigit() else int(s.title.split(".")[0]))
    targets = [t for s in sections for t in s.targets]
    out = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench"
        + (" --quick" if args.quick else "")
        + (f" --baseline {args.baseline}" if args.baseline else "")
        + "`). Figures from one run"
        " on the machine below; ratios are within this run."
        " Benchmarks print figures; no test asserts a time.",
        "",
        *machine(),
        f"- Mode: {'QUICK (smaller sizes; not the reference figures)' if args.quick else 'full'}",
        f"- Run time: {', '.join(timings)}",
        "",
        "## Targets",
        "",
        md_table(
            ["target", "wanted", "measured", "status"],
            [
                [n, w, m, {True: "met", False: "**not met**", None: "not measured at this size"}[ok]]
                for n, w, m, ok in targets
            ],
        ),
        "",
    ]
    for s in sections:
        out += [f"## {s.title}", "", *s.lines, ""]
    text = "\n".join(out).rstrip() + "\n"
    if not args.no_write:
        RESULTS.write_text(text)
        print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    print(
        "\n"
        + md_table(
            ["target", "status"],
            [[n, "met" if ok else ("n/a" if ok is None else "NOT met")] for n, _, _, ok in targets],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
