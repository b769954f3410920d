"""Outbound calls to a merchant's marketplace API (docs/sync-flows.md "Outbound URLs") on the local
cloud: a stored URL the rule refuses fails the reflect (the merchant's action stands, tagged) and
the refresh (its rows fail, the job ends); a name that resolves to a private address when the
call is made is refused before any connection, so the merchant's token goes nowhere; a refused
address, a closed port and an unknown host read the same to the merchant; redirects are not
followed; and the local cloud reaches its fake marketplace only because it names it in
OUTBOUND_ALLOWED_ORIGINS.

The functions run in this process, so the resolver (socket.getaddrinfo) and the connection
(socket.create_connection) are patched here for the names the tests make up."""

from __future__ import annotations

import http.server
import itertools
import os
import socket
import threading

import boto3
import pytest

from localcloud.template import Template
from orderhub.kernel import caches
from orderhub.kernel.config import OUTBOUND_ALLOWED_ORIGINS
from orderhub.store import keys
from tests.support.cloud_fixtures import post_shopify_order
from tests.support.http import ROOT
from tests.support.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slowest(25)]
_numbers = itertools.count(960001)

PUBLIC = "93.184.216.34"  # what the made-up names resolve to when they are "public"
CLOSED = "203.0.114.7"  # a public address whose connections go to a closed port (patched below)


# ---------------------------------------------------------------------- helpers
def _table(cloud):
    ddb = boto3.resource("dynamodb", endpoint_url=cloud.endpoint_url, region_name="us-east-1")
    return ddb.Table(cloud.config["table_name"])


def store_url(cloud, url: str, merchant: str = "demo", marketplace: str = "shopify") -> None:
    """Write api_base_url straight into the profile item, as a row stored before the rule was
    checked would hold it (PUT refuses it now); the functions here forget the cached profile."""
    _table(cloud).update_item(
        Key=keys.profile_key(merchant),
        UpdateExpression="SET #i.#m.#u = :u",
        ExpressionAttributeNames={"#i": "integrations", "#m": marketplace, "#u": "api_base_url"},
        ExpressionAttributeValues={":u": url},
    )
    caches.reset()


def new_order(api, cloud, fake, **fields) -> dict:
    """A Shopify webhook order of demo, also known to the fake marketplace."""
    order, payload = post_shopify_order(api, cloud, next(_numbers), minutes_ago=120, **fields)
    fake.put_order("shopify", payload)
    return order


def last_history(api, order_id: str) -> dict:
    return api.get(f"/orders/{order_id}").json["history"][-1]


@pytest.fixture
def fake(cloud):
    """The local cloud's fake marketplace, reset; demo's shopify integration points at it again
    afterwards (as seeded)."""
    cloud.fake_marketplace.reset()
    yield cloud.fake_marketplace
    store_url(cloud, cloud.fake_marketplace.base_url("shopify"))
    cloud.fake_marketplace.reset()


@pytest.fixture
def dns(monkeypatch):
    """Made-up names: name -> addresses (None: the name does not exist). Other names resolve as usual."""
    names: dict[str, list[str] | None] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in names:
            return real(host, port, *args, **kwargs)
        addresses = names[name]
        if addresses is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        port = int(port or 0)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


@pytest.fixture
def closed_port(monkeypatch):
    """Connections to CLOSED go to a port of this machine where nobody listens (a closed port)."""
    port = free_port()
    real = socket.create_connection

    def create_connection(address, *args, **kwargs):
        if address[0] == CLOSED:
            address = ("127.0.0.1", port)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return port


@pytest.fixture
def listener():
    """A socket listening on 127.0.0.1: whoever connects is seen (nobody should)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        s.setblocking(False)
        yield s


def nobody_connected(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


@pytest.fixture
def allowlist(monkeypatch):
    """Set the functions' OUTBOUND_ALLOWED_ORIGINS here (they run in this process) for one test."""

    def set_to(value: str) -> None:
        monkeypatch.setenv(OUTBOUND_ALLOWED_ORIGINS, value)
        caches.reset()

    yield set_to
    monkeypatch.undo()
    caches.reset()


