"""Marketplace cancels through the real cancel state machine (statemachines/cancel_order.asl.json)
on the local cloud: moto's ASL interpreter runs it and dispatches its Lambda tasks to our handlers."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.cloud_fixtures import post_shopify_order

pytestmark = [pytest.mark.e2e, pytest.mark.slowest(33)]
_numbers = itertools.count(8101)


def _stamp(minutes: int = 0) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def new_order(api, cloud) -> tuple[dict, dict]:
    """A Shopify order, released (new) at once; returns (order, webhook payload)."""
    cod = "Cash on Delivery (COD)"
    fields = {"gateway": cod, "payment_gateway_names": [cod], "financial_status": "pending"}
    return post_shopify_order(api, cloud, next(_numbers), 120, **fields)


def order_at_stage(api, cloud, stage: str) -> tuple[dict, dict]:
    order, payload = new_order(api, cloud)
    oid = order["order_id"]
    if stage == "none":
        return order, payload
    assert api.call("POST", "/orders/confirm", {"order_ids": [oid]}).json["results"][0]["ok"]
    mappings = [
        {"marketplace": "shopify", "sku": i["sku"], "item_code": "IT-" + i["sku"]} for i in order["items"]
    ]
    assert api.call("PUT", "/item-mappings", {"mappings": mappings}).status == 200
    assert api.call("POST", f"/orders/{oid}/map-items").status == 200
    packing = api.call("POST", f"/orders/{oid}/ship-request").json["packing_no"]
    for s in ("picking", "picked", "packed"):
        if stage in ("requested",):
            break
        resp = api.warehouse("POST", f"/warehouse/shipments/{packing}/stage", {"stage": s})
        assert resp.status == 200, resp
        if s == stage:
            break
    current = api.get(f"/orders/{oid}").json
    assert current["shipment_stage"] == stage
    return current, payload


def marketplace_cancel(api, cloud, payload: dict, delivery_id: str | None = None) -> str:
    cancel = dict(payload, cancelled_at=_stamp(), updated_at=_stamp(), cancel_reason="customer")
    delivery_id = delivery_id or str(uuid.uuid4())
    resp = api.post_webhook("shopify", cancel, topic="orders/cancelled", delivery_id=delivery_id)
    assert resp.status == 200, resp
    cloud.drain(timeout=10)
    return delivery_id


def executions_for(cloud, order_id: str) -> list[dict]:
    sfn = cloud.client("stepfunctions")
    arn = cloud.state_machines["CancelOrderStateMachine"]
    return [e for e in sfn.list_executions(stateMachineArn=arn)["executions"] if order_id in e["name"]]


def finished(api, cloud, order_id: str, timeout: float = 20) -> dict:
    sfn = cloud.client("stepfunctions")

    def done():
        execs = executions_for(cloud, order_id)
        if not execs:
            return None
        desc = sfn.describe_execution(executionArn=execs[0]["executionArn"])
        return desc if desc["status"] != "RUNNING" else None

    return api.wait_for(done, timeout=timeout)


def sync_entries(api, order_id: str, **filters) -> list[dict]:
    qs = "&".join(f"{k}={v}" for k, v in filters.items())
    resp = api.get("/sync-history?page_size=200" + (f"&{qs}" if qs else ""))
    assert resp.status == 200, resp
    return [e for e in resp.json["entries"] if e["order_id"] == order_id]


def settings(api, **values) -> dict:
    base = {"cancel_sync": True, "cancel_after_confirmed": False, "warehouse_timeout_seconds": 86400}
    resp = api.call("PUT", "/integrations/shopify", {**base, **values})
    assert resp.status == 200, resp
    return resp.json


def waiting_request(api, order_id: str) -> str:
    def rid():
        o = api.get(f"/orders/{order_id}").json
        return (o.get("withdrawal") or {}).get("request_id")

    return api.wait_for(rid, timeout=15)


# ---------------------------------------------------------------- settings
def test_integration_settings_defaults_validation_and_secrets(api, api2):
    got = api2.get("/integrations/ecforce").json
    assert (
        got["cancel_sync"] is True and got["modify_sync"] is True and got["cancel_after_confirmed"] is False
    )
    assert got["warehouse_timeout_seconds"] == 86400 and "api_token" not in got
    base = api2.get("/integrations/base").json
    assert base["cancel_sync"] is False and base["modify_sync"] is False
    assert api2.get("/integrations/shopify").json["modify_sync"] is False
    assert api2.get("/integrations/nosuch").status == 404

    bad = api2.call("PUT", "/integrations/shopify", {"cancel_after_confirmed": "yes"})
    assert bad.status == 400 and bad.json["error"]["field"] == "cancel_after_confirmed"
    bad = api2.call("PUT", "/integrations/shopify", {"warehouse_timeout_seconds": 0})
    assert bad.status == 400 and bad.json["error"]["field"] == "warehouse_timeout_seconds"
    bad = api2.call("PUT", "/integrations/shopify", {"colour": "red"})
    assert bad.status == 400 and bad.json["error"]["field"] == "colour"
    bad = api2.call("PUT", "/integrations/nextengine", {"cancel_sync": True})
    assert bad.status == 400 and bad.json["error"]["field"] == "cancel_sync"

    put = api2.call("PUT", "/integrations/shopify", {"cancel_after_confirmed": True, "api_token": "s3cret"})
    assert put.status == 200 and put.json["cancel_after_confirmed"] is True
    assert put.json["api_token_set"] is True and "s3cret" not in put.raw.decode()
    again = api2.get("/integrations/shopify").json
    assert again["cancel_after_confirmed"] is True and again["api_token_set"] is True
    assert again["api_base_url"]  # what the local cloud seeded is kept
    assert api.get("/integrations/shopify").json["cancel_after_confirmed"] is False  # per merchant


# ---------------------------------------------------------------- stage branches
@pytest.mark.parametrize("stage", ["none", "requested"])
def test_cancel_before_picking_is_applied_inline(api, cloud, stage):
    settings(api)
    order, payload = order_at_stage(api, cloud, stage)
    marketplace_cancel(api, cloud, payload)
    after = api.get(f"/orders/{order['order_id']}").json
    assert after["status"] == "cancelled"
    assert after["shipment_stage"] == ("deleted" if stage == "requested" else "none")
    assert [e["outcome"] for e in sync_entries(api, order["order_id"])] == ["applied"]
    assert executions_for(cloud, order["order_id"]) == []


@pytest.mark.parametrize("stage", ["picking", "picked"])
def test_cancel_in_picking_with_the_setting_off_is_not_reflected(api, cloud, stage):
    settings(api, cancel_after_confirmed=False)
    order, payload = order_at_stage(api, cloud, stage)
    marketplace_cancel(api, cloud, payload)
    desc = finished(api, cloud, order["order_id"])
    assert desc["status"] == "SUCCEEDED", desc
    after = api.get(f"/orders/{order['order_id']}").json
    assert after["status"] == "on_hold" and after["shipment_stage"] == stage
    [entry] = sync_entries(api, order["order_id"])
    assert entry["outcome"] == "not_reflected" and entry["paid"] is False
    assert "cancel_after_confirmed" in entry["reason"] and entry["execution_id"].startswith("cancel-")


def test_cancel_when_packed_holds_with_the_delivery_notice(api, cloud):
    settings(api, cancel_after_confirmed=True)
    order, payload = order_at_stage(api, cloud, "packed")
    marketplace_cancel(api, cloud, payload)
    assert finished(api, cloud, order["order_id"])["status"] == "SUCCEEDED"
    after = api.get(f"/orders/{order['order_id']}").json
    assert after["status"] == "on_hold"
    [entry] = sync_entries(api, order["order_id"], outcome="not_reflected")
    assert "refuse" in entry["reason"]
    history = api.get(f"/orders/{order['order_id']}").json["history"]
    assert any(h["action"] == "cancel_not_reflected" and "refuse" in h.get("reason", "") for h in history)


# ---------------------------------------------------------------- the warehouse's answer
def test_shopify_cancel_in_picking_waits_for_the_warehouse_then_cancels(api, cloud):
    settings(api, cancel_after_confirmed=True)
    order, payload = order_at_stage(api, cloud, "picking")
    oid = order["order_id"]
    started, accepted = (
        cloud.metrics("FlowsStarted", flow="cancel"),
        cloud.metrics("FlowsAccepted", flow="cancel"),
    )
    marketplace_cancel(api, cloud, payload)
    rid = waiting_request(api, oid)
    waiting = api.get(f"/orders/{oid}").json
    assert waiting["status"] == "processing" and "withdrawal_requested" in waiting["tags"]
    assert waiting["withdrawal"]["paid"] is True
    [execution] = executions_for(cloud, oid)
    assert execution["status"] == "RUNNING"
    assert [e["outcome"] for e in sync_entries(api, oid)] == ["requested"]

    assert api.call("POST", f"/warehouse/requests/{rid}", {"decision": "accepted"}).status == 401
    bad = api.warehouse("POST", f"/warehouse/requests/{rid}", {"decision": "maybe"})
    assert bad.status == 400 and bad.json["error"]["field"] == "decision"
    resp = api.warehouse("POST", f"/warehouse/requests/{rid}", {"decision": "accepted"})
    assert resp.status == 200, resp
    assert finished(api, cloud, oid)["status"] == "SUCCEEDED"
    after = api.get(f"/orders/{oid}").json
    assert after["status"] == "cancelled" and after["shipment_stage"] == "withdrawn"
    assert "withdrawal_requested" not in after["tags"]
    assert {e["outcome"] for e in sync_entries(api, oid)} == {"requested", "accepted"}
    assert all(e["paid"] for e in sync_entries(api, oid))
    # counted, and every entry of the flow carries the cancel delivery's correlation id
    assert cloud.metrics("FlowsStarted", flow="cancel") == started + 1
    assert cloud.metrics("FlowsAccepted", flow="cancel") == accepted + 1
    assert len({e["correlation_id"] for e in sync_entries(api, oid)}) == 1
    again = api.warehouse("POST", f"/warehouse/requests/{rid}", {"decision": "rejected"})
    assert again.status == 409


def test_warehouse_rejecting_leaves_the_order_on_hold(api, cloud):
    settings(api, cancel_after_confirmed=True)
    order, payload = order_at_stage(api, cloud, "picked")
    oid = order["order_id"]
    rejected = cloud.metrics("FlowsRejected", flow="cancel")
    marketplace_cancel(api, cloud, payload)
    rid = waiting_request(api, oid)
    resp = api.warehouse(
        "POST", f"/warehouse/requests/{rid}", {"decision": "rejected", "reason": "packed already"}
    )
    assert resp.status == 200, resp
    assert finished(api, cloud, oid)["status"] == "SUCCEEDED"
    after = api.get(f"/orders/{oid}").json
    assert after["status"] == "on_hold" and after["shipment_stage"] == "picked"
    [entry] = sync_entries(api, oid, outcome="rejected")
    assert "packed already" in entry["reason"] and entry["paid"] is True
    assert cloud.metrics("FlowsRejected", flow="cancel") == rejected + 1


def test_warehouse_timing_out_is_not_reflected(api, cloud):
    settings(api, cancel_after_confirmed=True, warehouse_timeout_seconds=1)
    try:
        order, payload = order_at_stage(api, cloud, "picking")
        oid = order["order_id"]
        timed_out = cloud.metrics("FlowsTimedOut", flow="cancel")
        marketplace_cancel(api, cloud, payload)
        assert finished(api, cloud, oid, timeout=30)["status"] == "SUCCEEDED"
        assert cloud.metrics("FlowsTimedOut", flow="cancel") == timed_out + 1
    finally:
        settings(api)
    after = api.get(f"/orders/{oid}").json
    assert after["status"] == "on_hold"
    [entry] = sync_entries(api, oid, outcome="not_reflected", kind="cancel")
    assert "in time" in entry["reason"]


def test_heartbeats_keep_a_long_request_waiting_and_silence_times_it_out(api, cloud):
    import time

    settings(api, cancel_after_confirmed=True, warehouse_timeout_seconds=120, warehouse_heartbeat_seconds=2)
    try:
        kept, payload = order_at_stage(api, cloud, "picking")
        marketplace_cancel(api, cloud, payload)
        rid = waiting_request(api, kept["order_id"])
        for _ in range(4):  # 4 s in all, twice the heartbeat interval
            resp = api.warehouse("POST", f"/warehouse/requests/{rid}/heartbeat")
            assert resp.status == 200 and resp.json["state"] == "waiting", resp
            time.sleep(1)
        assert api.warehouse("POST", f"/warehouse/requests/{rid}", {"decision": "accepted"}).status == 200
        assert finished(api, cloud, kept["order_id"])["status"] == "SUCCEEDED"
        assert api.get(f"/orders/{kept['order_id']}").json["status"] == "cancelled"

        silent, payload = order_at_stage(api, cloud, "picking")
        marketplace_cancel(api, cloud, payload)
        silent_rid = waiting_request(api, silent["order_id"])
        assert finished(api, cloud, silent["order_id"], timeout=30)["status"] == "SUCCEEDED"
        assert api.get(f"/orders/{silent['order_id']}").json["status"] == "on_hold"
        late = api.warehouse("POST", f"/warehouse/requests/{silent_rid}/heartbeat")
        assert late.status == 409
    finally:
        settings(api, warehouse_heartbeat_seconds=None)


def test_a_redelivered_cancel_starts_no_second_flow(api, cloud):
    settings(api, cancel_after_confirmed=True)
    order, payload = order_at_stage(api, cloud, "picking")
    oid = order["order_id"]
    delivery = marketplace_cancel(api, cloud, payload)
    waiting_request(api, oid)
    marketplace_cancel(api, cloud, payload, delivery_id=delivery)
    assert len(executions_for(cloud, oid)) == 1
    seen = api.get(f"/webhook-deliveries/shopify/{delivery}").json
    assert seen["duplicates"] >= 1
    # a cancel redelivered under a new delivery id finds the flow already waiting
    sfn = cloud.client("stepfunctions")
    [e] = executions_for(cloud, oid)
    assert (
        json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])["delivery_id"] == delivery
    )


def test_cancel_sync_off_is_recorded_as_not_reflected(api, cloud):
    settings(api, cancel_sync=False)
    try:
        order, payload = order_at_stage(api, cloud, "none")
        marketplace_cancel(api, cloud, payload)
    finally:
        settings(api)
    after = api.get(f"/orders/{order['order_id']}").json
    assert after["status"] == "new"
    [entry] = sync_entries(api, order["order_id"])
    assert entry["outcome"] == "not_reflected" and entry["kind"] == "cancel"


def test_sync_history_filters(api):
    assert api.get("/sync-history?kind=refund").json["error"]["field"] == "kind"
    assert api.get("/sync-history?outcome=maybe").json["error"]["field"] == "outcome"
    assert api.get("/sync-history?from=yesterday").json["error"]["field"] == "from"
    today = datetime.now(UTC).date().isoformat()
    page = api.get(f"/sync-history?from={today}&to={today}&page_size=25").json
    assert all(e["at"].startswith(today) for e in page["entries"])
    later = api.get("/sync-history?from=2099-01-01").json
    assert later["entries"] == [] and later["next_cursor"] is None
    beyond = api.get("/sync-history?from=2999-01-01").json["error"]  # outside the date rule (kernel/clock.py)
    assert (beyond["field"], beyond["rule"]) == ("from", "date_range")
    # per marketplace: every entry of the filter is that marketplace's
    assert api.get("/sync-history?marketplace=nowhere").json["error"]["field"] == "marketplace"
    shopify = api.get("/sync-history?marketplace=shopify&page_size=200").json["entries"]
    assert all(e["marketplace"] == "shopify" for e in shopify)
    assert api.get("/sync-history?marketplace=wish&page_size=200").json["entries"] == [
        e for e in api.get("/sync-history?page_size=200").json["entries"] if e.get("marketplace") == "wish"
    ]


# ---------------------------------------------------------------- merchant cancels in picking/picked
def test_merchant_cancel_in_picking_runs_the_flow(api, cloud):
    settings(api, cancel_after_confirmed=False)  # a merchant's own cancel always asks the warehouse
    order, _ = order_at_stage(api, cloud, "picking")
    oid = order["order_id"]
    resp = api.call("POST", f"/orders/{oid}/cancel", {"reason": "buyer changed mind", "accept_fee": True})
    assert resp.status == 202, resp
    rid = waiting_request(api, oid)
    again = api.call("POST", f"/orders/{oid}/cancel", {"reason": "twice", "accept_fee": True})
    assert again.status == 409 and again.json["error"]["rule"] == "withdrawal_pending"
    assert len(executions_for(cloud, oid)) == 1
    assert api.warehouse("POST", f"/warehouse/requests/{rid}", {"decision": "accepted"}).status == 200
    assert finished(api, cloud, oid)["status"] == "SUCCEEDED"
    after = api.get(f"/orders/{oid}").json
    assert after["status"] == "cancelled" and after["shipment_stage"] == "withdrawn"
    assert after["cancel_reason"] == "seller_cancelled"
    entries = sync_entries(api, oid)
    assert {e["outcome"] for e in entries} == {"requested", "accepted"}
    assert {e["source"] for e in entries} == {"merchant"}


def test_merchant_cancel_rejected_keeps_the_order(api, cloud):
    order, _ = order_at_stage(api, cloud, "picked")
    oid = order["order_id"]
    assert api.call("POST", f"/orders/{oid}/cancel", {"accept_fee": True}).status == 202
    rid = waiting_request(api, oid)
    resp = api.warehouse("POST", f"/warehouse/requests/{rid}", {"decision": "rejected"})
    assert resp.status == 200
    assert finished(api, cloud, oid)["status"] == "SUCCEEDED"
    after = api.get(f"/orders/{oid}").json
    assert after["status"] == "processing" and "withdrawal_requested" not in after["tags"]
    assert after.get("withdrawal") is None
    assert [e["outcome"] for e in sync_entries(api, oid, outcome="rejected")] == ["rejected"]


# ---------------------------------------------------------------- marketplace modifications
def marketplace_modify(api, cloud, payload: dict, address: str) -> None:
    moved = dict(payload["shipping_address"], address1=address)
    changed = dict(payload, shipping_address=moved, updated_at=_stamp())
    line = dict(changed["line_items"][0], quantity=changed["line_items"][0]["quantity"] + 5)
    changed["line_items"] = [line, *changed["line_items"][1:]]  # item changes are never carried
    assert api.post_webhook("shopify", changed, topic="orders/updated").status == 200
    cloud.drain(timeout=10)


def modify_settings(api, **values) -> None:
    base = {"modify_sync": True, "modify_after_confirmed": False, "warehouse_timeout_seconds": 86400}
    assert api.call("PUT", "/integrations/shopify", {**base, **values}).status == 200


def modify_executions(cloud, order_id: str) -> list[dict]:
    sfn = cloud.client("stepfunctions")
    arn = cloud.state_machines["ModifyOrderStateMachine"]
    return [e for e in sfn.list_executions(stateMachineArn=arn)["executions"] if order_id in e["name"]]


def modify_finished(api, cloud, order_id: str) -> dict:
    sfn = cloud.client("stepfunctions")

    def done():
        execs = modify_executions(cloud, order_id)
        if not execs:
            return None
        desc = sfn.describe_execution(executionArn=execs[0]["executionArn"])
        return desc if desc["status"] != "RUNNING" else None

    return api.wait_for(done, timeout=20)


@pytest.mark.parametrize(("sync", "carried"), [(True, True), (False, False)])
def test_modify_at_stage_requested_is_carried_only_with_modify_sync(api, cloud, sync, carried):
    modify_settings(api, modify_sync=sync)
    try:
        order, payload = order_at_stage(api, cloud, "requested")
        marketplace_modify(api, cloud, payload, "新住所 1")
    finally:
        modify_settings(api, modify_sync=False)
    after = api.get(f"/orders/{order['order_id']}").json
    assert (after["recipient"]["address1"] == "新住所 1") is carried
    assert after["items"] == order["items"]  # never carried
    [entry] = sync_entries(api, order["order_id"], kind="modify")
    assert entry["outcome"] == ("applied" if carried else "not_reflected")
    assert "item changes ignored" in entry["reason"]
    assert modify_executions(cloud, order["order_id"]) == []


def test_modify_in_picking_waits_for_the_warehouse(api, cloud):
    modify_settings(api, modify_after_confirmed=True)
    try:
        order, payload = order_at_stage(api, cloud, "picking")
        oid = order["order_id"]
        marketplace_modify(api, cloud, payload, "倉庫確認 2")
        rid = api.wait_for(
            lambda: (api.get(f"/orders/{oid}").json.get("modification") or {}).get("request_id")
        )
        assert api.get(f"/orders/{oid}").json["recipient"] == order["recipient"]
        shipments = api.warehouse("GET", "/warehouse/shipments?stage=picking&page_size=200").json["shipments"]
        [mine] = [s for s in shipments if s["order_id"] == oid]
        assert mine["modification"]["recipient"]["address1"] == "倉庫確認 2"
        assert api.warehouse("POST", f"/warehouse/requests/{rid}", {"decision": "accepted"}).status == 200
        assert modify_finished(api, cloud, oid)["status"] == "SUCCEEDED"
    finally:
        modify_settings(api, modify_sync=False)
    after = api.get(f"/orders/{oid}").json
    assert after["recipient"]["address1"] == "倉庫確認 2" and after["status"] == "processing"
    assert after.get("modification") is None
    assert {e["outcome"] for e in sync_entries(api, oid, kind="modify")} == {"requested", "accepted"}


@pytest.mark.parametrize(
    ("stage", "after_confirmed", "words"),
    [("picked", False, "modify_after_confirmed"), ("packed", True, "packed")],
)
def test_modify_not_reflected_holds_the_order(api, cloud, stage, after_confirmed, words):
    modify_settings(api, modify_after_confirmed=after_confirmed)
    try:
        order, payload = order_at_stage(api, cloud, stage)
        oid = order["order_id"]
        marketplace_modify(api, cloud, payload, "届かない 3")
        assert modify_finished(api, cloud, oid)["status"] == "SUCCEEDED"
    finally:
        modify_settings(api, modify_sync=False)
    after = api.get(f"/orders/{oid}").json
    assert after["status"] == "on_hold" and after["recipient"] == order["recipient"]
    [entry] = sync_entries(api, oid, kind="modify")
    assert entry["outcome"] == "not_reflected" and words in entry["reason"]


def test_modify_rejected_by_the_warehouse(api, cloud):
    modify_settings(api, modify_after_confirmed=True)
    try:
        order, payload = order_at_stage(api, cloud, "picking")
        oid = order["order_id"]
        marketplace_modify(api, cloud, payload, "無理 4")
        rid = api.wait_for(
            lambda: (api.get(f"/orders/{oid}").json.get("modification") or {}).get("request_id")
        )
        assert api.warehouse("POST", f"/warehouse/requests/{rid}", {"decision": "rejected"}).status == 200
        assert modify_finished(api, cloud, oid)["status"] == "SUCCEEDED"
    finally:
        modify_settings(api, modify_sync=False)
    after = api.get(f"/orders/{oid}").json
    assert after["status"] == "on_hold" and after["recipient"] == order["recipient"]
    assert [e["outcome"] for e in sync_entries(api, oid, outcome="rejected")] == ["rejected"]


# ---------------------------------------------------------------- the merchant's own recipient change
def history_actions(api, order_id: str) -> list[str]:
    return [e["action"] for e in api.get(f"/orders/{order_id}").json["history"]]


def test_a_merchant_recipient_change_before_picking_reaches_the_shipment_at_once(api, cloud):
    order, _ = order_at_stage(api, cloud, "requested")
    oid = order["order_id"]
    change = {
        "recipient": {"address1": "渋谷区道玄坂 1-2-3", "phone": "03-0000-1111"},
        "version": order["version"],
    }
    resp = api.call("PATCH", f"/orders/{oid}/recipient", change)
    assert resp.status == 200, resp
    assert resp.json["recipient"]["address1"] == "渋谷区道玄坂 1-2-3"
    assert (
        resp.json["recipient"]["name"] == order["recipient"]["name"] and resp.json["items"] == order["items"]
    )
    shipments = api.warehouse("GET", "/warehouse/shipments?stage=requested&page_size=200").json["shipments"]
    [mine] = [s for s in shipments if s["order_id"] == oid]
    assert mine["recipient"]["address1"] == "渋谷区道玄坂 1-2-3"  # the warehouse reads the new one
    assert "recipient_edited" in history_actions(api, oid)
    [entry] = sync_entries(api, oid, kind="modify")
    assert (entry["outcome"], entry["source"]) == ("applied", "merchant")
    assert modify_executions(cloud, oid) == []
    # items are never edited, and a stale version changes nothing
    assert api.call("PATCH", f"/orders/{oid}/recipient", {"recipient": {"items": []}}).json["error"][
        "field"
    ] == ("recipient.items")
    stale = api.call("PATCH", f"/orders/{oid}/recipient", {**change, "recipient": {"city": "x"}})
    assert stale.status == 409 and stale.json["error"]["field"] == "version"


def test_a_merchant_recipient_change_in_picking_asks_for_the_fee_then_the_warehouse(api, cloud):
    order, _ = order_at_stage(
        api, cloud, "picking"
    )  # modify_after_confirmed is off: the merchant's word counts
    oid = order["order_id"]
    body = {"recipient": {"address1": "倉庫へ依頼 5"}}
    refused = api.call("PATCH", f"/orders/{oid}/recipient", body)
    assert refused.status == 409 and refused.json["error"]["rule"] == "paid_request_consent"
    assert refused.json["error"]["field"] == "accept_fee" and "fee" in refused.json["error"]["message"]
    assert api.get(f"/orders/{oid}").json["version"] == order["version"]  # nothing changed
    resp = api.call("PATCH", f"/orders/{oid}/recipient", {**body, "accept_fee": True})
    assert resp.status == 202, resp
    assert resp.json["recipient"] == order["recipient"] and resp.json["modification"]["by"] == "merchant"
    assert "edit_recipient" not in resp.json["actions"]  # one request at a time
    rid = api.wait_for(lambda: (api.get(f"/orders/{oid}").json.get("modification") or {}).get("request_id"))
    assert api.warehouse("POST", f"/warehouse/requests/{rid}", {"decision": "accepted"}).status == 200
    assert modify_finished(api, cloud, oid)["status"] == "SUCCEEDED"
    after = api.get(f"/orders/{oid}").json
    assert after["recipient"]["address1"] == "倉庫へ依頼 5" and after.get("modification") is None
    assert after["status"] == "processing"
    entries = sync_entries(api, oid, kind="modify")
    assert {e["outcome"] for e in entries} == {"requested", "accepted"}
    assert all(e["source"] == "merchant" for e in entries) and any(e["paid"] for e in entries)


def test_a_merchant_recipient_change_once_packed_is_refused(api, cloud):
    order, _ = order_at_stage(api, cloud, "packed")
    resp = api.call(
        "PATCH", f"/orders/{order['order_id']}/recipient", {"recipient": {"city": "x"}, "accept_fee": True}
    )
    assert resp.status == 409 and resp.json["error"]["rule"] == "modify_after_packed"
    assert api.get(f"/orders/{order['order_id']}").json["version"] == order["version"]


# ---------------------------------------------------------------- failures and finished orders
def run_directly(api, cloud, machine: str, flow: dict) -> dict:
    sfn = cloud.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=cloud.state_machines[machine], name=f"test-{uuid.uuid4().hex}", input=json.dumps(flow)
    )["executionArn"]
    return api.wait_for(
        lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d, timeout=20
    )


def test_a_step_that_fails_is_caught_and_recorded(api, cloud):
    flow = {"merchant_id": "demo", "order_id": "ord_missing", "source": "marketplace", "kind": "cancel"}
    desc = run_directly(api, cloud, "CancelOrderStateMachine", flow)
    assert desc["status"] == "FAILED"
    [entry] = sync_entries(api, "ord_missing")
    assert entry["outcome"] == "not_reflected" and entry["reason"] == "flow failed: NotFound"


def test_a_flow_for_a_cancelled_order_changes_nothing(api, cloud):
    order, payload = order_at_stage(api, cloud, "none")
    marketplace_cancel(api, cloud, payload)
    before = api.get(f"/orders/{order['order_id']}").json
    flow = {"merchant_id": "demo", "order_id": order["order_id"], "source": "marketplace", "kind": "cancel"}
    assert run_directly(api, cloud, "CancelOrderStateMachine", flow)["status"] == "SUCCEEDED"
    assert api.get(f"/orders/{order['order_id']}").json == before


# ---------------------------------------------------------------- one request per cancellation
def cancelled_payload(payload: dict) -> dict:
    return dict(payload, cancelled_at=_stamp(), updated_at=_stamp(), cancel_reason="customer")


def deliver(api, cloud, body: dict, topic: str) -> str:
    delivery_id = str(uuid.uuid4())
    resp = api.post_webhook("shopify", body, topic=topic, delivery_id=delivery_id)
    assert resp.status == 200, resp
    cloud.drain(timeout=10)
    return delivery_id


def requests_sent(api, order_id: str) -> list[dict]:
    return sync_entries(api, order_id, outcome="requested")


def test_shopify_cancelled_then_updated_makes_one_paid_request(api, cloud):
    """Shopify sends orders/updated with every orders/cancelled (a new webhook id, the same cancelled
    body): the second joins the waiting request; no second flow, no second paid request."""
    settings(api, cancel_after_confirmed=True)
    order, payload = order_at_stage(api, cloud, "picking")
    oid = order["order_id"]
    body = cancelled_payload(payload)
    deliver(api, cloud, body, "orders/cancelled")
    rid = waiting_request(api, oid)
    second = deliver(api, cloud, body, "orders/updated")

    assert len(executions_for(cloud, oid)) == 1
    waiting = api.get(f"/orders/{oid}").json
    assert waiting["withdrawal"]["request_id"] == rid
    [joined] = sync_entries(api, oid, outcome="joined")
    assert joined["request_id"] == rid and joined["delivery_id"] == second and joined["paid"] is False
    assert len(requests_sent(api, oid)) == 1
    seen = api.get(f"/webhook-deliveries/shopify/{second}").json
    assert (seen["outcome"], seen["reason"]) == ("applied", "cancel_joined")
    [entry] = [h for h in waiting["history"] if h["action"] == "cancel_joined"]
    assert entry["request_id"] == rid and entry["delivery_id"] == second

    assert api.warehouse("POST", f"/warehouse/requests/{rid}", {"decision": "accepted"}).status == 200
    assert finished(api, cloud, oid)["status"] == "SUCCEEDED"
    after = api.get(f"/orders/{oid}").json
    assert after["status"] == "cancelled" and after["shipment_stage"] == "withdrawn"
    assert len(requests_sent(api, oid)) == 1


def test_a_marketplace_cancel_joins_the_merchants_waiting_withdrawal(api, cloud):
    settings(api, cancel_after_confirmed=True)
    order, payload = order_at_stage(api, cloud, "picking")
    oid = order["order_id"]
    assert (
        api.call("POST", f"/orders/{oid}/cancel", {"reason": "buyer asked", "accept_fee": True}).status == 202
    )
    rid = waiting_request(api, oid)
    before = api.get(f"/orders/{oid}").json["withdrawal"]
    delivery = marketplace_cancel(api, cloud, payload)

    assert len(executions_for(cloud, oid)) == 1
    assert api.get(f"/orders/{oid}").json["withdrawal"] == before  # untouched
    [joined] = sync_entries(api, oid, outcome="joined")
    assert joined["request_id"] == rid and joined["delivery_id"] == delivery
    assert joined["source"] == "marketplace" and "merchant" in joined["reason"]
    assert len(requests_sent(api, oid)) == 1

    assert api.warehouse("POST", f"/warehouse/requests/{rid}", {"decision": "accepted"}).status == 200
    assert finished(api, cloud, oid)["status"] == "SUCCEEDED"
    after = api.get(f"/orders/{oid}").json
    assert after["status"] == "cancelled" and after["cancel_reason"] == "seller_cancelled"


def test_a_refused_merchant_withdrawal_that_a_marketplace_cancel_joined_holds_the_order(api, cloud):
    """The marketplace's cancel rode on the merchant's request: refused, it is not reflected either,
    and the order goes on_hold (as any marketplace cancel the warehouse refuses)."""
    settings(api, cancel_after_confirmed=True)
    order, payload = order_at_stage(api, cloud, "picked")
    oid = order["order_id"]
    assert api.call("POST", f"/orders/{oid}/cancel", {"accept_fee": True}).status == 202
    rid = waiting_request(api, oid)
    marketplace_cancel(api, cloud, payload)
    assert api.get(f"/orders/{oid}").json["withdrawal"]["request_id"] == rid
    assert api.warehouse("POST", f"/warehouse/requests/{rid}", {"decision": "rejected"}).status == 200
    assert finished(api, cloud, oid)["status"] == "SUCCEEDED"
    after = api.get(f"/orders/{oid}").json
    assert after["status"] == "on_hold" and after.get("withdrawal") is None
    assert len(executions_for(cloud, oid)) == 1 and len(requests_sent(api, oid)) == 1


def test_two_cancel_deliveries_at_once_start_one_flow(api, cloud):
    """Two ingest processors (threads, as two Lambda instances) take orders/cancelled and its
    orders/updated at the same instant: one claims the withdrawal and starts the flow, the other
    joins."""
    import threading

    from orderhub.domain.models import Envelope
    from orderhub.marketplaces.registry import get_adapter
    from orderhub.webhooks import ingest

    settings(api, cancel_after_confirmed=True)
    order, payload = order_at_stage(api, cloud, "picking")
    oid = order["order_id"]
    raw = json.dumps(cancelled_payload(payload)).encode()
    envelopes = []
    for topic in ("orders/cancelled", "orders/updated"):
        headers = {"x-shopify-topic": topic, "x-shopify-webhook-id": str(uuid.uuid4())}
        delivery_id, change = get_adapter("shopify").parse(headers, raw)
        envelopes.append(
            Envelope(
                merchant_id=api.merchant["merchant_id"],
                adapter="shopify",
                delivery_id=delivery_id,
                received_at=datetime.now(UTC),
                change=change,
            ).model_dump_json()
        )
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def run(body):
        barrier.wait()
        try:
            outcomes.append(ingest.process(body))
        except Exception as exc:  # reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=run, args=(b,)) for b in envelopes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and outcomes == ["applied", "applied"]

    rid = waiting_request(api, oid)
    assert len(executions_for(cloud, oid)) == 1
    [joined] = sync_entries(api, oid, outcome="joined")
    assert joined["execution_id"] == executions_for(cloud, oid)[0]["name"]
    assert api.get(f"/orders/{oid}").json["withdrawal"]["request_id"] == rid
    assert len(requests_sent(api, oid)) == 1
    assert api.warehouse("POST", f"/warehouse/requests/{rid}", {"decision": "rejected"}).status == 200
    assert finished(api, cloud, oid)["status"] == "SUCCEEDED"
    assert api.get(f"/orders/{oid}").json["status"] == "on_hold"
