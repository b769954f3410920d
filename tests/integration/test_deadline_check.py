"""The deadline check (docs/fulfillment.md) on moto: reads only DEADLINE items of by_due. Where the
integration's auto_refund_overdue is on (Wish by default; turned on for Shopify here where a test
is about refunds) it refunds overdue unshipped orders before picking, notes (and leaves) those the
warehouse has, and records the merchant's violation in the same transaction. Where it is off
(every other marketplace by default, manual and CSV orders always) the order is flagged overdue,
left as it is, listed (preset overdue) and counted (`overdue`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orderhub.api import fulfillment, request
from orderhub.domain.actions import Outcome
from orderhub.domain.models import Envelope
from orderhub.kernel import clock
from orderhub.orders import lifecycle, queries, registration
from orderhub.schedules import sweeps
from orderhub.store import db, keys
from orderhub.sync import integrations
from orderhub.webhooks import ingest
from tests.support.factories import T0, change, later, manual_body

RELEASED = later(61)  # 13:01 on 25 Nov in Tokyo; 5 × 24 h -> due at 13:01 on 30 Nov (Wish's refund)
DEADLINE = "2026-11-30T04:01:00.000Z"
LAST_MINUTE = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # 13:00 on 30 Nov in Tokyo
JUST_AFTER = datetime(2026, 11, 30, 4, 1, tzinfo=UTC)  # the deadline itself: 5 days have passed
COUNTS_ZERO = {"due": 0, "refunded": 0, "overdue": 0, "noted": 0, "skipped": 0, "errors": 0}


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.freeze(later(1))
    yield
    clock.freeze(None)


def env_of(ch, delivery_id: str, adapter: str = "shopify") -> str:
    return Envelope(
        merchant_id="demo", adapter=adapter, delivery_id=delivery_id, received_at=T0, change=ch
    ).model_dump_json()


def released(order_no: str, sku: str = "SKU-1") -> dict:
    ingest.process(env_of(change(order_no, placed_at=T0, sku=sku), f"d-{order_no}"))
    clock.freeze(RELEASED)
    sweeps.hold_sweep(RELEASED)
    [o] = queries.list_orders("demo", {"q": order_no})["orders"]
    assert o["status"] == "new" and o["deadline_at"] == DEADLINE
    return o


@pytest.fixture
def shopify_refunds(app_env):
    """The merchant turns auto_refund_overdue on for Shopify (off by default)."""
    integrations.put("demo", "shopify", {"auto_refund_overdue": True})


def force(order: dict, **fields) -> dict:
    """Put an order in a state the test needs (stage, tracking) with a version-checked write."""
    new, _ = lifecycle.apply(
        "demo", order["order_id"], lambda o, now: Outcome({**o, **fields}, "test_set"), actor="test"
    )
    return new


def run(at: datetime) -> dict:
    clock.freeze(at)
    return sweeps.deadline_check(at)


def result(**nonzero) -> dict:
    return {**COUNTS_ZERO, **nonzero}


def test_index_attrs_deadline_only_for_released_unshipped_orders():
    base = {
        "merchant_id": "m",
        "order_id": "o1",
        "marketplace_order_no": "1",
        "placed_at": "2026-11-25T03:00:00.000Z",
        "updated_at": "2026-11-25T03:00:00.000Z",
        "deadline_at": DEADLINE,
    }
    shard = str(keys.shard_of("o1", keys.DUE_SHARDS))  # the order's shard of each kind
    for status in ("new", "processing", "on_hold"):
        attrs = db.index_attrs({**base, "status": status})
        assert (attrs["due_kind"], attrs["due_at"]) == ("DEADLINE#" + shard, f"{DEADLINE}#m#o1")
        assert "overdue" not in attrs
        # flagged overdue (auto-refund off): out of the check's queue, into OVERDUE
        flagged = db.index_attrs({**base, "status": status, "overdue_at": "2026-11-30T05:00:00.000Z"})
        assert (flagged["due_kind"], flagged["due_at"], flagged["overdue"]) == (
            "OVERDUE#" + shard,
            f"{DEADLINE}#m#o1",
            True,
        )
        # the warehouse had it at the deadline: overdue, and still in the check's queue
        noted = db.index_attrs({**base, "status": status, "deadline_missed_at": "2026-11-30T05:00:00.000Z"})
        assert (noted["due_kind"], noted["overdue"]) == ("DEADLINE#" + shard, True)
    # a flag older than the current deadline (released again since) is void
    stale = db.index_attrs({**base, "status": "new", "overdue_at": "2026-11-01T00:00:00.000Z"})
    assert stale["due_kind"] == "DEADLINE#" + shard and "overdue" not in stale
    assert "due_kind" not in db.index_attrs({**base, "status": "new", "tracking": {"carrier": "x"}})
    for status in ("shipped", "cancelled", "closed"):
        assert "due_kind" not in db.index_attrs({**base, "status": status})
    hold = db.index_attrs({**base, "status": "pending", "hold_release_at": "2026-11-25T04:00:00.000Z"})
    assert hold["due_kind"] == "HOLD#" + shard
    relink = {
        "status": "deleted",
        "closeout_state": "relinking",
        "relink_requested_at": "2026-11-26T00:00:00.000Z",
    }
    assert db.index_attrs({**base, **relink})["due_kind"] == "RELINK#" + shard


def test_refunded_when_the_five_days_are_up_not_a_minute_before(app_env, shopify_refunds):
    o = released("D1", sku="SKU-9")
    released("D2")  # a second order shares the deadline
    before = queries.counts("demo")
    assert run(LAST_MINUTE) == result()
    assert run(JUST_AFTER) == result(due=2, refunded=2)
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
    assert v["deadline_at"] == DEADLINE and v["skus"] == ["SKU-9"]
    assert queries.counts("demo")["overdue"] == 0  # refunded, not left overdue


def test_violations_newest_first_and_paged(app_env, shopify_refunds):
    released("V1")
    run(JUST_AFTER)
    ingest.process(env_of(change("V2", placed_at=JUST_AFTER), "d-V2"))
    sweeps.hold_sweep(JUST_AFTER + timedelta(hours=1))
    run(JUST_AFTER + timedelta(days=7))
    listed = queries.list_violations("demo", {"page_size": "25"})
    assert [v["marketplace_order_no"] for v in listed["violations"]] == ["V2", "V1"]
    assert listed["next_cursor"] is None


def test_requested_shipment_is_deleted_and_picking_is_left_to_the_warehouse(app_env, shopify_refunds):
    req = force(released("R1"), status="processing", shipment_stage="requested")
    pick = force(released("P1"), status="processing", shipment_stage="picking")
    assert run(JUST_AFTER) == result(due=2, refunded=1, noted=1)
    assert db.get_order("demo", req["order_id"])["shipment_stage"] == "deleted"
    p = queries.get_order_with_history("demo", pick["order_id"])
    assert (p["status"], p["shipment_stage"]) == ("processing", "picking")
    assert p["history"][-1]["action"] == "deadline_missed" and "warehouse" in p["history"][-1]["note"]
    # noted once: later runs still see it due but write nothing
    assert run(JUST_AFTER + timedelta(hours=1)) == result(due=1, skipped=1)
    assert db.get_order("demo", pick["order_id"])["version"] == p["version"]
    # not refunded, so shown as overdue
    assert p["overdue"] is True and queries.counts("demo")["overdue"] == 1
    assert [v["order_id"] for v in queries.list_violations("demo", {})["violations"]] == [req["order_id"]]


def test_a_shipped_order_is_never_due(app_env):
    o = released("S1")
    tracking = {"carrier": "Yamato", "tracking_number": "1"}
    force(o, status="shipped", shipment_stage="shipped", tracking=tracking)
    assert run(JUST_AFTER + timedelta(days=30))["due"] == 0
    assert db.get_order("demo", o["order_id"])["status"] == "shipped"


def test_a_stale_index_copy_is_reread_before_refunding(app_env, shopify_refunds, monkeypatch):
    """The check writes from the index item it read (one call per order); when the order changed
    after that read (shipped here), the version-conditioned write fails and the fresh order wins."""
    o = released("X1")
    stale = list(sweeps.due_items("DEADLINE", JUST_AFTER))
    assert [i["order_id"] for i in stale] == [o["order_id"]]
    tracking = {"carrier": "Yamato", "tracking_number": "1"}
    shipped = force(o, status="shipped", shipment_stage="shipped", tracking=tracking)
    monkeypatch.setattr(sweeps, "due_items", lambda kind, now: iter(stale))
    assert run(JUST_AFTER) == result(due=1, skipped=1)
    after = db.get_order("demo", o["order_id"])
    assert (after["status"], after["version"]) == ("shipped", shipped["version"])
    assert queries.list_violations("demo", {})["violations"] == []


def test_get_violations_route(app_env, shopify_refunds, monkeypatch):
    released("G1")
    run(JUST_AFTER)
    monkeypatch.setattr(request, "merchant_id", lambda: "demo")
    monkeypatch.setattr(request, "query", lambda: {})
    resp = fulfillment.list_violations()
    assert resp.status_code == 200
    import json

    assert [v["marketplace_order_no"] for v in json.loads(resp.body)["violations"]] == ["G1"]


# ---------------------------------------------------------------- auto-refund off: shown as overdue
def test_by_default_a_shopify_order_is_flagged_overdue_not_refunded(app_env, monkeypatch):
    """Shopify does not refund by itself: the order stays as it is, shown, listed and counted as
    overdue; nothing is cancelled, reflected to the marketplace or recorded as a violation."""
    from orderhub.sync import reflect

    reflected = []
    monkeypatch.setattr(reflect, "after_merchant_cancel", lambda order: reflected.append(order))
    o = released("O1")
    on_time = released("O2")
    force(on_time, deadline_at="2026-12-02T04:01:00.000Z")  # a later deadline (released later)
    assert queries.counts("demo")["overdue"] == 0 and queries.order_view(o)["overdue"] is False
    assert run(LAST_MINUTE) == result()
    assert run(JUST_AFTER) == result(due=1, overdue=1)

    view = queries.get_order_with_history("demo", o["order_id"])
    assert (view["status"], view["cancel_reason"], view["overdue"]) == ("new", None, True)
    assert view["overdue_at"] == clock.iso(JUST_AFTER) and view["days_remaining"] == 0
    last = view["history"][-1]
    assert (last["actor"], last["action"]) == ("system", "deadline_overdue") and "not refunded" in last[
        "note"
    ]
    assert reflected == [] and queries.list_violations("demo", {})["violations"] == []
    assert queries.list_flagged_skus("demo", {})["flagged_skus"] == []

    counts = queries.counts("demo")
    assert (counts["overdue"], counts["new"], counts["cancelled"]) == (1, 2, 0)
    listed = queries.list_orders("demo", {"preset": "overdue"})["orders"]
    assert [x["order_id"] for x in listed] == [o["order_id"]]
    assert queries.list_orders("demo", {"preset": "overdue", "status": "new"})["orders"] == listed
    # read once: it left the check's queue, the next runs read nothing and write nothing
    assert run(JUST_AFTER + timedelta(hours=1)) == result()
    assert run(JUST_AFTER + timedelta(days=3))["due"] == 1  # O2 only, then
    assert db.get_order("demo", o["order_id"])["version"] == view["version"]


def test_shipping_an_overdue_order_ends_its_overdue(app_env):
    o = released("O3")
    run(JUST_AFTER)
    assert queries.counts("demo")["overdue"] == 1
    tracking = {"carrier": "yamato", "tracking_number": "444455556666"}
    force(db.get_order("demo", o["order_id"]), status="shipped", shipment_stage="shipped", tracking=tracking)
    assert queries.counts("demo")["overdue"] == 0
    assert queries.list_orders("demo", {"preset": "overdue"})["orders"] == []
    assert queries.order_view(db.get_order("demo", o["order_id"])).get("overdue") is None


def test_wish_refunds_by_default_and_the_merchant_may_turn_it_off(app_env):
    wish = change("W1", marketplace="wish", method="marketplace", placed_at=RELEASED)
    clock.freeze(RELEASED)
    ingest.process(env_of(wish, "d-W1", adapter="wish"))
    [w] = queries.list_orders("demo", {"q": "W1"})["orders"]
    assert (w["marketplace"], w["status"], w["deadline_at"]) == ("wish", "new", DEADLINE)
    assert run(JUST_AFTER) == result(due=1, refunded=1)
    assert db.get_order("demo", w["order_id"])["cancel_reason"] == "deadline_refunded"

    integrations.put("demo", "wish", {"auto_refund_overdue": False})
    clock.freeze(RELEASED)
    ingest.process(
        env_of(change("W2", marketplace="wish", method="marketplace", placed_at=RELEASED), "d-W2", "wish")
    )
    [w2] = queries.list_orders("demo", {"q": "W2"})["orders"]
    assert run(JUST_AFTER) == result(due=1, overdue=1)
    assert queries.order_view(db.get_order("demo", w2["order_id"]))["overdue"] is True


def test_manual_and_csv_orders_are_never_refunded_even_where_the_marketplace_refunds(app_env):
    """A Wish order typed in by hand: Wish's refund setting is on, but orderhub did not get the
    order from Wish, so the deadline check only flags it."""
    clock.freeze(RELEASED)
    body = {
        **manual_body("wish", "MW-1", sku="TS-RED-M", price="1980"),
        "placed_at": "2026-11-25T12:00:00+09:00",
        "payment": {"method": "card", "paid_at": "2026-11-25T12:00:00+09:00"},
        "currency": "JPY",
    }
    view = registration.register_manual("demo", body)
    assert (view["origin"], view["deadline_at"]) == ("manual", DEADLINE)
    assert run(JUST_AFTER) == result(due=1, overdue=1)
    assert db.get_order("demo", view["order_id"])["status"] == "new"
    assert queries.list_violations("demo", {})["violations"] == []
