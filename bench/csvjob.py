"""Item 6: the CSV fulfillment job (POST /fulfillment-jobs: `csvfile.start` + `runner.run`),
rows per second and peak memory; the CSV import job (POST /orders/import) is shown too.

moto's server runs in this process with the template's resources; each measurement runs the job
in a child process (`python -m bench.csvjob ...`) against it, so the child's peak RSS (VmHWM) is
the job's alone, as in Lambda: one run untraced for rows/s and peak RSS, one under tracemalloc
for the Python allocation peak. The fulfillment job's orders are written by another child first
(`--fulfill-seed`), which also writes the upload file, so neither counts in the job's peak."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench import ROOT
from bench.common import Section, fmt

HEADER = (
    "marketplace,marketplace_order_no,placed_at,payment_method,paid_at,currency,sku,title,quantity,price,"
    "item_code,recipient_name,address1,address2,city,region,postal_code,country,phone,email"
)
ROW = (
    "base,B-{n},2026-01-10T09:30:00+09:00,card,2026-01-10T09:31:00+09:00,JPY,TS-RED-M,Tシャツ 赤 M,2,1980,"
    "ITEM-TS-RED-M,山田 太郎,神南1-2-3,渋谷ビル 5F,渋谷区,東京都,150-0041,JP,03-1234-5678,taro@example.jp"
)
TARGET_MB = 150
TRACED_ROWS = 2_000  # tracemalloc slows the job ~1.6x; its run is kept to this size


def csv_bytes(rows: int, offset: int = 0) -> bytes:
    return "\r\n".join([HEADER] + [ROW.format(n=offset + n) for n in range(rows)]).encode("utf-8")


def _vmhwm_mb() -> float:
    """This process's peak resident set (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(rows: int, offset: int, trace: bool) -> dict:
    import tracemalloc

    from orderhub.jobs import runner
    from orderhub.merchants import profiles
    from orderhub.orders import csv_import
    from tests.support.moto_env import SECRETS

    profiles.put_profile("demo", SECRETS["demo"])
    data = csv_bytes(rows, offset)
    hwm_before = _vmhwm_mb()
    if trace:
        tracemalloc.start()
    t = time.perf_counter()
    job = csv_import.start_import("demo", data, "text/csv")
    runner.run(json.dumps({"merchant_id": "demo", "job_id": job["job_id"]}))
    elapsed = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    done = runner.get("demo", job["job_id"])
    return {
        "rows": rows,
        "seconds": elapsed,
        "succeeded": done["succeeded"],
        "failed": done["failed"],
        "state": done["state"],
        "hwm_mb": _vmhwm_mb(),
        "hwm_before_mb": hwm_before,
        "tracemalloc_peak_mb": peak / 2**20 if peak is not None else None,
    }


FULFILL_MERCHANT = "demo2"  # not the import job's merchant: its orders are not in the way


def fulfill_seed(rows: int, offset: int, path: str) -> dict:
    """`rows` released (status new) orders of FULFILL_MERCHANT, written with batch writes (the items
    a new order's transaction writes, except the counter), and the upload file at `path`: the
    download's layout (csvfile.EXPORT_COLUMNS, UTF-8 with a BOM, a row per order as
    `csvfile.export` writes it) with carrier and a distinct Yamato number filled in."""
    import csv
    import io

    from orderhub.domain.ingest import new_order
    from orderhub.domain.settings import Integration
    from orderhub.fulfillment import csvfile
    from orderhub.kernel import aws, clock, ids
    from orderhub.kernel.config import settings
    from orderhub.merchants import profiles
    from orderhub.store import db
    from tests.support.factories import T0, change
    from tests.support.moto_env import SECRETS

    t = time.perf_counter()
    m = FULFILL_MERCHANT
    profiles.put_profile(m, SECRETS[m])
    clock.freeze(T0)
    template = change("F0", method="marketplace")  # released at once
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csvfile.EXPORT_COLUMNS)
    carrier = csvfile.EXPORT_COLUMNS.index("carrier")
    number = csvfile.EXPORT_COLUMNS.index("tracking_number")
    with aws.table(settings().table_name).batch_writer() as batch:
        for n in range(rows):
            ch = template.model_copy(update={"marketplace_order_no": f"F{offset + n}"})
            order = new_order(
                ch,
                Integration(),
                T0,
                merchant_id=m,
                order_id=ids.new_order_id(),
                packing_no=ids.new_packing_no(),
            )
            assert order["status"] == "new"
            history = db.history_item(order, T0, "marketplace", "created", status="new")
            for op in db.create_order_ops(order, history, None):
                if op and "Put" in op:
                    batch.put_item(Item=db.from_av(op["Put"]["Item"]))
            row = csvfile._row(order, T0, "Asia/Tokyo")
            row[carrier], row[number] = "yamato", f"{800000000000 + offset + n}"
            writer.writerow(row)
    data = ("\ufeff" + out.getvalue()).encode("utf-8")
    Path(path).write_bytes(data)
    return {"rows": rows, "seconds": time.perf_counter() - t, "bytes": len(data)}


