"""Item 3: cold import time of each function's handler module, as a ratio to `import boto3`.

Each sample is a fresh `python -c` that times the import with perf_counter (interpreter start-up
excluded). Round k imports every module (boto3 alone included) from under a padding frame of
k * CHUNK_WORDS / ROUNDS words, so the rounds spread the import over one 16 KB data-stack chunk of
CPython 3.11: where a deep recursion of the import lands against a chunk boundary changes its
time (see the section text), and a Lambda runtime imports the handler from a stack depth we do
not know. Median of the rounds per module, boto3 measured in the same rounds. One extra
`-X importtime` run per handler names the slowest top-level packages it pulls in besides
boto3/botocore.

`--baseline REF` (python -m bench --only imports --baseline main) also times the handlers of that
commit, checked out in a temporary git worktree, in the same rounds (the same offsets, interleaved):
the paired ratio per handler says whether a change made its cold start slower, within one run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import yaml

from bench import LAYER, ROOT
from bench.common import Section, fmt, median

ROUNDS = 24
CHUNK_WORDS = 2048  # CPython 3.11's data-stack chunk: 16 KB of 8-byte words
TARGET = 1.4  # every handler's import (issues #20 item 5, #21)
FIRST_TARGET = 1.6  # a handler and what its first request of a kind imports (#20 item 5)
# pad(): a function whose frame holds `pad` locals, calling the timed import from inside it.
_PAD = (
    "import time,importlib\n"
    "exec('def pad():\\n'+''.join(' v%d=None\\n'%i for i in range({pad}))+' return run()')\n"
)
_CODE = (
    _PAD
    + "def run():\n t=time.perf_counter();importlib.import_module({mod!r});return time.perf_counter()-t\n"
    "print(pad())"
)
# What some handlers import on their first request rather than at import (pydantic models, the
# job kind's module): timed after the handler module in the same process, as a second figure.
# The X-Ray SDK, which the layer leaves out (docs/operations.md, "Tracing"): its import and the
# patching of botocore, timed after this handler's import in the same rounds, to show what a
# Powertools Tracer with the SDK would add to that handler's cold start.
XRAY_AFTER = "MerchantApiFunction"
XRAY_MODULES = ("aws_xray_sdk.core", "aws_xray_sdk.ext.botocore.patch")
FIRST_USE = {
    "WebhookReceiverFunction": (
        "Shopify webhook",
        ("orderhub.marketplaces.shopify.webhook", "orderhub.domain.models"),
    ),
    "IngestProcessorFunction": ("first message", ("orderhub.domain.models",)),
    "JobWorkerFunction": ("CSV import job", ("orderhub.orders.csv_import",)),
}
_CODE_FIRST = (
    _PAD + "def run():\n importlib.import_module({mod!r});t=time.perf_counter()\n"
    " [importlib.import_module(m) for m in {extra!r}];return time.perf_counter()-t\n"
    "print(pad())"
)


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def handlers(root: Path = ROOT) -> list[tuple[str, Path, str]]:
    """(logical id, code directory, module) of every AWS::Serverless::Function in root's template.yaml."""
    doc = yaml.load((root / "template.yaml").read_text(), Loader=_Loader)  # noqa: S506 (SafeLoader subclass)
    out = []
    for lid, res in doc["Resources"].items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res["Properties"]
        module = props["Handler"].rsplit(".", 1)[0]
        out.append((lid, root / props["CodeUri"], module))
    return out


