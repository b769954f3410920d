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


def _lines(n: int, title: str) -> list[dict]:
    return [
        {"sku": f"S{i:03d}", "title": title, "quantity": 1, "price": "100", "item_code": None}
        for i in range(n)
    ]


def test_item_lines_in_an_event_are_what_a_history_entry_keeps():
    """An update of every line of a 500-line order: `changed.items` is the line diff (at most 32 KB),
    not two copies of the lines, so the entries fit one PutEvents (256 KiB)."""
    old = {**BASE, "items": _lines(500, "緑茶" * 60)}
    new = {**old, "items": _lines(500, "煎茶" * 60), "version": 1}
    [(dt, detail)] = events_for(old, new)
    assert dt == "OrderUpdated"
    items = detail["changed"]["items"]
    assert (items["lines_before"], items["lines_after"]) == (500, 500)
    assert items["omitted"] == 500 - len(items["changed"]) and items["changed"][0]["line"] == 1
    assert len(json.dumps([e["Detail"] for e in entries([(dt, detail)], "bus")]).encode()) < 64 * 1024


def test_a_heavy_created_order_carries_the_lines_that_fit():
    order = {**BASE, "items": _lines(500, "T" * 480)}
    [(_, detail)] = events_for(None, order)
    kept = detail["order"]["items"]
    assert kept == order["items"][: len(kept)] and detail["order"]["items_omitted"] == 500 - len(kept)
    [entry] = entries([("OrderCreated", detail)], "bus")
    assert len(entry["Detail"].encode()) < 256 * 1024 - 1024
    small = {**BASE, "items": _lines(2, "T")}
    assert events_for(None, small)[0][1]["order"] == small  # a usual order is whole
