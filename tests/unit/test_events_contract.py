"""The shapes of the domain events consumers rely on (contract tests)."""

import json

from orderhub.events.publish import SOURCE, entries, events_for

BASE = {
    "order_id": "ord_1",
    "merchant_id": "demo",
    "marketplace": "shopify",
    "marketplace_order_no": "1001",
    "status": "pending",
    "shipment_stage": "none",
    "version": 0,
    "updated_at": "a",
    "tags": [],
    "recipient": {"name": "A", "country": "JP"},
}


def test_created():
    [(dt, detail)] = events_for(None, BASE)
    assert dt == "OrderCreated"
    assert detail["order"] == BASE
    assert {
        k: detail[k] for k in ("merchant_id", "order_id", "marketplace", "marketplace_order_no", "version")
    } == {
        "merchant_id": "demo",
        "order_id": "ord_1",
        "marketplace": "shopify",
        "marketplace_order_no": "1001",
        "version": 0,
    }


def test_status_change_and_cancel():
    new = {**BASE, "status": "cancelled", "cancel_reason": "marketplace_cancelled", "version": 1}
    out = dict(events_for(BASE, new))
    assert list(out) == ["OrderStatusChanged", "OrderCancelled"]
    assert out["OrderStatusChanged"]["from"] == "pending" and out["OrderStatusChanged"]["to"] == "cancelled"
    assert out["OrderCancelled"]["reason"] == "marketplace_cancelled"
    assert out["OrderCancelled"]["changed"]["cancel_reason"] == {"old": None, "new": "marketplace_cancelled"}


def test_update_lists_changed_fields_only():
    new = {**BASE, "recipient": {"name": "B", "country": "JP"}, "version": 1, "updated_at": "b"}
    [(dt, detail)] = events_for(BASE, new)
    assert dt == "OrderUpdated"
    assert detail["changed"] == {"recipient": {"old": BASE["recipient"], "new": new["recipient"]}}


def test_bookkeeping_only_changes_publish_nothing():
    assert events_for(BASE, {**BASE, "version": 3, "updated_at": "z", "marketplace_updated_at": "q"}) == []
    assert events_for(BASE, None) == []


def test_entries_are_eventbridge_shaped():
    [e] = entries(events_for(None, BASE), "bus")
    assert e["Source"] == SOURCE == "orderhub.orders"
    assert e["EventBusName"] == "bus" and e["DetailType"] == "OrderCreated"
    assert json.loads(e["Detail"])["order_id"] == "ord_1"