# ---------------------------------------------------------------------- (a) a stored bad URL
STORED_BAD = [
    "https://shop..example.com/shopify",
    "https://ｓｈｏｐ.example.com/shopify",
    "https://169.254.169.254/latest/meta-data",
    "ftp://shop.example.com/shopify",
]


@pytest.mark.parametrize("url", STORED_BAD, ids=["double-dot", "full-width", "metadata", "ftp"])
def test_a_stored_bad_url_fails_the_reflect_and_the_action_stands(api, cloud, fake, url):
    cancelled, fulfilled = new_order(api, cloud, fake), new_order(api, cloud, fake)
    store_url(cloud, url)

    resp = api.call("POST", f"/orders/{cancelled['order_id']}/cancel", {"reason": "buyer asked"})

    assert resp.status == 200, resp
    assert resp.json["status"] == "cancelled" and "mall_reflect_error" in resp.json["tags"]
    last = last_history(api, cancelled["order_id"])
    assert (last["actor"], last["action"], last["error"]["kind"]) == (
        "system",
        "reflect_failed",
        "invalid_url",
    )
    again = api.call("POST", f"/orders/{cancelled['order_id']}/cancel", {"reason": "buyer asked"})
    assert again.status == 409, again  # already cancelled: the first answer told the truth

    resp = api.call(
        "POST",
        f"/orders/{fulfilled['order_id']}/fulfill",
        {"carrier": "yamato", "tracking_number": "123456789012"},
    )

    assert resp.status == 200, resp
    assert resp.json["status"] == "shipped" and "mall_reflect_error" in resp.json["tags"]
    last = last_history(api, fulfilled["order_id"])
    assert (last["action"], last["error"]["kind"]) == ("fulfillment_reflect_failed", "invalid_url")
    assert fake.calls("shopify") == []


def test_a_stored_bad_url_fails_refresh_rows_and_the_job_ends(api, cloud, fake):
    order = new_order(api, cloud, fake)
    store_url(cloud, "https://shop..example.com/shopify")

    one = api.call("POST", f"/orders/{order['order_id']}/refresh")
    assert one.status == 422, one
    assert (one.json["error"]["code"], one.json["error"]["kind"]) == ("marketplace_error", "invalid_url")

    started = api.call("POST", "/orders/refresh", {"filter": {"q": order["marketplace_order_no"]}})
    assert started.status == 202, started
    cloud.drain(timeout=30)
    job = api.get(f"/jobs/{started.json['job_id']}").json
    assert job["state"] == "done", job
    assert (job["total"], job["failed"]) == (1, 1), job
    [row] = job["results"]
    assert row["ok"] is False and row["error"]["code"] == "marketplace_error", row
    assert row["error"]["kind"] == "invalid_url", row
    assert fake.calls("shopify") == []


# ---------------------------------------------------------------------- (b) checked at call time
def test_a_name_that_resolves_to_a_private_address_when_called_is_refused(api, cloud, fake, dns, listener):
    """DNS that changes after PUT (rebinding): the client resolves, checks every address and
    connects only to a checked one, so the merchant's token reaches nobody."""
    port = listener.getsockname()[1]
    dns["shop.rebind.example"] = [PUBLIC]
    put = api.call(
        "PUT", "/integrations/shopify", {"api_base_url": f"https://shop.rebind.example:{port}/shopify"}
    )
    assert put.status == 200, put
    order = new_order(api, cloud, fake)

    for addresses in (["127.0.0.1"], [PUBLIC, "127.0.0.1"], ["::ffff:127.0.0.1"], ["169.254.169.254"]):
        dns["shop.rebind.example"] = addresses
        resp = api.call("POST", f"/orders/{order['order_id']}/refresh")
        assert resp.status == 422 and resp.json["error"]["kind"] == "unavailable", (addresses, resp)

    resp = api.call("POST", f"/orders/{order['order_id']}/cancel", {"reason": "buyer asked"})
    assert resp.status == 200 and "mall_reflect_error" in resp.json["tags"], resp
    assert last_history(api, order["order_id"])["error"]["kind"] == "unavailable"
    assert nobody_connected(listener)
    assert fake.calls("shopify") == []


