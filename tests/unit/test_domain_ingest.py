"""Rules for applying marketplace changes (docs/orders.md, docs/webhooks.md), without AWS."""

from __future__ import annotations

import pytest

from orderhub.domain.ingest import Create, Ignore, Update, decide
from orderhub.domain.release import release_due
from orderhub.domain.settings import Integration
from orderhub.kernel import clock
from tests.support.factories import T0, change, later

DEFAULT = Integration()
KW = {"merchant_id": "demo", "order_id": "ord_1", "packing_no": "PK1"}


def create(ch, integration=DEFAULT, now=None):
    d = decide(None, ch, integration, now or later(1), **KW)
    assert isinstance(d, Create)
    return d.order


@pytest.mark.parametrize("method", ["card", "cod", "other"])
def test_card_and_cod_wait_for_the_hold_window(method):
    order = create(change(method=method, paid=method == "card"))
    assert order["status"] == "pending"
    assert order["hold_release_at"] == clock.iso(later(60))
    assert order["released_at"] is None


def test_hold_window_is_per_marketplace_setting():
    order = create(change(method="card"), Integration(hold_minutes=15))
    assert order["hold_release_at"] == clock.iso(later(15))


def test_an_order_whose_hold_already_ended_is_released_at_once():
    order = create(change(method="cod", paid=False), now=later(90))
    assert order["status"] == "new"
    assert order["released_at"] == clock.iso(later(90))
    assert order["hold_release_at"] is None


@pytest.mark.parametrize("method", ["bank_transfer", "konbini"])
def test_deferred_payment_stays_pending_until_paid(method):
    order = create(change(method=method, paid=False))
    assert order["status"] == "pending"
    assert order["hold_release_at"] is None  # no sweep releases it

    d = decide(
        order, change(method=method, paid=True, topic="paid", updated_at=later(30)), DEFAULT, later(31)
    )
    assert isinstance(d, Update)
    assert d.order["status"] == "new"
    assert d.order["released_at"] == clock.iso(later(31))
    assert d.changes["status"] == ["pending", "new"]


def test_deferred_payment_already_paid_is_new_at_once():
    assert create(change(method="bank_transfer", paid=True))["status"] == "new"


def test_marketplace_collected_payment_is_new_at_once():
    assert create(change(method="marketplace", marketplace="wish"))["status"] == "new"


def test_a_marketplace_payment_not_yet_cleared_waits_until_the_marketplace_shows_it_paid():
    """Amazon's Pending orders: Amazon collects the payment but has not cleared it; no address,
    no shipping. They wait in pending (no hold sweep) and are released when Amazon shows them
    paid (Unshipped)."""
    order = create(change(method="marketplace", paid=False, marketplace="amazon"))
    assert (order["status"], order["hold_release_at"]) == ("pending", None)
    d = decide(
        order,
        change(method="marketplace", paid=True, marketplace="amazon", updated_at=later(30)),
        DEFAULT,
        later(31),
    )
    assert isinstance(d, Update) and d.order["status"] == "processing"  # Amazon's new is processing
    assert d.changes["status"] == ["pending", "processing"]


def test_auto_confirm_and_amazon_go_straight_to_processing():
    assert create(change(method="marketplace"), Integration(auto_confirm=True))["status"] == "processing"
    assert create(change(method="bank_transfer", marketplace="amazon"))["status"] == "processing"
    # qoo10 confirms automatically by default; unpaid deferred orders still wait
    q = Integration.from_profile({}, "qoo10")
    assert q.auto_confirm is True
    assert create(change(method="konbini", paid=False, marketplace="qoo10"), q)["status"] == "pending"


def test_card_payment_reported_does_not_cut_the_hold_short():
    order = create(change(method="card", paid=False))
    d = decide(order, change(method="card", paid=True, topic="paid", updated_at=later(5)), DEFAULT, later(6))
    assert isinstance(d, Update)
    assert d.order["status"] == "pending"
    assert d.order["payment"]["paid_at"] is not None


