"""Isolation (docs/reliability.md): one merchant can never read or change another merchant's data,
and each credential opens only its own routes. The routes are read from template.yaml, so a
route added later is covered without touching this file (a route whose path parameter is not
known here fails with a message saying what to add)."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
import uuid

import pytest

from scripts import openapi
from tests.support.http import ROOT, request
from tests.support.tables import describe, scan_table, snapshot_diff

pytestmark = [pytest.mark.e2e, pytest.mark.slowest(14)]


def http_routes(function_id: str) -> list[tuple[str, str, str | None]]:
    """(method, path, authorizer) of every route a function serves (scripts/openapi.py: the
    template's HttpApi events, the greedy one expanded into the function's router)."""
    return [(m, p, a) for f, m, p, a in openapi.served_routes() if f == function_id]


MERCHANT_ROUTES = http_routes("MerchantApiFunction")
WAREHOUSE_ROUTES = http_routes("WarehouseApiFunction")
PARAM = re.compile(r"{(\w+)}")
# Path parameters that are looked-up values rather than ids a merchant owns (two merchants may
# hold the same tracking number): the other merchant's answer must simply not show demo's orders.
LOOKUP_PARAMS = {"tracking_number"}
# Path parameters that name no merchant-owned record (a marketplace, a webhook format): the
# merchant comes from the token alone
NOT_IDS = {"marketplace": "shopify", "fmt": "shopify"}


def has_id(path: str) -> bool:
    return any(name not in NOT_IDS for name in PARAM.findall(path))


def without_ids(path: str) -> str:
    return PARAM.sub(lambda m: NOT_IDS.get(m.group(1), m.group(0)), path)


# A body that the route would accept from the order's own merchant, so that the answer to the
# other merchant is decided by ownership, not by validation. Routes not named here get {}.
BODIES = {
    ("POST", "/orders/{order_id}/hold"): {"reason": "isolation check"},
    ("POST", "/orders/{order_id}/release"): {},
    ("POST", "/orders/{order_id}/close"): {"reason": "returned"},
    ("POST", "/orders/{order_id}/cancel"): {"reason": "isolation check"},
    ("PATCH", "/orders/{order_id}/recipient"): {"recipient": {"city": "isolation check"}},
    ("POST", "/orders/{order_id}/fulfill"): {"carrier": "yamato", "tracking_number": "4444-5555-6666"},
    ("PUT", "/orders/{order_id}/tracking"): {"carrier": "yamato", "tracking_number": "4444-5555-6666"},
    ("DELETE", "/orders/{order_id}"): None,
    ("POST", "/orders/{order_id}/ship-request"): None,
    ("POST", "/orders/{order_id}/refresh"): None,
    ("POST", "/orders/{order_id}/map-items"): None,
}


@pytest.fixture(scope="module")
def demo_ids(api, cloud):
    """Ids of demo's own things, one of each kind a merchant route can address."""
    manual = api.call(
        "POST",
        "/orders",
        {
            "marketplace": "isomart",
            "marketplace_order_no": "ISO-1",
            "items": [{"sku": "ISO-SKU", "quantity": 1, "price": "100", "item_code": "ISO-ITEM"}],
            "recipient": {
                "name": "Iso Buyer",
                "address1": "1-1",
                "city": "Chiyoda-ku",
                "postal_code": "100-0001",
                "country": "JP",
            },
        },
    )
    assert manual.status == 201, manual
    deleted_manual = api.call(
        "POST",
        "/orders",
        {
            "marketplace": "isomart",
            "marketplace_order_no": "ISO-2",
            "items": [{"sku": "ISO-SKU", "quantity": 1, "price": "100"}],
            "recipient": {
                "name": "Iso Buyer",
                "address1": "1-1",
                "city": "Chiyoda-ku",
                "postal_code": "100-0001",
                "country": "JP",
            },
        },
    ).json
    assert api.call("DELETE", f"/orders/{deleted_manual['order_id']}").status == 200

    event = json.loads((ROOT / "events/generic/order_created.json").read_text())
    event["event_id"] = f"iso-{uuid.uuid4()}"
    event["order"]["order_no"] = "ISO-API-1"
    event["order"]["payment"] = {"method": "marketplace", "gateway": "iso"}
    assert api.post_webhook("generic", event).status == 200
    event2 = json.loads(json.dumps(event))
    event2["event_id"] = f"iso-{uuid.uuid4()}"
    event2["order"]["order_no"] = "ISO-API-2"
    assert api.post_webhook("generic", event2).status == 200
    cloud.drain(timeout=10)
    [api_order] = api.get("/orders?q=ISO-API-1").json["orders"]
    [api_order2] = api.get("/orders?q=ISO-API-2").json["orders"]
    assert api.call("DELETE", f"/orders/{api_order2['order_id']}").status == 200

    csv = (ROOT / "events/csv/orders_utf8.csv").read_bytes()
    job = request(
        "POST",
        f"{api.base}/orders/import",
        csv,
        {"Authorization": f"Bearer {api.merchant['token']}", "Content-Type": "text/csv"},
    )
    assert job.status == 202, job
    cloud.drain(timeout=20)
    shipped = api.call(
        "POST",
        "/orders",
        {
            "marketplace": "isomart",
            "marketplace_order_no": "ISO-3",
            "items": [{"sku": "ISO-SKU", "quantity": 1, "price": "100", "item_code": "ISO-ITEM"}],
            "recipient": {
                "name": "Iso Buyer",
                "address1": "1-1",
                "city": "Chiyoda-ku",
                "postal_code": "100-0001",
                "country": "JP",
            },
        },
    ).json
    tracking_number = "4444-5555-7777"
    fjob = request(
        "POST",
        f"{api.base}/fulfillment-jobs",
        f"order_id,carrier,tracking_number\n{shipped['order_id']},yamato,{tracking_number}\n".encode(),
        {"Authorization": f"Bearer {api.merchant['token']}", "Content-Type": "text/csv"},
    )
    assert fjob.status == 202, fjob
    cloud.drain(timeout=20)
    assert api.get(f"/orders/{shipped['order_id']}").json["tracking"], "the fulfillment job did not ship"
    return {
        "fulfillment_job_id": fjob.json["job_id"],
        "tracking_number": tracking_number,
        "order_id": manual.json["order_id"],
        "api_order_id": api_order["order_id"],
        "deleted_manual_order_id": deleted_manual["order_id"],
        "deleted_api_order_id": api_order2["order_id"],
        "job_id": job.json["job_id"],
        "adapter": "generic",
        "delivery_id": event["event_id"],
        "packing_no": manual.json["packing_no"],
    }


