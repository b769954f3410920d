"""Item 5: webhook throughput through the local cloud over HTTP, next to moto's bare put+get rate.

`LocalCloud(port=0, state_dir=tmp)` runs the template in this process (moto server, HTTP API,
SQS and stream pollers). N signed Shopify orders/create deliveries (distinct order numbers) are
posted from 8 threads of a sender process (the marketplaces' side, apart as it is in life):
accepted/s = N / time until every POST answered 200; applied/s = N / time until `cloud.drain()`
returned and GET /orders/counts shows all N. The same run then measures boto3 PutItem + GetItem
pairs against the same moto endpoint from 8 threads of this process, the way the functions call
it. The process's CPU time (every thread: HTTP API, functions, pollers, moto, and the pairs'
clients) is counted over both: the process is bound by the GIL, so CPU per delivery is its cost,
less swayed by other work on the machine than the rates are."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from bench import ROOT
from bench.common import Section, fmt, shopify_body

THREADS = 8


def _send(url: str, secret: str, n: int, first: int) -> list[int]:
    """Post n signed deliveries from THREADS threads (in the sender process); their statuses."""
    from scripts.send_webhook import build_request
    from tests.support.http import request

    template = json.loads((ROOT / "events" / "shopify" / "orders_create.json").read_text())

    def post(i: int) -> int:
        body = shopify_body(first + i, template=template)
        headers = build_request(
            "shopify", body, secret, "orders/create", str(uuid.uuid4()), datetime.now(UTC)
        )
        return request("POST", url, body, headers).status

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(post, range(n)))


class _Senders:
    """The marketplace side, in its own process as it is in life: its threads, signing and
    sockets take none of the local cloud process's GIL or CPU. Started, then told to go, so that
    its interpreter's start-up is not timed."""

    def __init__(self, api, n: int, first: int):
        url = f"{api.base}/webhooks/shopify/{api.merchant['merchant_id']}"
        secret = api.merchant["webhook_secrets"]["shopify"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.throughput", "send", url, str(n), str(first)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT)])},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.proc.stdin.write(secret + "\n")  # not on the command line: other users can read that
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ready"

    def go(self) -> list[int]:
        self.proc.stdin.write("go\n")
        self.proc.stdin.close()
        out = self.proc.stdout.read()
        if self.proc.wait() != 0:
            raise RuntimeError("the sender process failed")
        return json.loads(out)


def _post_all(api, n: int, first: int) -> list[int]:
    return _Senders(api, n, first).go()


def _moto_rate(cloud, n: int) -> float:
    import boto3

    table = cloud.environment["TABLE_NAME"]
    local = threading.local()

    def pair(i: int) -> None:
        if not hasattr(local, "c"):
            local.c = boto3.client("dynamodb", endpoint_url=cloud.endpoint_url, region_name="us-east-1")
        key = {"pk": {"S": f"BENCH#{i}"}, "sk": {"S": "#X"}}
        local.c.put_item(TableName=table, Item={**key, "v": {"S": "x" * 200}})
        local.c.get_item(TableName=table, Key=key, ConsistentRead=True)

    pair(-1)
    t, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(pair, range(n)))
    return n / (time.perf_counter() - t), (time.process_time() - cpu) / n


def run(quick: bool = False) -> Section:
    from localcloud import LocalCloud
    from tests.support.http import Api

    n = 200 if quick else 1_000
    sec = Section("5. Webhook throughput on the local cloud (HTTP, 8 threads)")
    with tempfile.TemporaryDirectory() as tmp:
        cloud = LocalCloud(
            template_path=ROOT / "template.yaml",
            port=0,
            root=ROOT,
            state_dir=tmp,
            parameter_overrides={"LogLevel": "WARNING"},
        )
        cloud.start()
        try:
            api = Api(cloud.config, "demo")
            _post_all(api, 5, 900_000)  # warm the functions and caches
            cloud.drain(timeout=60)
            logging.disable(
                logging.INFO
            )  # the functions' per-delivery INFO lines (whatever their Logger level)
            before = api.get("/orders/counts").json["all"]
            # The functions' metric lines (kernel/metrics.py, ~4 per delivery) are written, as
            # deployed, but to nowhere: this output stays the benchmark's.
            senders = _Senders(api, n, 910_000)
            with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
                t0, cpu0 = time.perf_counter(), time.process_time()
                statuses = senders.go()
                accepted_s = time.perf_counter() - t0
                ok = sum(1 for s in statuses if s == 200)
                deadline = time.monotonic() + 600
                listed = before
                while time.monotonic() < deadline:
                    cloud.drain(timeout=600)
                    listed = api.get("/orders/counts").json["all"]
                    if listed - before >= ok:
                        break
                    time.sleep(0.05)
                applied_s = time.perf_counter() - t0
                flood_cpu = time.process_time() - cpu0
            moto, pair_cpu = _moto_rate(cloud, n)
        finally:
            logging.disable(logging.NOTSET)
            cloud.stop()
    applied = listed - before
    sec.add(
        f"{n:,} signed Shopify orders/create deliveries, distinct order numbers, from {THREADS} threads of a",
        "sender process over real sockets (the marketplaces' side: its signing and connections are not",
        "the local cloud's CPU); the local cloud runs moto, the HTTP API, the functions and the pollers",
        "in this process (one Python process: the GIL is shared by the functions and moto). Until",
        "2026-11-28 the senders ran in this process too, and took about a quarter of its CPU.",
        "",
    )
    sec.table(
        ["figure", "value"],
        [
            ["accepted (200) / posted", f"{ok:,} / {n:,}"],
            ["accepted per second (receive)", fmt(ok / accepted_s, 0)],
            ["applied per second end to end (post .. drained and listed)", fmt(applied / applied_s, 0)],
            ["orders listed after drain", f"{applied:,}"],
            [f"moto bare PutItem+GetItem pairs per second ({THREADS} threads, same endpoint)", fmt(moto, 0)],
            ["applied/s as a share of moto's bare pair rate", f"{applied / applied_s / moto:.0%}"],
            ["process CPU per delivery, post .. drained (ms)", fmt(1000 * flood_cpu / n, 1)],
            ["process CPU per bare pair (ms)", fmt(1000 * pair_cpu, 2)],
            ["bare pair CPU as a share of a delivery's", f"{pair_cpu / (flood_cpu / n):.0%}"],
        ],
    )
    sec.add(
        "",
        "The profile's top entries, and the touch points' before/after measured in one sitting:",
        '[docs/local-cloud.md, "The flood\'s profile"](../docs/local-cloud.md#the-floods-profile).',
    )
    return sec


if __name__ == "__main__" and sys.argv[1:2] == ["send"]:  # the sender process of _Senders
    _url, _n, _first = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    _secret = sys.stdin.readline().strip()
    print("ready", flush=True)
    sys.stdin.readline()  # go
    print(json.dumps(_send(_url, _secret, _n, _first)), flush=True)
