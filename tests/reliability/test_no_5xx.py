"""No 5xx is reachable with input a client controls (docs/reliability.md): Hypothesis sends
generated query strings, path segments and JSON bodies to every merchant and warehouse route of
the template, and signed generated bodies to the webhook route, over HTTP on the local cloud.

Each answer must be below 500 and JSON. A refusal (4xx) must change nothing: the whole table is
the same before and after, except the one quarantine item a refused signed webhook keeps
(docs/webhooks.md). `test_bad_input.py` checks the hand-written catalog field by field; this
module looks for what the catalog did not think of. `ORDERHUB_HYPOTHESIS=full` runs 10x the
examples."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts import openapi
from scripts.send_webhook import build_request
from tests.support.http import load_event, request
from tests.support.tables import describe, scan_table, snapshot_diff

pytestmark = [pytest.mark.e2e, pytest.mark.slowest(40)]

FULL = os.environ.get("ORDERHUB_HYPOTHESIS") == "full"
EXAMPLES = 600 if FULL else 60

# Names the routes read (and some they don't), so generated queries reach the checks.
QUERY_NAMES = (
    "from", "to", "cursor", "page_size", "status", "q", "marketplace", "preset", "mapping",
    "date_basis", "country", "tag", "include_deleted", "kind", "outcome", "offset", "sku", "stage",
    "carrier", "limit", "sort",
)  # fmt: skip
BODY_KEYS = (
    "order_ids", "ids", "filter", "carrier", "tracking_number", "reason", "version", "items",
    "recipient", "placed_at", "paid_at", "marketplace", "marketplace_order_no", "payment_method",
    "currency", "sku", "quantity", "price", "api_base_url", "api_token", "hold_minutes",
    "fulfillment_days", "auto_confirm", "overlap_hours", "secret", "marketplaces", "stage",
    "answer", "mappings", "item_code", "note", "origin_country", "from", "to", "status",
)  # fmt: skip
EDGE_TEXT = (
    "", "0", "-1", "1e309", "NaN", "²", "٣", "9999-12-31", "0001-01-01", "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+09:00", "2026-02-30", "a#b", "M#demo2#ORDER", "%00", "\x00", "../..",
    "ｓｈｏｐ", "x" * 3000, "https://169.254.169.254/", "http://127.0.0.1:9001/", "*", "null",
)  # fmt: skip

text_values = st.one_of(st.sampled_from(EDGE_TEXT), st.text(max_size=30))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text_values,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(BODY_KEYS), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(BODY_KEYS), json_values, max_size=6),
    json_values,
    st.builds(lambda depth: "[" * depth + "]" * depth, st.integers(1, 5000)),  # raw, possibly deep
    st.binary(max_size=64),
)
queries = st.dictionaries(
    st.one_of(st.sampled_from(QUERY_NAMES), st.text(max_size=6)), text_values, max_size=4
)

HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not FULL,  # the same examples on every run of make test
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def _routes(function_id: str) -> list[tuple[str, str]]:
    return sorted(
        (m, p)
        for f, m, p, _ in openapi.served_routes()
        if f == function_id and m in ("GET", "POST", "PUT", "DELETE", "PATCH")
    )


MERCHANT_ROUTES = _routes("MerchantApiFunction")
WAREHOUSE_ROUTES = _routes("WarehouseApiFunction")


@pytest.fixture(scope="module")
def ids(api, cloud):
    """Real ids of demo, so generated requests also reach the code behind the lookups."""
    body = {
        "marketplace": "fuzzmart",
        "marketplace_order_no": "FUZZ-1",
        "items": [{"sku": "FUZZ-SKU", "quantity": 1, "price": "100"}],
        "recipient": {"name": "Fuzz", "address1": "1-1", "city": "Chiyoda-ku", "postal_code": "100-0001",
                      "country": "JP"},
    }  # fmt: skip
    resp = api.call("POST", "/orders", body)
    assert resp.status == 201, resp
    cloud.drain(timeout=10)
    return {"order_id": resp.json["order_id"], "packing_no": resp.json.get("packing_no", "P-1")}


def _path(template: str, segments: dict[str, str]) -> str:
    out = template
    for name, value in segments.items():
        out = out.replace("{" + name + "}", quote(value, safe=""))
    return out


def _encode(body) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str) and body.startswith("["):
        return body.encode()
    return json.dumps(body, ensure_ascii=False).encode()


def _check(cloud, before, resp, *, quarantine_ok: bool = False) -> None:
    assert resp.status < 500, resp
    if resp.status < 400:  # accepted: let what it started (a job, a stream event) finish first
        cloud.drain(timeout=10)
    else:
        assert resp.json is not None, resp
        diff = snapshot_diff(before, scan_table(cloud))
        allowed = []
        if quarantine_ok and (resp.json.get("error") or {}).get("quarantine_id"):
            allowed = [k for k in diff["added"] if k[0] == "M#demo#QUARANTINE"]
        assert diff["removed"] == diff["changed"] == [] and diff["added"] == allowed, describe(
            diff, scan_table(cloud), before
        )


def _segments(data, real: dict[str, str], names: list[str]) -> dict[str, str]:
    return {
        n: data.draw(st.one_of(st.just(real.get(n, "x")), text_values.filter(bool)), label=n) for n in names
    }


def _call_route(api, cloud, ids, data, routes, token: str) -> None:
    method, template = data.draw(st.sampled_from(routes), label="route")
    names = [p.strip("{}") for p in template.split("/") if p.startswith("{")]
    path = _path(template, _segments(data, ids, names))
    qs = data.draw(queries, label="query")
    body = data.draw(bodies, label="body") if method != "GET" else None
    headers = {"Authorization": f"Bearer {token}"}
    raw = _encode(body)
    if raw is not None:
        headers["Content-Type"] = "application/json"
    before = scan_table(cloud)
    resp = request(method, api.base + path + ("?" + urlencode(qs) if qs else ""), raw, headers)
    _check(cloud, before, resp)


@HYPOTHESIS
@given(data=st.data())
def test_merchant_routes_answer_below_500_and_refusals_change_nothing(api, cloud, ids, data):
    _call_route(api, cloud, ids, data, MERCHANT_ROUTES, api.merchant["token"])


@HYPOTHESIS
@given(data=st.data())
def test_warehouse_routes_answer_below_500_and_refusals_change_nothing(api, cloud, ids, data):
    _call_route(api, cloud, ids, data, WAREHOUSE_ROUTES, cloud.config["warehouse_token"])


def _holder(event: dict, target: str) -> dict:
    """The object a mutation writes into, as the event is now: an earlier mutation may have put
    something else than an object where the order, its payment, item or recipient was, and then
    the mutation goes to the nearest object above it."""
    order = event.get("order")
    if target == "event" or not isinstance(order, dict):
        return event
    if target == "order":
        return order
    items = order.get("items")
    inner = {
        "payment": order.get("payment"),
        "item": items[0] if isinstance(items, list) and items else None,
        "recipient": order.get("recipient"),
    }[target]
    return inner if isinstance(inner, dict) else order


def _generic_event(data) -> dict:
    """The sample generic event with generated values put into some of its fields."""
    event = load_event("generic/order_created.json")
    event["event_id"] = f"fuzz-{uuid.uuid4()}"
    event["marketplace"] = "fuzzmart"
    event["order"]["order_no"] = f"FUZZ-WH-{uuid.uuid4().hex[:8]}"
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        target = data.draw(st.sampled_from(["event", "order", "payment", "item", "recipient"]), label="where")
        holder = _holder(event, target)
        names = st.text(max_size=6)
        key = data.draw(st.one_of(st.sampled_from(sorted(holder)), names) if holder else names, label="key")
        holder[key] = data.draw(json_values, label="value")
    return event


@HYPOTHESIS
@given(data=st.data())
def test_signed_webhooks_answer_below_500_and_a_refusal_keeps_only_its_quarantine(api, cloud, data):
    adapter = data.draw(st.sampled_from(["generic", "shopify", "wish"]), label="adapter")
    if adapter == "generic" and data.draw(st.booleans(), label="structured"):
        raw = json.dumps(_generic_event(data), ensure_ascii=False).encode()
    else:
        raw = _encode(data.draw(bodies, label="body")) or b""
    header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
    topic = data.draw(
        st.one_of(
            st.none(), st.sampled_from(["orders/create", "orders/paid", "order.cancelled"]), header_text
        ),
        label="topic",
    )
    if adapter == "shopify" and not topic:  # the signer needs one; a bad topic is drawn too
        topic = "orders/create"
    headers = build_request(
        adapter, raw, api.merchant["webhook_secrets"][adapter], topic, str(uuid.uuid4()), datetime.now(UTC)
    )
    before = scan_table(cloud)
    resp = request("POST", f"{api.base}/webhooks/{adapter}/demo", raw, headers)
    _check(cloud, before, resp, quarantine_ok=True)
    if resp.status == 200:  # accepted: it must end applied, ignored or dead-lettered, never lost
        cloud.drain(timeout=10)
        # one delivery, or a Wish batch: each of its orders queued as a delivery or quarantined alone
        entries = resp.json.get("orders", [{**resp.json, "status": "queued"}])
        quarantine = api.get("/quarantine?page_size=200").json["quarantine"]
        for entry in entries:
            if entry["status"] == "quarantined":
                assert entry["error"]["quarantine_id"] in {q["quarantine_id"] for q in quarantine}, entry
                continue
            delivery = api.get(f"/webhook-deliveries/{adapter}/{quote(entry['delivery_id'], safe='')}")
            assert delivery.status == 200, delivery


def test_a_wish_batch_of_one_malformed_order_is_200_with_that_order_quarantined_alone(api, cloud):
    # found by the property above: a signed Wish batch answers 200 with what became of each order
    raw = b"[null]"
    headers = build_request(
        "wish", raw, api.merchant["webhook_secrets"]["wish"], None, str(uuid.uuid4()), datetime.now(UTC)
    )
    before = scan_table(cloud)
    resp = request("POST", f"{api.base}/webhooks/wish/demo", raw, headers)
    assert resp.status == 200 and (resp.json["queued"], resp.json["quarantined"]) == (0, 1), resp
    [entry] = resp.json["orders"]
    quarantine = api.get("/quarantine?page_size=200").json["quarantine"]
    assert entry["error"]["quarantine_id"] in {q["quarantine_id"] for q in quarantine}
    diff = snapshot_diff(before, scan_table(cloud))
    assert diff["removed"] == diff["changed"] == [] and all(
        k[0] == "M#demo#QUARANTINE" for k in diff["added"]
    )


SWEEP_NAMES = ("from", "to", "cursor", "offset", "page_size", "q")
SWEEP_SEGMENTS = {
    "job_id": "job_x",
    "marketplace": "fuzzmart",
    "adapter": "generic",
    "delivery_id": "d-1",
    "tracking_number": "T-1",
}
SWEEP_VALUES = ("9999-12-31", "0001-01-01", "0001-01-01T00:00:00+09:00", "²", "a#b", "x" * 3000, "-1")


def test_every_get_route_answers_edge_query_values_below_500_and_changes_nothing(api, cloud, ids):
    """Every merchant GET route, each edge value in each commonly read parameter (a sweep, not a
    sample: the dates and cursors that once answered 500)."""
    headers = {"Authorization": f"Bearer {api.merchant['token']}"}
    before = scan_table(cloud)
    failures = []
    for method, template in MERCHANT_ROUTES:
        if method != "GET":
            continue
        path = _path(template, SWEEP_SEGMENTS | ids)
        for name in SWEEP_NAMES:
            for value in SWEEP_VALUES:
                resp = request("GET", f"{api.base}{path}?{urlencode({name: value})}", None, headers)
                if resp.status >= 500 or resp.json is None and resp.status >= 400:
                    failures.append((template, name, value[:20], resp.status))
    assert failures == []
    assert snapshot_diff(before, scan_table(cloud)) == {"added": [], "removed": [], "changed": []}