def fill(path: str, ids: dict) -> str | None:
    """The path with demo's ids in it; None when the route addresses no merchant-owned id."""
    names = PARAM.findall(path)
    if not has_id(path):
        return None
    values = {}
    for name in names:
        if name == "order_id" and path.endswith("/restore"):
            values[name] = ids["deleted_manual_order_id"]
        elif name == "order_id" and path.endswith("/relink"):
            values[name] = ids["deleted_api_order_id"]
        elif name == "job_id" and path.startswith("/fulfillment-jobs/"):
            values[name] = ids["fulfillment_job_id"]
        elif name in ids:
            values[name] = ids[name]
        else:
            pytest.fail(f"{path}: no demo id for path parameter {{{name}}}; add one to demo_ids")
    return PARAM.sub(lambda m: values[m.group(1)], path)


def owned_by(items: dict, merchant: str) -> dict:
    """The items of one merchant: keys under M#<m>#, MERCHANT#<m>, and packing numbers it owns."""
    out = {}
    for key, item in items.items():
        pk = key[0]
        mine = pk.startswith((f"M#{merchant}#", f"MERCHANT#{merchant}#")) or pk == f"MERCHANT#{merchant}"
        if mine or item.get("merchant_id", {}).get("S") == merchant:
            out[key] = item
    return out


