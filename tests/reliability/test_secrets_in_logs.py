"""Secrets never appear in logs (docs/reliability.md). A local cloud runs as `make run` runs it (its
own process, debug logging for the local cloud), every line it writes is captured, and a session
touches every secret: signed webhooks (good, bad and malformed), merchant and warehouse JWTs (good
and bad), and integration settings with an api_token that is then used against the fake
marketplace, both successfully and failing, and each marketplace's own credentials (Amazon's LWA
secret and refresh token, Rakuten's service secret and license key, Qoo10's and Wish's keys)
used by a pull that succeeds and one that fails. No secret, token, JWT or signature may be in the
output."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime

import pytest

from scripts.send_webhook import build_request
from tests.support.http import ROOT, Api, load_event, request
from tests.support.ports import local_cloud_env

pytestmark = pytest.mark.e2e


@pytest.fixture
def cloud_process(tmp_path):
    env, _port = local_cloud_env(tmp_path, ORDERHUB_LOCAL_LOG="DEBUG")
    log_path = tmp_path / "cloud.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "localcloud"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        config_path = tmp_path / "local.json"
        while True:
            assert proc.poll() is None, log_path.read_text()
            if config_path.exists():
                try:
                    config = json.loads(config_path.read_text())
                    if request("GET", config["api_url"] + "/health").status == 200:
                        break
                except (ValueError, OSError):
                    pass
            assert time.monotonic() < deadline, "the local cloud did not start"
            time.sleep(0.2)
        yield config, log_path, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _drain(config):
    admin = {"Authorization": f"Bearer {config['admin_token']}"}  # the /_local/* routes' credential
    assert request("POST", config["api_url"] + "/_local/drain?timeout=20", headers=admin).status == 200


def test_no_secret_reaches_the_logs(cloud_process):
    config, log_path, proc = cloud_process
    api = Api(config, "demo")
    seen: list[str] = []  # everything secret the session used

    for merchant in config["merchants"]:
        seen += list(merchant["webhook_secrets"].values()) + [merchant["token"]]
    seen.append(config["warehouse_token"])
    seen.append(config["admin_token"])  # the /_local/* routes' credential (drain, below)

    def signed(adapter, body: dict, secret=None, topic=None, merchant="demo"):
        raw = json.dumps(body).encode()
        headers = build_request(
            adapter,
            raw,
            secret or api.merchant["webhook_secrets"][adapter],
            topic,
            str(uuid.uuid4()),
            datetime.now(UTC),
        )
        seen.extend(v for k, v in headers.items() if "signature" in k.lower() or "hmac" in k.lower())
        return request("POST", f"{api.base}/webhooks/{adapter}/{merchant}", raw, headers)

    shopify = load_event("shopify/orders_create.json")
    assert signed("shopify", shopify, topic="orders/create").status == 200
    assert signed("generic", load_event("generic/order_created.json")).status == 200
    assert signed("wish", load_event("wish/order_created.json")).status == 200
    assert signed("shopify", shopify, secret="wrong-secret", topic="orders/create").status == 401
    other = config["merchants"][1]["webhook_secrets"]["generic"]
    assert signed("generic", load_event("generic/order_created.json"), secret=other).status == 401
    bad = load_event("generic/order_created.json")
    bad["order"]["items"][0]["quantity"] = 0
    assert signed("generic", bad).status == 400  # quarantined, with its headers

    # integration settings with an API token, used against the fake marketplace
    api_token = f"shpat_{uuid.uuid4().hex}"
    seen.append(api_token)
    fake = config["fake_marketplace_url"]
    put = api.call(
        "PUT",
        "/integrations/shopify",
        {"api_base_url": f"{fake}/shopify", "api_token": api_token, "reflect_cancel_to_marketplace": True},
    )
    assert put.status == 200, put
    assert api_token not in put.raw.decode()
    got = api.get("/integrations/shopify")
    assert got.status == 200 and api_token not in got.raw.decode()

    _drain(config)
    [order] = api.get(f"/orders?q={shopify['order_number']}").json["orders"]
    req = urllib.request.Request(
        f"{fake}/_control/orders/shopify", data=json.dumps(shopify).encode(), method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 201
    assert api.call("POST", f"/orders/{order['order_id']}/refresh").status == 200
    failing = {"marketplace": "shopify", "mode": "error", "count": -1, "status": 500}
    req = urllib.request.Request(f"{fake}/_control/fail", data=json.dumps(failing).encode(), method="POST")
    urllib.request.urlopen(req, timeout=10).read()
    assert api.call("POST", f"/orders/{order['order_id']}/refresh").status == 422
    cancel = api.call("POST", f"/orders/{order['order_id']}/cancel", {"reason": "log check"})
    assert cancel.status == 200 and "mall_reflect_error" in cancel.json["tags"], cancel

    # each marketplace's own credentials, used by a pull that succeeds and one that fails
    admin = {"Authorization": f"Bearer {config['admin_token']}"}
    credentials = {
        "amazon": {
            "lwa_client_secret": f"amzn-secret-{uuid.uuid4().hex}",
            "lwa_refresh_token": f"Atzr|{uuid.uuid4().hex}",
        },
        "rakuten": {"service_secret": f"SP{uuid.uuid4().hex}", "license_key": f"SL{uuid.uuid4().hex}"},
        "qoo10": {"api_token": f"qoo10-key-{uuid.uuid4().hex}"},
        "wish": {"api_token": f"wish-token-{uuid.uuid4().hex}"},
    }
    for marketplace, secrets in credentials.items():
        seen.extend(secrets.values())
        put = api.call("PUT", f"/integrations/{marketplace}", {**secrets, "pull": True})
        assert put.status == 200 and not any(v in put.raw.decode() for v in secrets.values()), put
    pulled = request("POST", config["api_url"] + "/_local/schedules/PullFunction", headers=admin)
    assert pulled.status == 200 and pulled.json["failed"] == 0, pulled
    for marketplace in credentials:
        failing = {"marketplace": marketplace, "mode": "error", "count": -1, "status": 503}
        req = urllib.request.Request(
            f"{fake}/_control/fail", data=json.dumps(failing).encode(), method="POST"
        )
        urllib.request.urlopen(req, timeout=10).read()
    pulled = request("POST", config["api_url"] + "/_local/schedules/PullFunction", headers=admin)
    assert pulled.status == 200 and pulled.json["failed"] == len(credentials), pulled

    # tokens: good and bad ones on both kinds of routes
    assert api.get("/orders").status == 200
    assert api.get("/orders", token=config["merchants"][0]["token"][:-4] + "AAAA").status == 401
    assert api.get("/orders", token=config["warehouse_token"]).status == 401
    assert api.warehouse("GET", "/warehouse/shipments?stage=requested").status == 200
    assert api.call("GET", "/warehouse/shipments", token=config["merchants"][0]["token"]).status == 401
    _drain(config)

    proc.terminate()
    proc.wait(timeout=15)
    text = log_path.read_text(errors="replace")
    assert "delivery processed" in text and "request refused" in text, text[-2000:]  # the capture works
    needles = set(seen)
    for token in [m["token"] for m in config["merchants"]] + [config["warehouse_token"]]:
        needles.add(token.rsplit(".", 1)[1])  # the signature part of each JWT, on its own too
    leaked = sorted(n for n in needles if n and n in text)
    assert leaked == [], [text[max(0, text.index(n) - 200) : text.index(n) + 50] for n in leaked]