def fulfill_child(path: str, trace: bool) -> dict:
    """The CSV fulfillment job on the file `path`: start (parse, store rows, queue) + run."""
    import tracemalloc

    from orderhub.fulfillment import csvfile
    from orderhub.jobs import runner
    from orderhub.kernel import clock
    from tests.support.factories import T0

    clock.freeze(T0 + timedelta(hours=1))
    data = Path(path).read_bytes()
    hwm_before = _vmhwm_mb()
    if trace:
        tracemalloc.start()
    t = time.perf_counter()
    job = csvfile.start(FULFILL_MERCHANT, data, "text/csv")
    runner.run(json.dumps({"merchant_id": FULFILL_MERCHANT, "job_id": job["job_id"]}))
    elapsed = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    done = runner.get(FULFILL_MERCHANT, job["job_id"])
    return {
        "rows": job["total"],
        "seconds": elapsed,
        "succeeded": done["succeeded"],
        "failed": done["failed"],
        "skipped": done.get("skipped", 0),
        "state": done["state"],
        "hwm_mb": _vmhwm_mb(),
        "hwm_before_mb": hwm_before,
        "tracemalloc_peak_mb": peak / 2**20 if peak is not None else None,
    }


@contextlib.contextmanager
def moto_server():
    """moto's server in this process with the template's resources; yields the child environment."""
    import boto3

    from localcloud import internals
    from localcloud.cloud import CLIENT_SERVICES, serialize_data_requests
    from localcloud.moto_server import KeepAliveMotoServer
    from localcloud.resources import provision
    from localcloud.template import Template

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    internals.patch_moto()
    server = KeepAliveMotoServer(serialize_data_requests(internals.moto_wsgi_app()))
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        clients = {
            s: boto3.client(
                s, endpoint_url=url, region_name="us-east-1", **{k.lower(): v for k, v in creds.items()}
            )
            for s in CLIENT_SERVICES  # every service the template's resources are made in
        }
        template = Template(ROOT / "template.yaml")
        provision(template, clients)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(template.environment())
        env.update(creds)
        env.update(
            {
                "AWS_ENDPOINT_URL": url,
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        yield env
    finally:
        server.stop()


def _spawn(env: dict, rows: int, offset: int, trace: bool, *extra: str) -> dict:
    args = [sys.executable, "-m", "bench.csvjob", str(rows), str(offset), *extra]
    args += ["--trace"] if trace else []
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{' '.join(args[2:])} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fulfill(env: dict, rows: int, offset: int, trace: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "fulfillment.csv")
        seed = _spawn(env, rows, offset, False, "--fulfill-seed", path)
        result = _spawn(env, rows, offset, trace, "--fulfill", path)
    result["seed"] = seed
    return result


def _row_of(rows: int, plain: dict, traced: dict, traced_rows: int) -> list:
    ok = f"{plain['succeeded']:,} / {plain['failed']:,}"
    if plain.get("skipped"):
        ok += f" ({plain['skipped']:,} skipped)"
    return [
        f"{rows:,}",
        ok,
        fmt(plain["seconds"], 1),
        fmt(rows / plain["seconds"], 0),
        f"{fmt(plain['hwm_mb'], 0)} ({fmt(plain['hwm_before_mb'], 0)})",
        f"{fmt(traced['tracemalloc_peak_mb'], 1)} ({traced_rows:,})",
        fmt(traced_rows / traced["seconds"], 0),
    ]


def run(quick: bool = False) -> Section:
    rows = 1_000 if quick else 10_000
    traced_rows = min(rows, TRACED_ROWS)
    sec = Section("6. CSV jobs: rows per second and peak memory")
    with moto_server() as env:
        ful = _fulfill(env, rows, 100_000, False)
        ful_traced = _fulfill(env, traced_rows, 200_000, True)
        imp = _spawn(env, rows, 100_000, False)
        imp_traced = _spawn(env, traced_rows, 200_000, True)
    sec.add(
        f"{rows:,} data rows per job, run in a child process (the job alone) against moto's server in",
        "the parent process (so moto's copy of the table is not counted, as in Lambda). Peak RSS =",
        "VmHWM of the child (interpreter and imports included; the value before the job is shown).",
        "tracemalloc peak = Python allocations from the job's start to the end of `runner.run`, in a",
        f"second run of {traced_rows:,} rows (tracemalloc slows the job down). rows/s includes the HTTP",
        "round trips to moto's server (a call costs more than on moto in-process).",
        "",
        "- **CSV fulfillment job** (POST /fulfillment-jobs): `csvfile.start` +",
        "  `runner.run`, one `shipping.fulfill` per row (carrier yamato, a distinct number: the",
        "  tracking index read and written per row). The orders (status new) and the upload file are",
        "  written by another child first: the download's layout (15 columns, UTF-8 with a BOM,"
        f" {fmt(ful['seed']['bytes'] / 2**20, 1)} MB",
        f"  for {rows:,} rows), seeded in {fmt(ful['seed']['seconds'], 0)} s by batch writes.",
        "- **CSV import job** (POST /orders/import, shown as before): `csv_import.start_import` +",
        "  `runner.run`, one new order per row.",
        "",
    )
    sec.table(
        [
            "job",
            "rows",
            "ok / failed",
            "seconds",
            "rows/s",
            "peak RSS MB (before job)",
            "tracemalloc peak MB (rows)",
            "rows/s under tracemalloc",
        ],
        [
            ["CSV fulfillment", *_row_of(rows, ful, ful_traced, traced_rows)],
            ["CSV import", *_row_of(rows, imp, imp_traced, traced_rows)],
        ],
    )
    ok_rows = ful["succeeded"] == rows and not ful["failed"]
    sec.targets.append(
        (
            f"CSV fulfillment job of 10,000 rows under {TARGET_MB} MB peak",
            f"< {TARGET_MB} MB",
            f"{rows:,} rows ({ful['succeeded']:,} fulfilled): peak RSS {fmt(ful['hwm_mb'], 0)} MB,"
            f" tracemalloc {fmt(ful_traced['tracemalloc_peak_mb'], 1)} MB at {traced_rows:,} rows;"
            f" import job {fmt(imp['hwm_mb'], 0)} MB",
            (ful["hwm_mb"] < TARGET_MB and ok_rows) if rows == 10_000 else None,
        )
    )
    return sec


if __name__ == "__main__":
    n, off, trace = int(sys.argv[1]), int(sys.argv[2]), "--trace" in sys.argv
    if "--fulfill-seed" in sys.argv:
        print(json.dumps(fulfill_seed(n, off, sys.argv[sys.argv.index("--fulfill-seed") + 1])))
    elif "--fulfill" in sys.argv:
        print(json.dumps(fulfill_child(sys.argv[sys.argv.index("--fulfill") + 1], trace)))
    else:
        print(json.dumps(child(n, off, trace)))