def _call(api2, method, path, body):
    if body is None:
        return request(method, api2.base + path, None, {"Authorization": f"Bearer {api2.merchant['token']}"})
    return api2.call(method, path, body)


@pytest.mark.parametrize(
    "method,path",
    [(m, p) for m, p, _ in MERCHANT_ROUTES if has_id(p)],
)
def test_other_merchants_ids_are_404_and_change_nothing(api2, cloud, demo_ids, method, path):
    url = fill(path, demo_ids)
    before = scan_table(cloud)
    resp = _call(api2, method, url, BODIES.get((method, path), {}))
    if set(PARAM.findall(path)) & LOOKUP_PARAMS:
        # a value, not an id: demo2 may look it up, and finds only its own orders (none)
        assert resp.status in (200, 404), f"{method} {url} with demo2's token: {resp}"
        text = resp.raw.decode()
        assert not [v for k, v in demo_ids.items() if k.endswith("order_id") and v in text], text
        if resp.status == 200:
            assert resp.json.get("orders") == [], resp
    else:
        assert resp.status == 404, f"{method} {url} with demo2's token: {resp}"
        assert resp.json["error"]["code"] == "not_found"
    cloud.drain(timeout=10)
    after = scan_table(cloud)
    diff = snapshot_diff(before, after)
    assert diff == {"added": [], "removed": [], "changed": []}, describe(diff, after, before)


def test_the_same_calls_reach_the_owner(api, demo_ids):
    """The ids above are live: the owner reads each of them (so the 404s are about ownership)."""
    for method, path, _ in MERCHANT_ROUTES:
        if method != "GET" or not has_id(path):
            continue
        url = fill(path, demo_ids)
        assert api.get(url).status == 200, url


@pytest.mark.parametrize(
    "method,path",
    [(m, p) for m, p, a in MERCHANT_ROUTES if a != "NONE" and not has_id(p)],
)
def test_routes_without_an_id_serve_only_the_callers_data(api2, cloud, demo_ids, method, path):
    """These routes take the merchant from the token alone (lists, counts, settings, bulk actions,
    registration). Called by demo2 they answer without demo's data, and demo's items stay as they
    were. Bulk actions name demo's ids in the body: each is a 404 result."""
    url = without_ids(path)
    body = {}
    if path in ("/orders/confirm", "/orders/ship-requests"):
        body = {"order_ids": [demo_ids["order_id"], demo_ids["api_order_id"]]}
    before = owned_by(scan_table(cloud), "demo")
    resp = _call(api2, method, url, None if method == "GET" else body)
    assert resp.status < 500, resp
    text = resp.raw.decode("utf-8", errors="replace")
    echoed = set(body.get("order_ids", []))  # the caller's own input comes back in its results
    for name, value in demo_ids.items():
        if name != "adapter" and value not in echoed:
            assert value not in text, f"{method} {url} shows demo's {name}"
    if "order_ids" in body:
        assert [r["status"] for r in resp.json["results"]] == [404, 404]
    cloud.drain(timeout=10)
    after = owned_by(scan_table(cloud), "demo")
    diff = snapshot_diff(before, after)
    assert diff == {"added": [], "removed": [], "changed": []}, describe(diff, after, before)


def test_warehouse_routes_refuse_merchant_tokens(api, demo_ids):
    assert WAREHOUSE_ROUTES
    for method, path, _ in WAREHOUSE_ROUTES:
        url = PARAM.sub(lambda m: demo_ids.get(m.group(1), "x"), path)
        for token in (api.merchant["token"], "", "not-a-jwt"):
            resp = api.call(method, url, {"stage": "picking"} if method == "POST" else None, token=token)
            assert resp.status in (401, 403), (method, url, resp)