def test_put_resolves_the_name_too(api, cloud, fake, dns):
    before = api.get("/integrations/shopify").json
    dns["inside.corp.example"] = ["10.20.30.40"]
    dns["half.corp.example"] = [PUBLIC, "fd00::5"]
    for name in ("inside.corp.example", "half.corp.example"):
        resp = api.call("PUT", "/integrations/shopify", {"api_base_url": f"https://{name}/shopify"})
        assert resp.status == 400 and resp.json["error"]["field"] == "api_base_url", resp
    assert api.get("/integrations/shopify").json == before


# ---------------------------------------------------------------------- (c) one neutral error
def test_refused_address_closed_port_and_unknown_host_read_the_same(api, cloud, fake, dns, closed_port):
    dns["refused.shop.example"] = ["10.1.2.3"]
    dns["closed.shop.example"] = [CLOSED]
    dns["nowhere.shop.example"] = None
    order = new_order(api, cloud, fake)
    errors = {}
    for name in ("refused", "closed", "nowhere"):
        store_url(cloud, f"https://{name}.shop.example/shopify")
        resp = api.call("POST", f"/orders/{order['order_id']}/refresh")
        assert resp.status == 422, resp
        errors[name] = resp.json["error"]
    assert errors["refused"] == errors["closed"] == errors["nowhere"], errors
    assert errors["closed"]["kind"] == "unavailable" and "marketplace_status" not in errors["closed"]
    for text in ("10.1.2.3", CLOSED, "refused", "nowhere", "gaierror", "Connection"):
        assert text not in errors["closed"]["message"], errors

    # At PUT too: a name that resolves to a refused address reads as one that does not resolve.
    puts = [
        api.call("PUT", "/integrations/shopify", {"api_base_url": f"https://{name}.shop.example/shopify"})
        for name in ("refused", "nowhere")
    ]
    assert [p.status for p in puts] == [400, 400], puts
    assert puts[0].json == puts[1].json


# ---------------------------------------------------------------------- redirects
class _Redirector(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(302)
        self.send_header("Location", self.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args):
        pass


def test_a_redirect_is_not_followed(api, cloud, fake, allowlist):
    """Even from an allowed origin to another allowed origin: a redirect is an http_error."""
    _Redirector.target = fake.base_url("shopify")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        origin = f"http://127.0.0.1:{server.server_address[1]}"
        allowlist(f"{fake.url},{origin}")
        order = new_order(api, cloud, fake)
        store_url(cloud, f"{origin}/shopify")
        resp = api.call("POST", f"/orders/{order['order_id']}/refresh")
        assert resp.status == 422, resp
        assert (resp.json["error"]["kind"], resp.json["error"]["marketplace_status"]) == ("http_error", 302)
        assert fake.calls("shopify") == []
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------- (d) the local allowlist
def test_the_fake_marketplace_is_reached_only_through_the_allowlist(api, cloud, fake, allowlist):
    assert cloud.environment[OUTBOUND_ALLOWED_ORIGINS] == fake.url == os.environ[OUTBOUND_ALLOWED_ORIGINS]
    deployed = Template(ROOT / "template.yaml").environment()
    assert deployed.get(OUTBOUND_ALLOWED_ORIGINS, "") == ""  # deployed, nothing is allowed
    order = new_order(api, cloud, fake)

    ok = api.call("POST", f"/orders/{order['order_id']}/refresh")
    assert ok.status == 200, ok
    assert len(fake.calls("shopify")) == 1
    assert api.call("PUT", "/integrations/shopify", {"api_base_url": fake.base_url("shopify")}).status == 200

    allowlist("")
    refused = api.call("POST", f"/orders/{order['order_id']}/refresh")
    assert refused.status == 422 and refused.json["error"]["kind"] == "invalid_url", refused
    assert len(fake.calls("shopify")) == 1  # nothing more was sent
    put = api.call("PUT", "/integrations/shopify", {"api_base_url": fake.base_url("shopify")})
    assert put.status == 400 and put.json["error"]["rule"] == "https_only", put

    allowlist(f"http://127.0.0.1:{free_port()}")  # another port of the same host is not the fake
    again = api.call("POST", f"/orders/{order['order_id']}/refresh")
    assert again.status == 422 and again.json["error"]["kind"] == "invalid_url", again