def test_stale_change_is_ignored_equal_is_applied():
    order = create(change(updated_at=later(10)))
    assert decide(order, change(updated_at=later(9), topic="updated"), DEFAULT, later(11)) == Ignore(
        "stale", f"updated_at {clock.iso(later(9))} is older than {clock.iso(later(10))}"
    )
    same = decide(order, change(updated_at=later(10), topic="updated", name="New Name"), DEFAULT, later(11))
    assert isinstance(same, Update)
    assert same.changes["recipient"][1]["name"] == "New Name"


def test_cancel_at_stage_none_cancels():
    order = create(change(method="bank_transfer", paid=True))
    d = decide(
        order, change(topic="cancelled", updated_at=later(5), cancelled_at=later(5)), DEFAULT, later(6)
    )
    assert d.order["status"] == "cancelled"
    assert d.order["cancel_reason"] == "marketplace_cancelled"
    assert d.order["cancelled_at"] == clock.iso(later(5))


def test_cancel_at_stage_requested_deletes_the_shipment_request():
    order = {**create(change(method="bank_transfer")), "status": "processing", "shipment_stage": "requested"}
    d = decide(order, change(topic="cancelled", updated_at=later(5)), DEFAULT, later(6))
    assert (d.order["status"], d.order["shipment_stage"]) == ("cancelled", "deleted")


@pytest.mark.parametrize("stage", ["picking", "picked", "packed", "shipped"])
def test_cancel_after_work_started_puts_the_order_on_hold(stage):
    order = {**create(change(method="bank_transfer")), "status": "processing", "shipment_stage": stage}
    d = decide(order, change(topic="cancelled", updated_at=later(5)), DEFAULT, later(6))
    assert d.order["status"] == "on_hold"
    assert d.action == "cancel_not_reflected"
    if stage in ("packed", "shipped"):
        assert "refuse" in d.reason


def test_a_cancelled_number_never_comes_back():
    order = create(change(topic="cancelled", cancelled_at=T0))
    assert order["status"] == "cancelled"  # first seen as cancelled: kept, number retired
    for topic in ("created", "updated", "paid"):
        d = decide(order, change(topic=topic, updated_at=later(60)), DEFAULT, later(61))
        assert d == Ignore("cancelled_number", "the order is cancelled; its number cannot come back")


def test_deleted_order_is_not_reimported():
    order = {**create(change()), "status": "deleted"}
    assert (
        decide(order, change(topic="updated", updated_at=later(60)), DEFAULT, later(61)).reason == "deleted"
    )


def test_items_are_not_carried_once_the_shipment_exists():
    order = {**create(change(method="bank_transfer")), "status": "processing", "shipment_stage": "requested"}
    d = decide(
        order, change(topic="updated", updated_at=later(5), quantity=3, name="Hanako"), DEFAULT, later(6)
    )
    assert d.order["items"] == order["items"]
    assert d.ignored_fields == ["items"]
    assert d.order["recipient"]["name"] == "Hanako"


def test_mapping_result_follows_item_codes():
    assert create(change())["mapping"] == "fail"
    assert create(change(item_code="ITEM-9"))["mapping"] == "ok"


def test_hold_sweep_rule():
    order = create(change(method="card"))
    assert release_due(order, DEFAULT, later(59)) is None
    released = release_due(order, DEFAULT, later(60))
    assert released["status"] == "new" and released["released_at"] == clock.iso(later(60))
    assert release_due({**order, "status": "cancelled"}, DEFAULT, later(120)) is None


# ------------------------------------------------- an unsigned topic header only labels a change
@pytest.mark.parametrize(
    "topic, paid, cancelled",
    [
        ("cancelled", True, False),
        ("paid", False, False),
        ("tracking_cancelled", True, False),
        ("rereleased", True, False),
        ("claim_opened", True, False),
        ("claim_closed", True, False),
    ],
)
def test_a_header_topic_the_body_does_not_bear_out_changes_nothing(topic, paid, cancelled):
    order = {**create(change(method="bank_transfer", paid=False)), "tracking": {"number": "T1"}}
    replayed = change(
        topic=topic, topic_source="header", method="bank_transfer", paid=paid, updated_at=later(5)
    )
    for existing in (order, None):
        d = decide(existing, replayed, DEFAULT, later(6))
        assert isinstance(d, Ignore) and d.reason == "topic_disagrees_with_body", d


