"""Item 3: cold import time of each function's handler module, as a ratio to `import boto3`.

Each sample is a fresh `python -c` that times the import with perf_counter (interpreter start-up
excluded); median of 7 per module, boto3 measured in the same run. One extra `-X importtime`
run per handler names the slowest top-level packages it pulls in besides boto3/botocore."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from bench import LAYER, ROOT
from bench.common import Section, fmt, median

RUNS = 7
TARGET = 1.6
_CODE = (
    "import time,importlib;t=time.perf_counter();importlib.import_module({mod!r});"
    "print(time.perf_counter()-t)"
)


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def handlers() -> list[tuple[str, Path, str]]:
    """(logical id, code directory, module) of every AWS::Serverless::Function in template.yaml."""
    doc = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)  # noqa: S506 (SafeLoader subclass)
    out = []
    for lid, res in doc["Resources"].items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res["Properties"]
        module = props["Handler"].rsplit(".", 1)[0]
        out.append((lid, ROOT / props["CodeUri"], module))
    return out


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "PYTHONPATH": str(LAYER),
            "TABLE_NAME": "orders",
            "EVENT_BUS_NAME": "bus",
            "INGEST_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/ingest",
            "JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs",
            "POWERTOOLS_SERVICE_NAME": "orderhub",
            "POWERTOOLS_METRICS_NAMESPACE": "orderhub",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "PYTHONDONTWRITEBYTECODE": "",
        }
    )
    env.pop("PYTHONDONTWRITEBYTECODE")
    return env


def _once(module: str, cwd: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _CODE.format(mod=module)],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _importtime(module: str, cwd: Path) -> list[tuple[str, int]]:
    """(module, self microseconds) from one `python -X importtime -c "import MODULE"`."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
        if m:
            rows.append((m.group(3), int(m.group(1))))
    return rows


def _heaviest(module: str, cwd: Path, baseline: set[str], n: int = 4) -> list[tuple[str, float]]:
    """Packages by summed self import time (ms) of the modules the handler imports beyond what
    `import boto3` imports (and beyond the stdlib)."""
    tops: dict[str, float] = {}
    for name, us in _importtime(module, cwd):
        root = name.split(".")[0]
        if name in baseline or root in sys.stdlib_module_names:
            continue
        tops[root] = tops.get(root, 0) + us / 1000
    return sorted(tops.items(), key=lambda kv: -kv[1])[:n]


def run(quick: bool = False) -> Section:
    runs = 3 if quick else RUNS
    sec = Section("3. Cold import time of each handler module (fresh process)")
    fns = handlers()
    samples: dict[str, list[float]] = {"boto3": []}
    for lid, _, _ in fns:
        samples[lid] = []
    for _ in range(runs):  # interleaved so drift hits all alike
        samples["boto3"].append(_once("boto3", ROOT))
        for lid, cwd, module in fns:
            samples[lid].append(_once(module, cwd))
    base = median(samples["boto3"])
    baseline = {name for name, _ in _importtime("boto3", ROOT)}
    rows = [["`import boto3`", fmt(base * 1000, 0), "1.00x", "", ""]]
    ok_all = True
    misses = []
    for lid, cwd, module in fns:
        t = median(samples[lid])
        ratio = t / base
        ok = ratio <= TARGET
        ok_all &= ok
        heavy = ", ".join(f"{name} {fmt(ms, 0)} ms" for name, ms in _heaviest(module, cwd, baseline))
        if not ok:
            misses.append(f"{lid} {ratio:.2f}x")
        rows.append(
            [
                f"{lid} (`{cwd.relative_to(ROOT)}/{module}.py`)",
                fmt(t * 1000, 0),
                f"{ratio:.2f}x",
                "met" if ok else "NOT met",
                heavy,
            ]
        )
    sec.add(
        f"Median of {runs} fresh `python -c` imports each (perf_counter around the import;",
        "PYTHONPATH=layers/shared, dummy TABLE_NAME etc.), interleaved with `import boto3` in the same run.",
        "Heaviest packages from one `-X importtime` run: sum of the self time of the modules the handler",
        "imports beyond those `import boto3` imports (and the stdlib).",
        "",
    )
    sec.table(["module", "median ms", "ratio to boto3", f"<= {TARGET}x", "heaviest packages (self ms)"], rows)
    sec.targets.append(
        (
            f"cold import <= {TARGET}x `import boto3` (every handler)",
            f"<= {TARGET}x",
            "all met" if ok_all else "over: " + ", ".join(misses),
            ok_all,
        )
    )
    return sec