@contextmanager
def _checkout(ref: str):
    """The tree of commit `ref` in a temporary git worktree (removed afterwards)."""
    git = shutil.which("git")
    if git is None:
        raise SystemExit("--baseline needs git")
    path = Path(tempfile.mkdtemp(prefix="bench-baseline-")) / "tree"
    subprocess.run([git, "worktree", "add", "--quiet", "--detach", str(path), ref], cwd=ROOT, check=True)
    try:
        yield path
    finally:
        subprocess.run([git, "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)


def _env(layer: Path = LAYER) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "PYTHONPATH": str(layer),
            "TABLE_NAME": "orders",
            "EVENT_BUS_NAME": "bus",
            "INGEST_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/ingest",
            "JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs",
            # the merchant API and the ingest processor require their state machines at cold start
            "CANCEL_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:cancel",
            "MODIFY_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:modify",
            # the APIs and the job worker require the key their list cursors are signed from
            "CURSOR_KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/cursor",
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


def _once(module: str, cwd: Path, pad: int, extra: tuple[str, ...] = (), layer: Path = LAYER) -> float:
    """Seconds to import `module` (then `extra`, timing only those) in a fresh interpreter, from
    under a frame of `pad` extra words, with `layer` as the shared layer."""
    code = (
        _CODE_FIRST.format(mod=module, extra=extra, pad=pad) if extra else _CODE.format(mod=module, pad=pad)
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=_env(layer),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _importtime(module: str, cwd: Path) -> list[tuple[str, int]]:
    """(module, self microseconds) from one `python -X importtime`, importing as the timed runs do."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import importlib; importlib.import_module({module!r})"],
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


def _heaviest(
    module: str, cwd: Path, baseline: dict[str, int], n: int = 4
) -> tuple[list[tuple[str, float]], tuple[str, float] | None]:
    """Packages by summed self import time (ms) of the modules the handler imports beyond what
    `import boto3` imports (and beyond the stdlib); and the module of boto3's own that took the
    most longer than in `import boto3` alone (name, extra ms), when over 5 ms."""
    tops: dict[str, float] = {}
    slower: tuple[str, float] | None = None
    for name, us in _importtime(module, cwd):
        root = name.split(".")[0]
        if name in baseline:
            extra = (us - baseline[name]) / 1000
            if extra > 5 and (slower is None or extra > slower[1]):
                slower = (name, extra)
            continue
        if root in sys.stdlib_module_names:
            continue
        tops[root] = tops.get(root, 0) + us / 1000
    return sorted(tops.items(), key=lambda kv: -kv[1])[:n], slower


def run(quick: bool = False, baseline: str | None = None) -> Section:
    if baseline is None:
        return _run(quick, None, None)
    with _checkout(baseline) as tree:
        return _run(quick, baseline, tree)


def _run(quick: bool, ref: str | None, tree: Path | None) -> Section:
    runs = 4 if quick else ROUNDS
    sec = Section("3. Cold import time of each handler module (fresh process)")
    fns = handlers()
    samples: dict[str, list[float]] = {"boto3": [], "xray": []}
    before = {lid: (cwd, module) for lid, cwd, module in handlers(tree)} if tree is not None else {}
    for lid, _, _ in fns:
        samples[lid] = []
        samples["first:" + lid] = []
        samples["before:" + lid] = []
        samples["before-first:" + lid] = []
    for k in range(runs):  # interleaved so drift hits all alike; one stack offset per round
        pad = k * CHUNK_WORDS // runs
        samples["boto3"].append(_once("boto3", ROOT, pad))
        for lid, cwd, module in fns:
            samples[lid].append(_once(module, cwd, pad))
            if lid in FIRST_USE:
                samples["first:" + lid].append(_once(module, cwd, pad, FIRST_USE[lid][1]))
            if lid == XRAY_AFTER:
                samples["xray"].append(_once(module, cwd, pad, XRAY_MODULES))
            if lid in before:
                b_cwd, b_module = before[lid]
                samples["before:" + lid].append(_once(b_module, b_cwd, pad, layer=tree / "layers/shared"))
                if lid in FIRST_USE:
                    samples["before-first:" + lid].append(
                        _once(b_module, b_cwd, pad, FIRST_USE[lid][1], layer=tree / "layers/shared")
                    )
    base = median(samples["boto3"])
    baseline: dict[str, int] = {}
    for name, us in _importtime("boto3", ROOT):
        baseline[name] = us
    rows = [
        [
            "`import boto3`",
            fmt(base * 1000, 0),
            "1.00x",
            "",
            f"{fmt(max(samples['boto3']) * 1000, 0)} ({max(samples['boto3']) / base:.2f}x)",
            "",
            "",
            "",
            *([""] if ref else []),
        ]
    ]
    ok_all = True
    misses = []
    first_ok = True
    first_misses = []
    for lid, cwd, module in fns:
        t = median(samples[lid])
        # paired: each round's import against boto3's in the same round (machine drift cancels)
        ratio = median([h / b for h, b in zip(samples[lid], samples["boto3"], strict=True)])
        ok = ratio <= TARGET
        ok_all &= ok
        tops, slower = _heaviest(module, cwd, baseline)
        heavy = ", ".join(f"{name} {fmt(ms, 0)} ms" for name, ms in tops)
        if not ok:
            misses.append(f"{lid} {ratio:.2f}x")
        first = ""
        if lid in FIRST_USE:
            extra = median(samples["first:" + lid])
            both = [
                (h + e) / b
                for h, e, b in zip(samples[lid], samples["first:" + lid], samples["boto3"], strict=True)
            ]
            first = f"+{fmt(extra * 1000, 0)} ms ({FIRST_USE[lid][0]}): {median(both):.2f}x"
            if median(both) > FIRST_TARGET:
                first_ok = False
                first_misses.append(f"{FIRST_USE[lid][0]} {median(both):.2f}x")
        compared = []
        if ref:
            pairs = [a / b for a, b in zip(samples[lid], samples["before:" + lid], strict=False)]
            compared = [
                f"{fmt(median(samples['before:' + lid]) * 1000, 0)} ms, {median(pairs):.2f}x"
                if pairs
                else "not in that commit"
            ]
            if pairs and lid in FIRST_USE:
                # the first request of that commit: its handler and first-use imports, paired likewise
                now_first = [h + e for h, e in zip(samples[lid], samples["first:" + lid], strict=True)]
                then_first = [
                    h + e
                    for h, e in zip(samples["before:" + lid], samples["before-first:" + lid], strict=True)
                ]
                then_ratio = median([t / b for t, b in zip(then_first, samples["boto3"], strict=True)])
                compared[0] += (
                    f"; first use +{fmt(median(samples['before-first:' + lid]) * 1000, 0)} ms,"
                    f" {then_ratio:.2f}x of boto3, this / baseline"
                    f" {median([a / b for a, b in zip(now_first, then_first, strict=True)]):.2f}x"
                )
        rows.append(
            [
                f"{lid} (`{cwd.relative_to(ROOT)}/{module}.py`)",
                fmt(t * 1000, 0),
                f"{ratio:.2f}x",
                "met" if ok else "NOT met",
                f"{fmt(max(samples[lid]) * 1000, 0)} ({max(samples[lid]) / base:.2f}x)",
                heavy,
                f"{slower[0]} +{fmt(slower[1], 0)} ms" if slower else "",
                first,
                *compared,
            ]
        )
    sec.add(
        f"Median of {runs} fresh `python -c` imports each (perf_counter around the import;",
        "PYTHONPATH=layers/shared, dummy TABLE_NAME etc.), interleaved with `import boto3` in the same run.",
        "Ratio to boto3: the median over the rounds of the handler's time / boto3's time in the same",
        "round (paired, so a machine that slows down for a while slows both sides of a ratio).",
        f"Round k imports from under a padding frame of k/{runs} of a 16 KB data-stack chunk, the same",
        "offset for every module of the round: the rounds sample the stack depths a runtime could",
        "import the handler from. Slowest round: the worst of those offsets, as a ratio to boto3's median.",
        "Heaviest packages from one `-X importtime` run: sum of the self time of the modules the handler",
        "imports beyond those `import boto3` imports (and the stdlib).",
        "",
        "boto3's modules slower: the module of boto3's own import that took longest beyond its time in",
        "`import boto3` alone, in the same `-X importtime` runs (over 5 ms shown). On CPython 3.11 the",
        "compile of urllib3.util.url's regular expressions costs ~4 ms at most stack depths and up to",
        "~45 ms at a few (frames crossing a data-stack chunk boundary), so a handler can pay for it",
        "depending only on how deep in the import chain boto3 is first imported, and the depth the",
        "runtime imports the handler from adds to it: hence the offsets, and the slowest round shown.",
        "",
        "Imported on first use: pydantic models and job kinds are imported by the request that needs",
        "them, not at import. This column times those imports (median, same runs) after the handler",
        "module, and the ratio of the sum to `import boto3`: what a cold start that serves that request",
        "pays before any AWS call. GET /orders imports nothing more since its query string is checked",
        "without pydantic (it cost that request ~80 ms of imports). These handlers freeze what their",
        "import loaded (gc.freeze), so their first request runs no full collection over it; most of",
        'what is left is pydantic\'s own import (docs/architecture.md, "Cold start").',
        "",
        *(
            [
                f"Baseline `{ref}`: the same handler of that commit, timed in the same rounds (same",
                "offsets, interleaved): its median, and the median over the rounds of this tree's time /",
                "that commit's; where a request imports more on first use, that commit's first-use",
                "imports too, its first request's ratio to boto3, and this tree's first request (handler",
                "and first use) / that commit's, per round.",
                "",
            ]
            if ref
            else []
        ),
    )
    sec.table(
        [
            "module",
            "median ms",
            "ratio to boto3",
            f"<= {TARGET}x",
            "slowest round ms",
            "heaviest packages (self ms)",
            "boto3's modules slower",
            "imported on first use",
            *([f"baseline `{ref}` (median, this / baseline)"] if ref else []),
        ],
        rows,
    )
    if samples["xray"]:
        xray_ratio = median(
            [
                (h + x) / b
                for h, x, b in zip(samples[XRAY_AFTER], samples["xray"], samples["boto3"], strict=True)
            ]
        )
        alone = median([x / b for x, b in zip(samples["xray"], samples["boto3"], strict=True)])
        sec.add(
            "",
            f"The X-Ray SDK (not in the layer): importing `aws_xray_sdk.core` and its botocore patch after"
            f" {XRAY_AFTER}'s import, same rounds: +{fmt(median(samples['xray']) * 1000, 0)} ms"
            f" ({alone:.2f}x of `import boto3`); that handler with it: {xray_ratio:.2f}x.",
        )
    sec.targets.append(
        (
            f"cold import <= {TARGET}x `import boto3` (every handler)",
            f"<= {TARGET}x",
            "all met" if ok_all else "over: " + ", ".join(misses),
            ok_all,
        )
    )
    sec.targets.append(
        (
            f"first request of each kind <= {FIRST_TARGET}x `import boto3` (handler and first-use imports)",
            f"<= {FIRST_TARGET}x",
            "all met" if first_ok else "over: " + ", ".join(first_misses),
            first_ok,
        )
    )
    return sec