def test_the_body_decides_whatever_the_header_topic():
    order = create(change(method="bank_transfer", paid=False))
    assert order["status"] == "pending"
    paid = decide(
        order,
        change(topic="paid", topic_source="header", method="bank_transfer", updated_at=later(5)),
        DEFAULT,
        later(6),
    )
    assert paid.order["status"] == "new"
    # an "updated" topic whose body is cancelled cancels: the body says so
    cancel = change(topic="updated", topic_source="header", updated_at=later(5), cancelled_at=later(5))
    assert decide(order, cancel, DEFAULT, later(6)).order["status"] == "cancelled"


# ------------------------------------------------- a marketplace's own re-release (seed 004, Wish)
def _shipped_wish_order():
    order = create(change(marketplace="wish", method="marketplace"))
    tracking = {"carrier": "japan_post", "tracking_number": "EJ123456789JP"}
    return {**order, "status": "shipped", "tracking": tracking, "shipment_stage": "none"}


def test_a_shipped_order_the_marketplace_shows_released_again_is_rereleased():
    order = _shipped_wish_order()
    again = change(marketplace="wish", method="marketplace", topic="updated", awaiting_shipment=True,
                   paid_at=later(60 * 24 * 3), updated_at=later(60 * 24 * 3))  # fmt: skip
    d = decide(order, again, DEFAULT, later(60 * 24 * 3 + 1))
    assert isinstance(d, Update) and d.action == "rereleased", d
    assert (d.order["status"], d.order["tracking"]) == ("processing", None)
    assert d.order["previous_tracking"][-1]["tracking_number"] == "EJ123456789JP"
    assert d.order["released_at"] == clock.iso(later(60 * 24 * 3 + 1))
    assert d.order["payment"]["paid_at"] == clock.iso(later(60 * 24 * 3))


@pytest.mark.parametrize("awaiting, minutes", [(True, 0), (False, 60), (None, 60)])
def test_no_rerelease_without_a_later_release_shown_waiting_for_shipment(awaiting, minutes):
    order = _shipped_wish_order()
    same = change(marketplace="wish", method="marketplace", topic="updated", awaiting_shipment=awaiting,
                  paid_at=later(minutes), updated_at=later(90))  # fmt: skip
    d = decide(order, same, DEFAULT, later(91))
    assert not (isinstance(d, Update) and d.action == "rereleased"), d
    assert (d.order if isinstance(d, Update) else order)["status"] == "shipped"


# ------------------------------------------------- a refund after shipping closes (seed 003)
@pytest.mark.parametrize("status", ["shipped", "on_hold"])
def test_a_refund_after_shipping_closes_the_order(status):
    order = {**_shipped_wish_order(), "status": status}
    refund = change(marketplace="wish", method="marketplace", topic="cancelled", refunded=True,
                    updated_at=later(90), cancelled_at=later(90))  # fmt: skip
    d = decide(order, refund, DEFAULT, later(91))
    assert isinstance(d, Update) and d.action == "closed", d
    assert d.order["status"] == "closed" and d.order["close_reason"] == "refunded"
    assert d.order["tracking"] == order["tracking"]


def test_a_refund_before_shipping_is_a_cancel():
    order = create(change(marketplace="wish", method="marketplace"))
    refund = change(marketplace="wish", method="marketplace", topic="cancelled", refunded=True,
                    updated_at=later(90), cancelled_at=later(90))  # fmt: skip
    assert decide(order, refund, DEFAULT, later(91)).order["status"] == "cancelled"