def test_merchant_routes_refuse_the_warehouse_token_and_no_token(api, demo_ids):
    for method, path, auth in MERCHANT_ROUTES:
        if auth == "NONE":
            continue
        url = without_ids(path)
        if PARAM.search(url):
            url = fill(path, demo_ids)
        for token in (api.config["warehouse_token"], "", "not-a-jwt"):
            resp = api.call(method, url, {} if method != "GET" else None, token=token)
            assert resp.status in (401, 403), (method, url, token[:10], resp)


@pytest.mark.parametrize("adapter", ["shopify", "generic", "wish"])
def test_webhook_for_demo_signed_with_demo2s_secret_is_401(api, api2, cloud, adapter):
    payload = {
        "shopify": lambda: json.loads((ROOT / "events/shopify/orders_create.json").read_text()),
        "generic": lambda: json.loads((ROOT / "events/generic/order_created.json").read_text()),
        "wish": lambda: json.loads((ROOT / "events/wish/order_created.json").read_text()),
    }[adapter]()
    before = scan_table(cloud)
    resp = api.post_webhook(
        adapter,
        payload,
        topic="orders/create" if adapter == "shopify" else None,
        secret=api2.merchant["webhook_secrets"][adapter],
    )
    assert resp.status == 401 and resp.json["error"]["code"] == "invalid_signature", resp
    cloud.drain(timeout=10)
    assert scan_table(cloud) == before


def test_concurrent_requests_keep_their_own_merchant(api, api2, demo_ids, monkeypatch):
    """demo2 asks for demo's order while demo's own request is being served: demo2 must get 404.
    The timing is forced: demo2's request reads its merchant only once demo's request is routed."""
    from orderhub.api import request
    from orderhub.api.common import claims

    real = request.merchant_id
    demo_routed = threading.Event()

    def merchant_id_in_step():
        mine = claims(request.current_event()).get("merchant_id")
        if mine == "demo":
            demo_routed.set()
            time.sleep(0.5)  # demo's request stays in flight while demo2's goes on
        else:
            demo_routed.wait(5)
        return real()

    monkeypatch.setattr(request, "merchant_id", merchant_id_in_step)
    answers = {}

    def demo2_reads_demos_order():
        answers["demo2"] = api2.get(f"/orders/{demo_ids['order_id']}")

    t = threading.Thread(target=demo2_reads_demos_order)
    t.start()
    time.sleep(0.1)
    answers["demo"] = api.get("/orders/counts")
    t.join(10)
    assert answers["demo"].status == 200
    assert answers["demo2"].status == 404, answers["demo2"]


# ---------------------------------------------------------------- merchant claims and key separators
# A merchant id goes into every key (store/keys.py); a claim the operators' rule refuses (a `#`,
# another separator, capitals, a trailing newline: kernel/ids.py) is refused at the edge (401),
# and no value in a key segment can name another merchant's partition (docs/data-model.md).
SEPARATED_NO = "SEP#1001"


@pytest.fixture(scope="module")
def separated_order(api):
    """demo's order whose marketplace order number holds a `#`: with the claim `demo#SEP`, a
    search for `1001` named its partition (`demo#SEP#1001`)."""
    made = api.call(
        "POST",
        "/orders",
        {
            "marketplace": "isomart",
            "marketplace_order_no": SEPARATED_NO,
            "items": [{"sku": "SEP-SKU", "quantity": 1, "price": "100"}],
            "recipient": {
                "name": "Sep Buyer",
                "address1": "1-1",
                "city": "Chiyoda-ku",
                "postal_code": "100-0001",
                "country": "JP",
            },
        },
    )
    assert made.status == 201, made
    return made.json


def user_pool_token(cloud, authorizer: str = "MerchantAuthorizer", **claims) -> str:
    """A token the identity provider signed, shaped as the user pool's ID tokens, with `claims`."""
    auth = cloud.authorizers[authorizer]
    base = {
        "iss": auth.issuer,
        "aud": auth.audiences[0],
        "exp": int(time.time()) + 600,
        "token_use": "id",
        "sub": str(uuid.uuid4()),
    }
    return cloud.issue_token({**base, **claims})


