"""An order's whole life on the local cloud, by merchant, schedule and warehouse over HTTP."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from orderhub.kernel import clock
from tests.support.cloud_fixtures import post_shopify_order

pytestmark = pytest.mark.e2e
_numbers = itertools.count(7001)


def webhook_order(api, cloud, gateway="Cash on Delivery (COD)", minutes_ago=30) -> dict:
    fields = {"gateway": gateway, "payment_gateway_names": [gateway], "financial_status": "pending"}
    return post_shopify_order(api, cloud, next(_numbers), minutes_ago, **fields)[0]


def map_all_items(api, order):
    mappings = [
        {"marketplace": "shopify", "sku": i["sku"], "item_code": "ITEM-" + i["sku"]} for i in order["items"]
    ]
    assert api.call("PUT", "/item-mappings", {"mappings": mappings}).status == 200
    resp = api.call("POST", f"/orders/{order['order_id']}/map-items")
    assert resp.status == 200, resp
    assert resp.json["mapping"] == "ok"


def test_pending_to_shipped(api, cloud):
    order = webhook_order(api, cloud)
    oid = order["order_id"]
    assert order["status"] == "pending" and order["hold_release_at"]

    clock.freeze(datetime.now(UTC) + timedelta(minutes=31))  # the hold window (60 min) has passed
    try:
        result = cloud.fire("HoldSweepFunction")
    finally:
        clock.freeze(None)
    assert result["released"] >= 1
    assert api.get(f"/orders/{oid}").json["status"] == "new"

    map_all_items(api, order)
    confirm = api.call("POST", "/orders/confirm", {"order_ids": [oid, "ord_does_not_exist"]})
    assert confirm.status == 200
    assert confirm.json["results"][0] == {
        "order_id": oid,
        "ok": True,
        "status": "processing",
        "shipment_stage": "none",
        "version": confirm.json["results"][0]["version"],
    }
    assert confirm.json["results"][1]["ok"] is False and confirm.json["results"][1]["status"] == 404

    req = api.call("POST", f"/orders/{oid}/ship-request")
    assert req.status == 200 and req.json["shipment_stage"] == "requested"
    packing = req.json["packing_no"]

    listed = api.warehouse("GET", "/warehouse/shipments?stage=requested&page_size=200")
    assert listed.status == 200
    [shipment] = [s for s in listed.json["shipments"] if s["packing_no"] == packing]
    assert all(i["item_code"] for i in shipment["items"]) and shipment["recipient"]["country"] == "JP"

    for stage in ("picking", "packed"):
        resp = api.warehouse("POST", f"/warehouse/shipments/{packing}/stage", {"stage": stage})
        assert resp.status == 200 and resp.json["stage"] == stage
    assert packing not in [
        s["packing_no"]
        for s in api.warehouse("GET", "/warehouse/shipments?stage=requested&page_size=200").json["shipments"]
    ]
    no_tracking = api.warehouse("POST", f"/warehouse/shipments/{packing}/stage", {"stage": "shipped"})
    assert no_tracking.status == 400 and no_tracking.json["error"]["field"] == "carrier"
    shipped = api.warehouse(
        "POST",
        f"/warehouse/shipments/{packing}/stage",
        {"stage": "shipped", "carrier": "yamato", "tracking_number": "4444-5555-6666"},
    )
    assert shipped.status == 200 and shipped.json["order_status"] == "shipped"

    final = api.get(f"/orders/{oid}").json
    assert (final["status"], final["shipment_stage"]) == ("shipped", "shipped")
    assert final["tracking"]["tracking_number"] == "444455556666"  # normalized: digits only
    actors = [(h["actor"], h["action"]) for h in final["history"]]
    # the release was stamped by the frozen clock (31 min ahead), so it sorts last: take it out
    actors.remove(("system", "released"))
    assert actors == [
        ("marketplace", "created"),
        ("merchant", "items_mapped"),
        ("merchant", "confirmed"),
        ("merchant", "ship_requested"),
        ("warehouse", "stage_picking"),
        ("warehouse", "stage_packed"),
        ("warehouse", "stage_shipped"),
        # the shipment is reflected to the marketplace: the fake marketplace does not know this
        # order, so the order is tagged and the shipment stands
        ("system", "fulfillment_reflect_failed"),
    ]
    assert "mall_reflect_error" in final["tags"]


def _unchanged(api, oid, send, rule):
    before = api.get(f"/orders/{oid}").json
    resp = send()
    assert resp.status == 409, resp
    assert resp.json["error"].get("rule", resp.json["error"]["code"]) == rule
    after = api.get(f"/orders/{oid}").json
    assert after == before
    return resp.json["error"]


def test_refusals_answer_409_naming_the_rule_and_change_nothing(api, cloud):
    order = webhook_order(api, cloud, minutes_ago=120)  # hold over: new at once
    oid = order["order_id"]
    assert order["status"] == "new"
    assert api.call("POST", "/orders/confirm", {"order_ids": [oid]}).json["results"][0]["ok"]

    err = _unchanged(api, oid, lambda: api.call("DELETE", f"/orders/{oid}"), "transition_refused")
    assert err["status"] == "processing" and "cancel" in err["allowed_actions"]
    err = _unchanged(api, oid, lambda: api.call("POST", f"/orders/{oid}/ship-request"), "mapping_incomplete")
    assert err["field"] == "mapping"

    map_all_items(api, api.get(f"/orders/{oid}").json)
    packing = api.call("POST", f"/orders/{oid}/ship-request").json["packing_no"]
    api.warehouse("POST", f"/warehouse/shipments/{packing}/stage", {"stage": "packed"})
    err = _unchanged(
        api,
        oid,
        lambda: api.call("POST", f"/orders/{oid}/cancel", {"reason": "buyer"}),
        "cancel_after_packed",
    )
    assert err["shipment_stage"] == "packed"


def test_cancel_in_picking_is_a_withdrawal_request(api, cloud):
    order = webhook_order(api, cloud, minutes_ago=120)
    oid = order["order_id"]
    api.call("POST", "/orders/confirm", {"order_ids": [oid]})
    map_all_items(api, api.get(f"/orders/{oid}").json)
    packing = api.call("POST", f"/orders/{oid}/ship-request").json["packing_no"]
    api.warehouse("POST", f"/warehouse/shipments/{packing}/stage", {"stage": "picking"})
    err = _unchanged(
        api, oid, lambda: api.call("POST", f"/orders/{oid}/cancel", {"reason": "x"}), "paid_request_consent"
    )
    assert err["field"] == "accept_fee" and "fee" in err["message"]  # a paid request: asked first
    resp = api.call("POST", f"/orders/{oid}/cancel", {"reason": "buyer changed mind", "accept_fee": True})
    assert resp.status == 202
    assert resp.json["status"] == "processing" and "withdrawal_requested" in resp.json["tags"]
    assert [
        o["order_id"] for o in api.get("/orders?tag=withdrawal_requested&page_size=200").json["orders"]
    ].count(oid) == 1


def test_delete_hold_release_close(api, cloud):
    gone = webhook_order(api, cloud)
    assert api.call("DELETE", f"/orders/{gone['order_id']}").json["status"] == "deleted"
    assert api.get(f"/orders?q={gone['marketplace_order_no']}").json["orders"] == []
    found = api.get(f"/orders?q={gone['marketplace_order_no']}&include_deleted=true").json["orders"]
    assert [o["status"] for o in found] == ["deleted"]

    held = webhook_order(api, cloud, minutes_ago=120)
    counts = api.get("/orders/counts").json
    no_reason = api.call("POST", f"/orders/{held['order_id']}/hold", {})
    assert no_reason.status == 400 and no_reason.json["error"]["field"] == "reason"
    assert (
        api.call("POST", f"/orders/{held['order_id']}/hold", {"reason": "address check"}).json["status"]
        == "on_hold"
    )
    after = api.get("/orders/counts").json
    assert (after["on_hold"], after["new"]) == (counts["on_hold"] + 1, counts["new"] - 1)
    assert api.call("POST", f"/orders/{held['order_id']}/release", {}).json["status"] == "new"
    stale = api.call("POST", f"/orders/{held['order_id']}/hold", {"reason": "again", "version": 0})
    assert stale.status == 409 and stale.json["error"]["code"] == "version_conflict"


def test_credentials_do_not_cross(api, api2):
    assert api.call("GET", "/orders", token=api.config["warehouse_token"]).status == 401
    assert api.call("GET", "/warehouse/shipments").status == 401
    assert api2.call("POST", "/orders/confirm", {"order_ids": ["x"]}).json["results"][0]["status"] == 404


def test_apply_mappings_to_a_filter_as_a_job(api, cloud):
    orders = [webhook_order(api, cloud, minutes_ago=120) for _ in range(3)]
    mappings = [
        {"marketplace": "*", "sku": i["sku"], "item_code": "CODE-" + i["sku"]}
        for o in orders
        for i in o["items"]
    ]
    api.call("PUT", "/item-mappings", {"mappings": mappings})
    listed = api.get("/item-mappings?marketplace=*").json["mappings"]
    assert {m["sku"] for m in listed} >= {i["sku"] for i in orders[0]["items"]}
    bad = api.call("POST", "/item-mappings/apply", {"filter": {"mapping": "maybe"}})
    assert bad.status == 400 and bad.json["error"]["field"] == "filter.mapping"
    counted = cloud.metrics("JobRowsProcessed", kind="apply_mappings")
    job = api.call("POST", "/item-mappings/apply", {"filter": {"mapping": "fail", "marketplace": "shopify"}})
    assert job.status == 202, job
    cloud.drain(timeout=30)
    done = api.get(f"/jobs/{job.json['job_id']}").json
    assert done["state"] == "done" and done["failed"] == 0 and done["processed"] == done["total"] >= 3
    # every row counted once (the metric the dashboard charts), none failed
    assert cloud.metrics("JobRowsProcessed", kind="apply_mappings") == counted + done["processed"]
    assert cloud.metrics("JobRowsFailed", kind="apply_mappings") == 0
    for o in orders:
        assert api.get(f"/orders/{o['order_id']}").json["mapping"] == "ok"


def test_a_refund_after_shipping_closes_the_order_and_before_it_cancels(api, cloud):
    """seed 003: an order returned or refunded after shipping is listed as closed (クローズ済);
    Shopify says so with financial_status refunded."""
    shipped, payload = post_shopify_order(api, cloud, next(_numbers), 120, financial_status="paid")
    oid = shipped["order_id"]
    done = api.call(
        "POST", f"/orders/{oid}/fulfill", {"carrier": "yamato", "tracking_number": "4444-5555-6666"}
    )
    assert done.status == 200 and done.json["status"] == "shipped", done
    later_at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    refund = dict(payload, financial_status="refunded", updated_at=later_at)
    assert api.post_webhook("shopify", refund, topic="orders/updated").status == 200
    cloud.drain(timeout=10)
    after = api.get(f"/orders/{oid}").json
    assert (after["status"], after["close_reason"]) == ("closed", "refunded"), after
    assert after["history"][-1]["action"] == "closed"
    closed = api.get("/orders?status=closed").json["orders"]
    assert oid in [o["order_id"] for o in closed]

    unshipped, payload = post_shopify_order(api, cloud, next(_numbers), 120, financial_status="paid")
    refund = dict(payload, financial_status="refunded", cancelled_at=later_at, updated_at=later_at)
    assert api.post_webhook("shopify", refund, topic="orders/cancelled").status == 200
    cloud.drain(timeout=10)
    assert api.get(f"/orders/{unshipped['order_id']}").json["status"] == "cancelled"


def test_a_claim_holds_the_order_until_it_closes(api, cloud):
    """seed 003: an order with a cancel or return request is in the on-hold tab; when the
    marketplace settles the request, it is back where it was (generic order.claim_opened/closed)."""
    from tests.support.http import load_event

    number = f"CLAIM-{next(_numbers)}"
    now = datetime.now(UTC)

    def post(name: str, minutes_ago: int) -> None:
        event = load_event(f"generic/{name}")
        event["event_id"] = f"{name}-{number}"
        event["order"].update(order_no=number, updated_at=(now - timedelta(minutes=minutes_ago)).isoformat())
        assert api.post_webhook("generic", event).status == 200
        cloud.drain(timeout=10)

    post("order_paid.json", 30)  # konbini, paid: released to new
    [order] = api.get(f"/orders?q={number}").json["orders"]
    assert order["status"] == "new"
    before = api.get("/orders/counts").json
    post("order_claim_opened.json", 20)
    held = api.get(f"/orders/{order['order_id']}").json
    assert held["status"] == "on_hold" and held["claim"]["state"] == "open", held
    assert (held["claim"]["kind"], held["history"][-1]["action"]) == ("cancel", "claim_opened")
    counts = api.get("/orders/counts").json
    assert (counts["on_hold"], counts["new"]) == (before["on_hold"] + 1, before["new"] - 1)
    assert order["order_id"] in [o["order_id"] for o in api.get("/orders?status=on_hold").json["orders"]]

    post("order_claim_closed.json", 10)
    back = api.get(f"/orders/{order['order_id']}").json
    assert (back["status"], back["claim"]["state"]) == ("new", "closed"), back
    assert back["history"][-1]["action"] == "claim_closed"
    assert api.get("/orders/counts").json["on_hold"] == before["on_hold"]
