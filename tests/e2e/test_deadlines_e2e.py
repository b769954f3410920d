"""Fulfillment deadlines on the local cloud (docs/fulfillment.md, docs/digest.md): the daily
digest a merchant receives, and the hourly deadline check, both fired as schedules: an overdue
order is shown, listed and counted as overdue, and refunded only where auto_refund_overdue is on."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from orderhub.kernel import clock
from tests.support.cloud_fixtures import post_shopify_order

pytestmark = pytest.mark.e2e
_numbers = itertools.count(8101)


def released_order(api, cloud) -> dict:
    """A paid card order placed two hours ago: its payment hold is over, so it arrives released
    (status new) with a fulfillment deadline."""
    order, _ = post_shopify_order(api, cloud, next(_numbers), 120, financial_status="paid")
    assert order["status"] == "new" and order["deadline_at"], order
    return order


def digests_for(cloud, merchant_id: str) -> list[dict]:
    return [
        n
        for n in cloud.notifications("DigestTopic")
        if n["message_attributes"].get("merchant_id") == merchant_id
    ]


def test_daily_digest_notifies_the_merchant_once(api, cloud, capsys):
    order = released_order(api, cloud)

    result = cloud.fire("DailyDigestFunction")
    assert result["sent"] >= 1 and result["errors"] == 0
    cloud.drain(timeout=10)

    [note] = digests_for(cloud, "demo")
    assert digests_for(cloud, "demo2") == []  # no orders, no digest
    digest = json.loads(note["message"])
    assert digest["merchant_id"] == "demo" and digest["unfulfilled"] >= 1
    assert order["order_id"] in [o["order_id"] for o in digest["due_soon"]]
    assert note["subject"].startswith(f"orderhub {digest['date']}: 未出荷 {digest['unfulfilled']}件")
    assert f"[notification] DigestTopic {note['subject']}" in capsys.readouterr().out

    # fired again the same day: the merchant is not told twice
    assert cloud.fire("DailyDigestFunction")["sent"] == 0
    cloud.drain(timeout=10)
    assert len(digests_for(cloud, "demo")) == 1


def test_a_merchant_sets_its_digest_address_and_language_and_the_counts_say_what_is_due(api, api2, cloud):
    assert api.get("/notifications").json == {"email": None, "language": "ja", "subscription": "none"}
    bad = api.call("PUT", "/notifications", {"email": "shop at example"})
    assert bad.status == 400 and bad.json["error"]["field"] == "email"
    resp = api.call("PUT", "/notifications", {"email": "shop@example.jp", "language": "en"})
    assert resp.status == 200, resp  # the merchant function may subscribe (its IAM policy)
    assert resp.json["subscription"] in ("pending_confirmation", "confirmed")
    moved = api.call("PUT", "/notifications", {"email": "orders@example.jp"})  # unsubscribes the old one
    assert moved.status == 200 and moved.json == {**resp.json, "email": "orders@example.jp"}
    subs = cloud.client("sns").list_subscriptions()["Subscriptions"]
    assert [s["Endpoint"] for s in subs if s["Protocol"] == "email"] == ["orders@example.jp"]
    assert api2.get("/notifications").json["email"] is None  # demo2 sees its own settings

    order = released_order(api, cloud)
    counts = api.get("/orders/counts").json  # the badge's figures (the digest's rule)
    assert counts["unfulfilled"] >= 1 and counts["urgency_complete"] is True
    assert counts["due_within_24h"] + counts["past_deadline"] <= counts["unfulfilled"]
    assert order["deadline_at"]
    assert api.call("PUT", "/notifications", {"email": None, "language": "ja"}).json["subscription"] == "none"


def check_a_week_later(cloud) -> dict:
    """Fire the hourly deadline check as if a week had passed (the handlers run in this process,
    so they read the frozen clock)."""
    clock.freeze(datetime.now(UTC) + timedelta(days=7))
    try:
        result = cloud.fire("DeadlineCheckFunction")
    finally:
        clock.freeze(None)
    cloud.drain(timeout=10)
    return result


def test_an_overdue_shopify_order_is_shown_listed_and_counted_not_refunded(api, cloud):
    """Shopify does not refund by itself, so by default nothing is cancelled: the merchant sees
    the order as overdue in the order, the overdue preset and the counts (docs/fulfillment.md)."""
    assert api.get("/integrations/shopify").json["auto_refund_overdue"] is False
    assert api.get("/integrations/wish").json["auto_refund_overdue"] is True
    order = released_order(api, cloud)
    oid = order["order_id"]
    assert order["overdue"] is False and order["days_remaining"] == 5
    before = api.get("/orders/counts").json["overdue"]

    result = check_a_week_later(cloud)
    assert result["overdue"] >= 1 and result["errors"] == 0

    shown = api.get(f"/orders/{oid}").json
    assert (shown["status"], shown["cancel_reason"], shown["overdue"]) == ("new", None, True)
    assert shown["history"][-1]["action"] == "deadline_overdue"
    listed = api.get("/orders?preset=overdue")
    assert listed.status == 200 and oid in [o["order_id"] for o in listed.json["orders"]]
    assert all(o["overdue"] is True for o in listed.json["orders"])
    assert api.get("/orders/counts").json["overdue"] == before + result["overdue"]
    assert oid not in [v["order_id"] for v in api.get("/violations").json["violations"]]
    assert api.call("PUT", "/integrations/shopify", {"fulfillment_days": 0}).status == 400
    assert api.call("PUT", "/integrations/wish", {"fulfillment_days": 6}).status == 400


def test_deadline_check_refunds_an_overdue_order_where_auto_refund_is_on(api, cloud):
    assert api.call("PUT", "/integrations/shopify", {"auto_refund_overdue": True}).status == 200
    try:
        order = released_order(api, cloud)
        oid = order["order_id"]
        assert oid not in [v["order_id"] for v in api.get("/violations").json["violations"]]
        result = check_a_week_later(cloud)
    finally:
        assert api.call("PUT", "/integrations/shopify", {"auto_refund_overdue": False}).status == 200
    assert result["refunded"] >= 1 and result["errors"] == 0

    refunded = api.get(f"/orders/{oid}").json
    assert (refunded["status"], refunded["cancel_reason"]) == ("cancelled", "deadline_refunded")
    violations = api.get("/violations")
    assert violations.status == 200
    [violation] = [v for v in violations.json["violations"] if v["order_id"] == oid]
    assert violation["marketplace"] == "shopify"
    assert violation["marketplace_order_no"] == order["marketplace_order_no"]
    assert violation["deadline_at"] == order["deadline_at"]


def test_wish_releasing_a_shipped_order_again_rereleases_it_with_a_new_deadline(api, cloud):
    """seed 004: WishPost cancels the tracking and Wish releases the order again. Wish's own signal
    is the order sent again as APPROVED with a later released_at; orderhub takes the order back
    to unfulfilled with a new release and deadline, and keeps the old tracking in history."""
    import copy
    import uuid

    from tests.support.http import load_event

    body = copy.deepcopy(load_event("wish/order_created.json"))
    body["id"] = uuid.uuid4().hex[:24]
    now = datetime.now(UTC)
    body["released_at"] = body["updated_at"] = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert api.post_webhook("wish", body).status == 200
    cloud.drain(timeout=10)
    [found] = api.get(f"/orders?q={body['id']}").json["orders"]
    oid = found["order_id"]
    shipped = api.call(
        "POST", f"/orders/{oid}/fulfill", {"carrier": "japan_post", "tracking_number": "EJ123456789JP"}
    )
    assert shipped.status == 200 and shipped.json["status"] == "shipped", shipped
    before = api.get(f"/orders/{oid}").json

    # the same APPROVED state, released at the same time: nothing to re-release
    body["updated_at"] = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert api.post_webhook("wish", body).status == 200
    cloud.drain(timeout=10)
    assert api.get(f"/orders/{oid}").json["status"] == "shipped"

    # released again by Wish after the carrier cancelled the tracking
    body["released_at"] = body["updated_at"] = (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert api.post_webhook("wish", body).status == 200
    cloud.drain(timeout=10)
    after = api.get(f"/orders/{oid}").json
    assert after["status"] == "processing" and after["tracking"] is None, after
    assert after["previous_tracking"][-1]["tracking_number"] == "EJ123456789JP"
    assert after["deadline_at"] > before["deadline_at"] and after["released_at"] > before["released_at"]
    assert after["history"][-1]["action"] == "rereleased"