def q(term: str) -> str:
    return "/orders?q=" + urllib.parse.quote(term, safe="")


BAD_CLAIMS = [
    {"custom:merchant_id": "demo#SEP"},
    {"merchant_id": "demo#SEP"},
    {"custom:merchant_id": "demo#"},
    {"custom:merchant_id": "demo%23SEP"},
    {"custom:merchant_id": "demo/SEP"},
    {"custom:merchant_id": "Demo"},
    {"custom:merchant_id": "demo\n"},
    {"custom:merchant_id": "demo2", "merchant_id": "demo"},
]


@pytest.mark.parametrize("claims", BAD_CLAIMS, ids=lambda c: repr(c)[1:-1])
def test_a_merchant_claim_off_the_rule_is_refused_and_reads_nothing(
    api, cloud, separated_order, demo_ids, claims
):
    token = user_pool_token(cloud, **claims)
    own = separated_order["order_id"]
    before = scan_table(cloud)
    calls = [
        ("GET", q("1001")),
        ("GET", q(SEPARATED_NO)),
        ("GET", "/orders"),
        ("GET", "/orders/counts"),
        ("GET", f"/orders/{own}"),
        ("GET", f"/orders/{demo_ids['order_id']}"),
        ("POST", f"/orders/{own}/hold"),
    ]
    for method, path in calls:
        resp = api.call(method, path, {"reason": "claim check"} if method == "POST" else None, token=token)
        assert resp.status in (401, 403), (claims, method, path, resp)
        assert resp.json and resp.json["error"]["field"] == "Authorization", resp
        assert own not in resp.raw.decode() and demo_ids["order_id"] not in resp.raw.decode()
    cloud.drain(timeout=10)
    after = scan_table(cloud)
    diff = snapshot_diff(before, after)
    assert diff == {"added": [], "removed": [], "changed": []}, describe(diff, after, before)


def test_a_search_term_with_separators_finds_only_the_callers_own_order(api, api2, cloud, separated_order):
    """`?q=` reads one partition, exactly: the order number `SEP#1001` is demo's and only demo's,
    whichever way a caller splits `demo#SEP#1001` between its claim and its term."""
    own = separated_order["order_id"]
    assert [o["order_id"] for o in api.get(q(SEPARATED_NO)).json["orders"]] == [own]
    for term in ("SEP", "1001", "SEP#", "#1001", "SEP%231001", "demo#SEP#1001", "SEP#1001#", "%"):
        assert api.get(q(term)).json["orders"] == [], term
    for term in (SEPARATED_NO, "demo#SEP#1001", "1001", "#SEP#1001"):
        assert api2.get(q(term)).json["orders"] == [], term
    for claim, term in (("demo#SEP", "1001"), ("demo", SEPARATED_NO), ("demo#SEP#1001", "")):
        token = user_pool_token(cloud, **{"custom:merchant_id": claim})
        resp = api.get(q(term) if term else "/orders", token=token)
        if claim == "demo":
            assert [o["order_id"] for o in resp.json["orders"]] == [own]
        else:
            assert resp.status == 401 and own not in resp.raw.decode(), (claim, term, resp)


def test_a_warehouse_token_that_names_a_merchant_is_refused(api, cloud):
    """The warehouse works across merchants: a user of a merchant is never it, whatever its role."""
    plain = user_pool_token(cloud, "WarehouseAuthorizer", **{"custom:role": "warehouse"})
    assert api.call("GET", "/warehouse/shipments", token=plain).status == 200
    for claim in ("custom:merchant_id", "merchant_id"):
        for value in ("demo", "demo#SEP"):
            token = user_pool_token(
                cloud, "WarehouseAuthorizer", **{"custom:role": "warehouse", claim: value}
            )
            resp = api.call("GET", "/warehouse/shipments", token=token)
            assert resp.status == 403 and resp.json["error"]["field"] == "Authorization", (claim, value, resp)