# ------------------------------------------------- claims: a cancel or return request (seed 003)
def _claim(order, state, minutes, kind="return", topic=None):
    body = change(
        topic=topic or f"claim_{'opened' if state == 'open' else 'closed'}",
        updated_at=later(minutes),
        claim={"state": state, "kind": kind, "reason": "size"},
    )
    return decide(order, body, DEFAULT, later(minutes))


@pytest.mark.parametrize("status", ["pending", "new", "processing", "shipped"])
def test_an_open_claim_holds_the_order_and_its_closing_brings_it_back(status):
    order = {**create(change()), "status": status}
    opened = _claim(order, "open", 5)
    assert isinstance(opened, Update) and opened.action == "claim_opened"
    held = opened.order
    assert held["status"] == "on_hold" and held["held_from"] == status
    assert held["claim"]["state"] == "open" and held["claim"]["held"] is True
    assert "status" in opened.changes and "claim" in opened.changes
    closed = _claim({**held, "version": 2}, "closed", 10)
    assert closed.action == "claim_closed" and closed.order["status"] == status
    assert closed.order["claim"]["state"] == "closed" and closed.order["held_from"] is None


def test_a_claim_on_an_order_already_on_hold_leaves_it_on_hold_when_it_closes():
    order = {**create(change()), "status": "on_hold", "held_from": "new", "hold_reason": "the merchant's"}
    opened = _claim(order, "open", 5, kind="cancel")
    assert (opened.action, opened.order["status"], opened.order["claim"]["held"]) == (
        "claim_opened",
        "on_hold",
        False,
    )
    closed = _claim(opened.order, "closed", 10)
    assert (closed.action, closed.order["status"], closed.order["hold_reason"]) == (
        "claim_closed",
        "on_hold",
        "the merchant's",
    )


def test_a_claim_state_in_an_update_body_counts_and_a_repeat_changes_nothing():
    order = create(change())
    opened = _claim(order, "open", 5, topic="updated")
    assert opened.action == "claim_opened" and opened.order["status"] == "on_hold"
    again = _claim(opened.order, "open", 6, topic="updated")
    assert again.action == "updated" and "claim" not in again.changes
    assert again.order["status"] == "on_hold"


def test_a_claim_closing_that_was_never_open_changes_nothing():
    order = create(change())
    closed = _claim(order, "closed", 5)
    assert isinstance(closed, Update) and closed.order["status"] == order["status"]
    assert "claim" not in closed.changes and "status" not in closed.changes


def test_a_claim_for_an_unknown_cancelled_or_closed_order():
    assert _claim(None, "open", 5).reason == "unknown_order"
    cancelled = {**create(change()), "status": "cancelled"}
    assert _claim(cancelled, "open", 5).reason == "cancelled_number"
    closed = _claim({**create(change()), "status": "closed"}, "open", 5)
    assert closed.order["status"] == "closed" and closed.order["claim"]["held"] is False


def test_a_new_order_that_arrives_with_an_open_claim_starts_on_hold():
    created = decide(None, change(claim={"state": "open", "kind": "cancel"}), DEFAULT, later(1), **KW)
    assert isinstance(created, Create) and created.order["status"] == "on_hold"
    assert created.order["held_from"] in ("pending", "new")


def test_an_order_the_marketplace_already_shows_shipped_is_not_created():
    """A pull's back-fill reads orders the merchant shipped before orderhub: they are recorded as
    ignored, not created as unshipped orders with a deadline."""
    d = decide(
        None,
        change("S-1", "updated", marketplace="rakuten", awaiting_shipment=False),
        DEFAULT,
        later(1),
        **KW,
    )
    assert isinstance(d, Ignore) and d.reason == "shipped_at_marketplace"
    waiting = change("S-2", "updated", marketplace="rakuten", awaiting_shipment=True)
    assert isinstance(decide(None, waiting, DEFAULT, later(1), **KW), Create)
    unknown = change("S-3", "updated", marketplace="generic")  # a format that cannot tell
    assert isinstance(decide(None, unknown, DEFAULT, later(1), **KW), Create)
