"""scripts/send_webhook.py: its signatures are the ones the adapters accept, and it posts."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from orderhub.kernel.errors import SignatureInvalid
from orderhub.marketplaces.registry import get_adapter
from scripts import send_webhook as sw

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
NOW = datetime(2026, 1, 8, 1, 0, tzinfo=UTC)
SECRETS = {"shopify": "shp-secret", "generic": "gen-secret", "wish": "wish-secret"}


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def test_sign_shopify_is_base64_hmac_sha256():
    # Reference value computed independently (RFC 4231-style key/body, base64 of the digest).
    assert sw.sign_shopify("key", b"The quick brown fox jumps over the lazy dog") == (
        "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="
    )


def test_sign_generic_covers_timestamp_dot_body():
    sig = sw.sign_generic("key", 1767834000, b"{}")
    assert sig.startswith("sha256=") and len(sig) == len("sha256=") + 64
    assert sig == sw.sign_generic("key", "1767834000", b"{}")
    assert sig != sw.sign_generic("key", 1767834001, b"{}")
    assert sig != sw.sign_generic("key", 1767834000, b"{ }")


@pytest.mark.parametrize(
    "file",
    sorted(p for a in ("shopify", "wish", "generic") for p in (EVENTS / a).glob("*.json")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_every_sample_signed_by_the_script_verifies_and_parses(file):
    adapter_name = file.parent.name
    data, topic, delivery_id = sw.prepare(
        file, adapter_name, topic=None, delivery_id="d-123", keep_event_id=False, sets=[]
    )
    headers = lower(sw.build_request(adapter_name, data, SECRETS[adapter_name], topic, delivery_id, NOW))
    adapter = get_adapter(adapter_name)
    adapter.verify(headers, data, SECRETS[adapter_name], NOW)
    if file.stem.startswith("webhook_"):  # Wish's own format: an array, one delivery per order
        [element] = adapter.batch(headers, data)
        got_id, change = adapter.parse_element(headers, 0, element)
        assert headers["wish-topic"] == "ORDER_RELEASE" and got_id.startswith("wish-v3:")
        assert change.topic == "created"
        with pytest.raises(SignatureInvalid):
            adapter.verify(headers, data, "wrong-secret", NOW)
        return
    got_id, change = adapter.parse(headers, data)
    assert got_id == "d-123"
    expected_topic = file.stem.split("_", 1)[1].removesuffix("_bank").removesuffix("_cod")
    expected_topic = {"create": "created"}.get(expected_topic, expected_topic)
    assert change.topic == expected_topic
    with pytest.raises(SignatureInvalid):
        adapter.verify(headers, data, "wrong-secret", NOW)


def test_shopify_headers():
    h = sw.build_request("shopify", b"{}", "s", "orders/paid", "wh-9", NOW)
    assert h["X-Shopify-Topic"] == "orders/paid"
    assert h["X-Shopify-Webhook-Id"] == "wh-9"
    assert h["X-Shopify-Hmac-Sha256"] == sw.sign_shopify("s", b"{}")
    assert h["X-Shopify-Shop-Domain"] == "orderhub-demo.myshopify.com"
    assert h["X-Shopify-Triggered-At"] == "2026-01-08T01:00:00.000Z"


def test_generic_headers_use_now_as_the_timestamp():
    h = sw.build_request("generic", b"{}", "s", None, "ignored", NOW)
    assert h["X-Orderhub-Timestamp"] == "1767834000"
    assert h["X-Orderhub-Signature"] == sw.sign_generic("s", 1767834000, b"{}")


def test_unknown_adapter_is_refused():
    with pytest.raises(ValueError):
        sw.build_request("amazon", b"{}", "s", None, "d", NOW)


@pytest.mark.parametrize(
    ("adapter", "name", "topic"),
    [
        ("shopify", "orders_create.json", "orders/create"),
        ("shopify", "orders_create_cod.json", "orders/create"),
        ("shopify", "orders_cancelled.json", "orders/cancelled"),
        ("wish", "order_created.json", "order.created"),
        ("wish", "order_tracking_cancelled.json", "order.tracking_cancelled"),
        ("generic", "order_created.json", None),
        ("shopify", "my_order.json", None),
    ],
)
def test_default_topic(adapter, name, topic):
    assert sw.default_topic(adapter, Path(name)) == topic


def test_shopify_file_is_sent_byte_for_byte():
    file = EVENTS / "shopify" / "orders_create.json"
    data, topic, delivery_id = sw.prepare(
        file, "shopify", topic=None, delivery_id=None, keep_event_id=False, sets=[]
    )
    assert data == file.read_bytes()
    assert topic == "orders/create"
    assert len(delivery_id) == 36  # a uuid4


def test_generic_event_id_is_replaced_by_the_delivery_id():
    file = EVENTS / "generic" / "order_paid.json"
    data, _, delivery_id = sw.prepare(
        file, "generic", topic=None, delivery_id=None, keep_event_id=False, sets=[]
    )
    assert json.loads(data)["event_id"] == delivery_id != "evt_rakuten_0012345678_paid"
    data, _, delivery_id = sw.prepare(
        file, "generic", topic=None, delivery_id="mine", keep_event_id=False, sets=[]
    )
    assert json.loads(data)["event_id"] == delivery_id == "mine"


def test_generic_keep_event_id_sends_the_file_unchanged():
    file = EVENTS / "generic" / "order_paid.json"
    data, _, delivery_id = sw.prepare(
        file, "generic", topic=None, delivery_id=None, keep_event_id=True, sets=[]
    )
    assert delivery_id == "evt_rakuten_0012345678_paid"
    assert data == file.read_bytes()


def test_set_overrides_top_level_and_nested_fields():
    file = EVENTS / "shopify" / "orders_updated.json"
    data, _, _ = sw.prepare(
        file,
        "shopify",
        topic=None,
        delivery_id="d",
        keep_event_id=False,
        sets=["updated_at=2026-01-01T00:00:00Z", 'total_price="7000"', "shipping_address.zip=100-0001"],
    )
    body = json.loads(data)
    assert body["updated_at"] == "2026-01-01T00:00:00Z"
    assert body["total_price"] == "7000"
    assert body["shipping_address"]["zip"] == "100-0001"
    assert body["shipping_address"]["city"] == "渋谷区"


def test_parse_set_reads_json_values_else_strings():
    assert sw.parse_set(["a=1", "b=true", "c=null", "d=hello", "e.f=[1]"]) == [
        (["a"], 1),
        (["b"], True),
        (["c"], None),
        (["d"], "hello"),
        (["e", "f"], [1]),
    ]
    with pytest.raises(ValueError):
        sw.parse_set(["novalue"])


# --- main() against a real local HTTP server ----------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    status = 200
    requests: list = []

    def do_POST(self):  # noqa: N802 (http.server naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        payload = json.dumps({"status": "queued"} if self.status < 300 else {"error": {"code": "x"}}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    handler = type("Handler", (_Recorder,), {"requests": [], "status": 200})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    config = tmp_path / "local.json"
    config.write_text(
        json.dumps(
            {
                "api_url": url,
                "merchants": [
                    {"merchant_id": "demo", "token": "t", "webhook_secrets": SECRETS},
                    {"merchant_id": "demo2", "token": "t2", "webhook_secrets": {"shopify": "other"}},
                ],
                "warehouse_token": "w",
            }
        )
    )
    yield handler, config
    httpd.shutdown()
    httpd.server_close()


def test_main_posts_a_signed_shopify_delivery(server, capsys):
    handler, config = server
    file = EVENTS / "shopify" / "orders_paid.json"
    assert sw.main([str(file), "--config", str(config), "--delivery-id", "wh-1"]) == 0
    ((path, headers, body),) = handler.requests
    assert path == "/webhooks/shopify/demo"
    assert headers["x-shopify-topic"] == "orders/paid"
    assert headers["x-shopify-webhook-id"] == "wh-1"
    get_adapter("shopify").verify(headers, body, SECRETS["shopify"], NOW)
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "200"
    assert '"queued"' in out


def test_main_generic_with_merchant_and_url_override(server, capsys):
    handler, config = server
    handler.status = 401
    file = EVENTS / "generic" / "order_created.json"
    url = json.loads(config.read_text())["api_url"]
    cfg = json.loads(config.read_text())
    cfg["api_url"] = "http://127.0.0.1:9"  # nothing listens there; --url wins
    config.write_text(json.dumps(cfg))
    code = sw.main([str(file), "--config", str(config), "--url", url + "/", "--set", 'order.total="9999"'])
    assert code == 1
    ((path, headers, body),) = handler.requests
    assert path == "/webhooks/generic/demo"
    event = json.loads(body)
    assert event["order"]["total"] == "9999"
    get_adapter("generic").verify(headers, body, SECRETS["generic"], datetime.now(UTC))
    assert capsys.readouterr().out.splitlines()[0] == "401"


def test_main_refuses_a_merchant_without_that_secret(server):
    _, config = server
    file = EVENTS / "wish" / "order_created.json"
    with pytest.raises(SystemExit) as exc:
        sw.main([str(file), "--config", str(config), "--merchant", "demo2"])
    assert "no wish webhook secret" in str(exc.value)


def test_main_unreachable_server_exits_1(tmp_path):
    config = tmp_path / "local.json"
    config.write_text(
        json.dumps(
            {
                "api_url": "http://127.0.0.1:9",
                "merchants": [{"merchant_id": "demo", "webhook_secrets": SECRETS}],
            }
        )
    )
    assert sw.main([str(EVENTS / "shopify" / "orders_create.json"), "--config", str(config)]) == 1


def test_missing_local_json_explains_how_to_start(tmp_path):
    with pytest.raises(SystemExit) as exc:
        sw.main([str(EVENTS / "shopify" / "orders_create.json"), "--config", str(tmp_path / "none.json")])
    assert "make run" in str(exc.value)


def test_the_fake_marketplace_gets_the_order_the_webhook_carried():
    from tests.support.http import ROOT

    shopify = (ROOT / "events" / "shopify" / "orders_create.json").read_bytes()
    assert sw.marketplace_copy("shopify", shopify) == ("shopify", json.loads(shopify))
    generic = json.loads((ROOT / "events" / "generic" / "order_created.json").read_bytes())
    marketplace, order = sw.marketplace_copy("generic", json.dumps(generic).encode())
    assert (marketplace, order) == (generic["marketplace"], generic["order"])
    assert sw.marketplace_copy("generic", b"[1]") is None
    assert sw.marketplace_copy("wish", b"not json") is None
