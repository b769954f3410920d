"""What a webhook credential may do (docs/reliability.md, threat model): each secret speaks only
for its marketplaces, the signed body (never an unsigned topic header) decides what a delivery
does, and the route does not tell which merchants exist. Every refusal here changes no order:
the whole table is compared before and after."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from scripts.send_webhook import build_request
from tests.support.http import load_event, request
from tests.support.tables import describe, scan_table, snapshot_diff

pytestmark = [pytest.mark.e2e]


def _hours_ahead(hours: int) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number() -> int:
    return 700000 + uuid.uuid4().int % 99999


def shopify_order(**overrides) -> dict:
    order = copy.deepcopy(load_event("shopify/orders_create.json"))
    n = _number()
    order.update({"id": 820982911946000000 + n, "order_number": n, "name": f"#{n}"})
    order.update(overrides)
    return order


def generic_event(marketplace: str, order_no: str, type_: str = "order.created", **order) -> dict:
    event = copy.deepcopy(load_event("generic/order_created.json"))
    event.update(event_id=f"evt-{uuid.uuid4()}", type=type_, marketplace=marketplace)
    event["order"].update(order_no=order_no, **order)
    return event


def only_quarantine_added(before: dict, after: dict, merchant: str = "demo") -> None:
    diff = snapshot_diff(before, after)
    assert diff["removed"] == diff["changed"] == [], describe(diff, after, before)
    assert all(pk == f"M#{merchant}#QUARANTINE" for pk, _ in diff["added"]), describe(diff, after, before)


def order_of(api, marketplace: str, number: str) -> dict:
    found = [o for o in api.get(f"/orders?q={number}").json["orders"] if o["marketplace"] == marketplace]
    assert len(found) == 1, found
    return api.get(f"/orders/{found[0]['order_id']}").json


# ------------------------------------------------ each secret speaks only for its marketplaces
@pytest.fixture(scope="module")
def shopify_victim(api, cloud):
    """A real Shopify order of demo, made through Shopify's own channel."""
    body = shopify_order()
    assert api.post_webhook("shopify", body, topic="orders/create").status == 200
    cloud.drain(timeout=10)
    return body, order_of(api, "shopify", str(body["order_number"]))


@pytest.mark.parametrize(
    "attack",
    ["re-address", "cancel", "plant", "freeze"],
)
def test_the_generic_secret_cannot_act_on_shopify_or_wish_orders(api, cloud, shopify_victim, attack):
    body, order = shopify_victim
    number = str(body["order_number"])
    recipient = dict(
        load_event("generic/order_created.json")["order"]["recipient"], address1="Attacker's drop 1-1"
    )
    events = {
        "re-address": generic_event("shopify", number, "order.updated", recipient=recipient),
        "cancel": generic_event("shopify", number, "order.cancelled"),
        "plant": generic_event("shopify", str(_number())),
        # 12 hours ahead: further than a day ahead is refused by the date rule itself (400)
        "freeze": generic_event("shopify", number, "order.updated", updated_at=_hours_ahead(12)),
    }
    before = scan_table(cloud)
    for marketplace in ("shopify", "wish"):
        event = dict(events[attack], marketplace=marketplace, event_id=f"evt-{uuid.uuid4()}")
        resp = api.post_webhook("generic", event)
        assert resp.status == 403, resp
        assert resp.json["error"]["field"] == "marketplace" and resp.json["error"]["rule"] == "secret_scope"
        assert resp.json["error"]["quarantine_id"]
    cloud.drain(timeout=10)
    only_quarantine_added(before, scan_table(cloud))
    assert order_of(api, "shopify", number) == order


def test_a_generic_secret_speaks_only_for_the_marketplaces_declared_when_it_was_issued(api, cloud):
    """Rotated with `marketplaces`, the new generic secret speaks for those; the old one keeps
    what it was issued for through the overlap; a Shopify marketplace is never declarable."""
    refused = api.call("POST", "/webhook-secrets/generic", {"marketplaces": ["rakuten", "shopify"]})
    assert refused.status == 400 and refused.json["error"]["field"] == "marketplaces"
    assert refused.json["error"]["rule"] == "own_channel"
    old = api.merchant["webhook_secrets"]["generic"]
    rotated = api.call("POST", "/webhook-secrets/generic", {"marketplaces": ["qoo10"], "overlap_hours": 1})
    assert rotated.status == 200 and rotated.json["marketplaces"] == ["qoo10"]
    new = rotated.json["secret"]
    try:
        before = scan_table(cloud)
        resp = api.post_webhook("generic", generic_event("rakuten", f"R-{_number()}"), secret=new)
        assert resp.status == 403 and resp.json["error"]["field"] == "marketplace", resp
        cloud.drain(timeout=10)
        only_quarantine_added(before, scan_table(cloud))
        assert api.post_webhook("generic", generic_event("qoo10", f"Q-{_number()}"), secret=new).status == 200
        # the old secret, issued for every marketplace without its own channel (the demo seed)
        assert (
            api.post_webhook("generic", generic_event("rakuten", f"R-{_number()}"), secret=old).status == 200
        )
    finally:  # the rest of the module signs with the seeded secret
        back = api.call(
            "POST", "/webhook-secrets/generic", {"secret": old, "marketplaces": ["*"], "overlap_hours": 0}
        )
        assert back.status == 200, back


