"""Item 6: the CSV import job (POST /orders/import: `registration.start_import` + `jobs.run`):
rows per second and peak memory. It stands in for the CSV fulfillment job of issue 6 until that
job exists.

moto's server runs in this process with the template's resources; each measurement runs the job
in a child process (`python -m bench.csvjob ROWS OFFSET [--trace]`) against it, so the child's
peak RSS (VmHWM) is the job's alone, as in Lambda: one run untraced for rows/s and peak RSS, one
under tracemalloc for the Python allocation peak."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import subprocess
import sys
import time
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

    from orderhub import jobs, merchants, registration
    from tests.support.moto_env import SECRETS

    merchants.put_profile("demo", SECRETS["demo"])
    data = csv_bytes(rows, offset)
    hwm_before = _vmhwm_mb()
    if trace:
        tracemalloc.start()
    t = time.perf_counter()
    job = registration.start_import("demo", data, "text/csv")
    jobs.run(json.dumps({"merchant_id": "demo", "job_id": job["job_id"]}))
    elapsed = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    done = jobs.get("demo", job["job_id"])
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


@contextlib.contextmanager
def moto_server():
    """moto's server in this process with the template's resources; yields the child environment."""
    import boto3
    from moto.server import ThreadedMotoServer

    from localcloud import moto_patches
    from localcloud.cloud import serialize_data_requests
    from localcloud.resources import provision
    from localcloud.template import Template

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto_patches.apply()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        server._server.app = serialize_data_requests(server._server.app)
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        clients = {
            s: boto3.client(
                s, endpoint_url=url, region_name="us-east-1", **{k.lower(): v for k, v in creds.items()}
            )
            for s in ("dynamodb", "sqs", "events", "sns")
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


def _spawn(env: dict, rows: int, offset: int, trace: bool) -> dict:
    args = [sys.executable, "-m", "bench.csvjob", str(rows), str(offset)] + (["--trace"] if trace else [])
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> Section:
    rows = 1_000 if quick else 10_000
    sec = Section("6. CSV import job: rows per second and peak memory")
    with moto_server() as env:
        plain = _spawn(env, rows, 100_000, False)
        traced_rows = min(rows, TRACED_ROWS)
        traced = _spawn(env, traced_rows, 200_000, True)
    sec.add(
        "The CSV fulfillment job (issue 6) does not exist yet; the CSV import job stands in for it:",
        f"{rows:,} data rows, one order per row: `registration.start_import` + `jobs.run` in a child",
        "process (the job alone), against moto's server in the parent process (so moto's copy of the",
        "table is not counted, as in Lambda). Peak RSS = VmHWM of the child (interpreter and imports",
        "included; the value before the job is shown). tracemalloc peak = Python allocations from",
        "`start_import` to the end of `jobs.run`, in a second run of"
        f" {min(rows, TRACED_ROWS):,} rows (tracemalloc slows the job down).",
        "rows/s includes the HTTP round trips to moto's server (a call costs more than on moto in-process).",
        "",
    )
    sec.table(
        [
            "rows",
            "ok / failed",
            "seconds",
            "rows/s",
            "peak RSS MB (before job)",
            "tracemalloc peak MB (rows)",
            "rows/s under tracemalloc",
        ],
        [
            [
                f"{rows:,}",
                f"{plain['succeeded']:,} / {plain['failed']:,}",
                fmt(plain["seconds"], 1),
                fmt(rows / plain["seconds"], 0),
                f"{fmt(plain['hwm_mb'], 0)} ({fmt(plain['hwm_before_mb'], 0)})",
                f"{fmt(traced['tracemalloc_peak_mb'], 1)} ({traced_rows:,})",
                fmt(traced_rows / traced["seconds"], 0),
            ]
        ],
    )
    met = plain["hwm_mb"] < TARGET_MB
    sec.targets.append(
        (
            f"CSV job of 10,000 rows under {TARGET_MB} MB peak (import job standing in)",
            f"< {TARGET_MB} MB",
            f"{rows:,} rows: peak RSS {fmt(plain['hwm_mb'], 0)} MB,"
            f" tracemalloc {fmt(traced['tracemalloc_peak_mb'], 1)} MB at {traced_rows:,} rows",
            met if rows == 10_000 else None,
        )
    )
    return sec


if __name__ == "__main__":
    import bench  # noqa: F401  (paths)

    print(json.dumps(child(int(sys.argv[1]), int(sys.argv[2]), "--trace" in sys.argv)))
