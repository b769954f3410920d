"""The deadline check (docs/fulfillment.md) on moto: reads only DEADLINE items of by_due, refunds overdue
unshipped orders before picking, notes (and leaves) those the warehouse has, and records the
merchant's violation in the same transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orderhub.api import fulfillment, request
from orderhub.domain.actions import Outcome
from orderhub.domain.models import Envelope
from orderhub.kernel import clock
from orderhub.orders import lifecycle, queries
from orderhub.schedules import sweeps
from orderhub.store import db
from orderhub.webhooks import ingest
from tests.support.factories import T0, change, later

RELEASED = later(61)  # 13:01 on 25 Nov in Tokyo: day 0; 5 days -> due by the end of 30 Nov
LAST_MINUTE = datetime(2026, 11, 30, 14, 59, tzinfo=UTC)  # 23:59 on 30 Nov in Tokyo
JUST_AFTER = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 00:00 on 1 Dec in Tokyo


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.freeze(later(1))
    yield
    clock.freeze(None)


def env_of(ch, delivery_id: str) -> str:
    return Envelope(
        merchant_id="demo", adapter="shopify", delivery_id=delivery_id, received_at=T0, change=ch
    ).model_dump_json()


def released(order_no: str, sku: str = "SKU-1") -> dict:
    ingest.process(env_of(change(order_no, placed_at=T0, sku=sku), f"d-{order_no}"))
    clock.freeze(RELEASED)
    sweeps.hold_sweep(RELEASED)
    [o] = queries.list_orders("demo", {"q": order_no})["orders"]
    assert o["status"] == "new" and o["deadline_at"] == "2026-11-30T14:59:59.999Z"
    return o


def force(order: dict, **fields) -> dict:
    """Put an order in a state the test needs (stage, tracking) with a version-checked write."""
    new, _ = lifecycle.apply(
        "demo", order["order_id"], lambda o, now: Outcome({**o, **fields}, "test_set"), actor="test"
    )
    return new


def run(at: datetime) -> dict:
    clock.freeze(at)
    return sweeps.deadline_check(at)


def test_index_attrs_deadline_only_for_released_unshipped_orders():
    base = {
        "merchant_id": "m",
        "order_id": "o1",
        "marketplace_order_no": "1",
        "placed_at": "2026-11-25T03:00:00.000Z",
        "updated_at": "2026-11-25T03:00:00.000Z",
        "deadline_at": "2026-11-30T14:59:59.999Z",
    }
    for status in ("new", "processing", "on_hold"):
        attrs = db.index_attrs({**base, "status": status})
        assert (attrs["due_kind"], attrs["due_at"]) == ("DEADLINE", "2026-11-30T14:59:59.999Z#m#o1")
    assert "due_kind" not in db.index_attrs({**base, "status": "new", "tracking": {"carrier": "x"}})
    for status in ("shipped", "cancelled", "closed"):
        assert "due_kind" not in db.index_attrs({**base, "status": status})
    hold = db.index_attrs({**base, "status": "pending", "hold_release_at": "2026-11-25T04:00:00.000Z"})
    assert hold["due_kind"] == "HOLD"
    relink = {
        "status": "deleted",
        "closeout_state": "relinking",
        "relink_requested_at": "2026-11-26T00:00:00.000Z",
    }
    assert db.index_attrs({**base, **relink})["due_kind"] == "RELINK"


def test_refunded_just_after_the_deadline_day_not_in_its_last_minute(app_env):
    o = released("D1", sku="SKU-9")
    released("D2")  # a second order shares the deadline
    before = queries.counts("demo")
    assert run(LAST_MINUTE) == {"due": 0, "refunded": 0, "noted": 0, "skipped": 0, "errors": 0}
    assert run(JUST_AFTER) == {"due": 2, "refunded": 2, "noted": 0, "skipped": 0, "errors": 0}
    after = queries.counts("demo")
    assert after["cancelled"] == before["cancelled"] + 2 and after["new"] == before["new"] - 2
    view = queries.get_order_with_history("demo", o["order_id"])
    assert view["status"] == "cancelled" and view["cancel_reason"] == "deadline_refunded"
    last = view["history"][-1]
    assert (last["actor"], last["action"]) == ("system", "deadline_refunded")
    # off the DEADLINE queue: the next run reads nothing
    assert run(JUST_AFTER + timedelta(hours=1))["due"] == 0
    listed = queries.list_violations("demo", {})["violations"]
    assert len(listed) == 2
    v = next(v for v in listed if v["order_id"] == o["order_id"])
    assert v["marketplace"] == "shopify" and v["marketplace_order_no"] == "D1"
    assert v["deadline_at"] == "2026-11-30T14:59:59.999Z" and v["skus"] == ["SKU-9"]


def test_violations_newest_first_and_paged(app_env):
    released("V1")
    run(JUST_AFTER)
    ingest.process(env_of(change("V2", placed_at=JUST_AFTER), "d-V2"))
    sweeps.hold_sweep(JUST_AFTER + timedelta(hours=1))
    run(JUST_AFTER + timedelta(days=7))
    listed = queries.list_violations("demo", {"page_size": "25"})
    assert [v["marketplace_order_no"] for v in listed["violations"]] == ["V2", "V1"]
    assert listed["next_cursor"] is None


def test_requested_shipment_is_deleted_and_picking_is_left_to_the_warehouse(app_env):
    req = force(released("R1"), status="processing", shipment_stage="requested")
    pick = force(released("P1"), status="processing", shipment_stage="picking")
    result = run(JUST_AFTER)
    assert result == {"due": 2, "refunded": 1, "noted": 1, "skipped": 0, "errors": 0}
    assert db.get_order("demo", req["order_id"])["shipment_stage"] == "deleted"
    p = queries.get_order_with_history("demo", pick["order_id"])
    assert (p["status"], p["shipment_stage"]) == ("processing", "picking")
    assert p["history"][-1]["action"] == "deadline_missed" and "warehouse" in p["history"][-1]["note"]
    # noted once: later runs still see it due but write nothing
    assert run(JUST_AFTER + timedelta(hours=1)) == {
        "due": 1,
        "refunded": 0,
        "noted": 0,
        "skipped": 1,
        "errors": 0,
    }
    assert db.get_order("demo", pick["order_id"])["version"] == p["version"]
    assert [v["order_id"] for v in queries.list_violations("demo", {})["violations"]] == [req["order_id"]]


def test_a_shipped_order_is_never_due(app_env):
    o = released("S1")
    tracking = {"carrier": "Yamato", "tracking_number": "1"}
    force(o, status="shipped", shipment_stage="shipped", tracking=tracking)
    assert run(JUST_AFTER + timedelta(days=30))["due"] == 0
    assert db.get_order("demo", o["order_id"])["status"] == "shipped"


def test_a_stale_index_copy_is_reread_before_refunding(app_env, monkeypatch):
    """The check writes from the index item it read (one call per order); when the order changed
    after that read (shipped here), the version-conditioned write fails and the fresh order wins."""
    o = released("X1")
    stale = list(sweeps.due_items("DEADLINE", JUST_AFTER))
    assert [i["order_id"] for i in stale] == [o["order_id"]]
    tracking = {"carrier": "Yamato", "tracking_number": "1"}
    shipped = force(o, status="shipped", shipment_stage="shipped", tracking=tracking)
    monkeypatch.setattr(sweeps, "due_items", lambda kind, now: iter(stale))
    assert run(JUST_AFTER) == {"due": 1, "refunded": 0, "noted": 0, "skipped": 1, "errors": 0}
    after = db.get_order("demo", o["order_id"])
    assert (after["status"], after["version"]) == ("shipped", shipped["version"])
    assert queries.list_violations("demo", {})["violations"] == []


def test_get_violations_route(app_env, monkeypatch):
    released("G1")
    run(JUST_AFTER)
    monkeypatch.setattr(request, "merchant_id", lambda: "demo")
    monkeypatch.setattr(request, "query", lambda: {})
    resp = fulfillment.list_violations()
    assert resp.status_code == 200
    import json

    assert [v["marketplace_order_no"] for v in json.loads(resp.body)["violations"]] == ["G1"]