# ------------------------------------------------------- the signed body decides, not the topic
def _replay(api, adapter: str, raw: bytes, topic: str):
    """The same signed body again, with a fresh delivery id and another (unsigned) topic."""
    secret = api.merchant["webhook_secrets"][adapter]
    headers = build_request(adapter, raw, secret, topic, str(uuid.uuid4()), datetime.now(UTC))
    return request("POST", f"{api.base}/webhooks/{adapter}/demo", raw, headers), headers


def _delivery_reason(api, adapter: str, headers: dict) -> str:
    delivery_id = headers.get("X-Shopify-Webhook-Id") or headers.get("X-Wish-Event-Id")
    return api.get(f"/webhook-deliveries/{adapter}/{delivery_id}").json["reason"]


@pytest.mark.parametrize("topic", ["orders/paid", "orders/cancelled"])
def test_a_replayed_shopify_body_with_another_topic_changes_nothing(api, cloud, topic):
    bank = load_event("shopify/orders_create_bank.json")
    body = shopify_order(**{k: v for k, v in bank.items() if k not in ("id", "order_number", "name")})
    raw = json.dumps(body).encode()
    assert body["financial_status"] == "pending" and body["cancelled_at"] is None
    first, _ = _replay(api, "shopify", raw, "orders/create")
    assert first.status == 200
    cloud.drain(timeout=10)
    order = order_of(api, "shopify", str(body["order_number"]))
    assert order["status"] == "pending"  # a bank transfer waits for its payment

    before = scan_table(cloud)
    resp, headers = _replay(api, "shopify", raw, topic)
    assert resp.status == 200, resp  # accepted: signed and well-formed
    cloud.drain(timeout=10)
    after = order_of(api, "shopify", str(body["order_number"]))
    assert {k: after[k] for k in ("status", "version", "cancelled_at", "payment")} == {
        k: order[k] for k in ("status", "version", "cancelled_at", "payment")
    }
    assert after["history"][-1]["action"] == "ignored"
    assert after["history"][-1]["reason"] == "topic_disagrees_with_body"
    assert _delivery_reason(api, "shopify", headers) == "topic_disagrees_with_body"
    diff = snapshot_diff(before, scan_table(cloud))
    assert diff["changed"] == [] and diff["removed"] == [], diff  # only the records of the refusal


def test_a_tracking_cancelled_wish_topic_does_not_send_a_shipped_order_back(api, cloud):
    body = copy.deepcopy(load_event("wish/order_created.json"))
    body["id"] = uuid.uuid4().hex[:24]
    raw = json.dumps(body).encode()
    first, _ = _replay(api, "wish", raw, "order.created")
    assert first.status == 200
    cloud.drain(timeout=10)
    order = order_of(api, "wish", body["id"])
    oid = order["order_id"]
    shipped = api.call(
        "POST", f"/orders/{oid}/fulfill", {"carrier": "japan_post", "tracking_number": "EJ123456789JP"}
    )
    assert shipped.status == 200 and shipped.json["status"] == "shipped", shipped
    order = api.get(f"/orders/{oid}").json

    for topic in ("order.tracking_cancelled", "order.rereleased", "ORDER_REFUND"):
        resp, headers = _replay(api, "wish", raw, topic)
        assert resp.status == 200, resp
        cloud.drain(timeout=10)
        after = api.get(f"/orders/{oid}").json
        assert (after["status"], after["tracking"], after["version"]) == (
            "shipped",
            order["tracking"],
            order["version"],
        )
        assert _delivery_reason(api, "wish", headers) == "topic_disagrees_with_body"


# ------------------------------------------------------------ merchant ids are not enumerable
@pytest.mark.parametrize("adapter", ["shopify", "generic", "wish"])
def test_an_unknown_merchant_is_answered_as_a_wrong_signature(api, cloud, adapter):
    raw = json.dumps(shopify_order() if adapter == "shopify" else generic_event("rakuten", "ENUM-1")).encode()
    answers = []
    for merchant in ("demo", f"nobody-{uuid.uuid4().hex[:8]}", "DEMO", "demo%23demo2", "demo%0A"):
        topic = "orders/create" if adapter == "shopify" else None
        headers = build_request(
            adapter, raw, "not-the-secret-000000", topic, str(uuid.uuid4()), datetime.now(UTC)
        )
        resp = request("POST", f"{api.base}/webhooks/{adapter}/{merchant}", raw, headers)
        answers.append((resp.status, resp.json))
    assert all(answer == answers[0] for answer in answers) and answers[0][0] == 401, answers


def test_made_up_merchant_ids_do_not_grow_the_profile_cache(api, cloud, monkeypatch):
    """The receiver remembers at most PROFILE_CACHE_ENTRIES merchants per container, however many
    made-up ids are tried (the functions run in this process, so their cache is visible here)."""
    from orderhub.merchants import profiles

    monkeypatch.setattr(profiles, "PROFILE_CACHE_ENTRIES", 20)
    raw = json.dumps(shopify_order()).encode()
    for _ in range(30):
        headers = build_request(
            "shopify", raw, "x" * 20, "orders/create", str(uuid.uuid4()), datetime.now(UTC)
        )
        resp = request("POST", f"{api.base}/webhooks/shopify/nobody-{uuid.uuid4().hex[:10]}", raw, headers)
        assert resp.status == 401
    assert len(profiles._cache) <= 20
    # a known merchant still verifies
    assert api.post_webhook("shopify", shopify_order(), topic="orders/create").status == 200
