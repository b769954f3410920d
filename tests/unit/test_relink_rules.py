"""The relink rules (docs/orders.md) (request and sweep checks), without AWS."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orderhub.domain import closeout
from orderhub.domain.closeout import CloseoutRefused
from orderhub.kernel import clock
from tests.support.factories import T0, change

NOW = T0 + timedelta(days=2)


def deleted(origin: str = "api", days_ago: float = 1, **over) -> dict:
    o = {
        "order_id": "ord_1",
        "status": "deleted",
        "origin": origin,
        "deleted_at": clock.iso(NOW - timedelta(days=days_ago)),
        "payment": {"paid_at": clock.iso(T0)},
        "version": 3,
    }
    o.update(over)
    return o


@pytest.mark.parametrize(
    ("order", "start", "rule"),
    [
        (deleted(status="new"), None, "relink_needs_deleted"),
        (deleted("csv"), None, "relink_needs_api"),
        (deleted(days_ago=14.1), None, "deleted_over_14_days_ago"),
        (deleted(), NOW, "deleted_before_service_start"),
        (deleted(closeout_state="relinking"), None, "relink_relinking"),
        (deleted(closeout_state="relinked"), None, "relink_relinked"),
    ],
)
def test_request_refusals(order, start, rule):
    with pytest.raises(CloseoutRefused) as exc:
        closeout.check_relink(order, NOW, start)
    assert exc.value.details["rule"] == rule


@pytest.mark.parametrize("stored", [None, "relink_failed"])
def test_request_allowed_and_marks_relinking(stored):
    order = deleted(closeout_state=stored, closeout_failure={"reason": "claim"} if stored else None)
    closeout.check_relink(order, NOW)
    new = closeout.relink_requested(order, NOW)
    assert new["closeout_state"] == "relinking" and new["relink_requested_at"] == clock.iso(NOW)
    assert "closeout_failure" not in new


def test_valid_marketplace_order_passes():
    assert closeout.relink_problem(deleted(), change("1"), False, NOW) is None
    assert closeout.relink_problem(deleted(), change("1"), None, NOW) is None  # format cannot tell
    settled = change("1", claim={"state": "closed", "kind": "return"})
    assert closeout.relink_problem(deleted(), settled, False, NOW) is None  # a settled claim passes


@pytest.mark.parametrize(
    ("fetched", "shipping", "order", "start", "reason"),
    [
        (change("1", cancelled_at=T0), False, deleted(), None, "claim"),
        (change("1", topic="cancelled"), False, deleted(), None, "claim"),
        (change("1", refunded=True), False, deleted(), None, "claim"),
        (change("1", claim={"state": "open", "kind": "return"}), False, deleted(), None, "claim"),
        (change("1"), True, deleted(), None, "shipping_started"),
        (change("1", paid=False), False, deleted(), None, "payment_date_differs"),
        (change("1", placed_at=T0 + timedelta(hours=1)), False, deleted(), None, "payment_date_differs"),
        (change("1"), False, deleted(payment={"paid_at": None}), None, "payment_date_differs"),
        (change("1"), False, deleted(days_ago=15), None, "deleted_over_14_days_ago"),
        (change("1"), False, deleted(), NOW, "deleted_before_service_start"),
    ],
)
def test_relink_failures(fetched, shipping, order, start, reason):
    problem = closeout.relink_problem(order, fetched, shipping, NOW, start)
    assert problem is not None and problem[0] == reason
    failed = closeout.relink_failed(order, reason, NOW, **problem[1])
    assert failed["closeout_state"] == "relink_failed" and failed["closeout_failure"]["reason"] == reason
    assert closeout.state(failed, NOW, start) in ("relink_failed", "not_relinkable")


def test_relinked_links_to_the_new_order():
    new = closeout.relinked(deleted(closeout_state="relinking"), "ord_2", "PK2", NOW)
    assert new["closeout_state"] == "relinked" and new["relinked_to"] == "ord_2"
    assert closeout.state(new, NOW) == "relinked"


def test_only_relinking_deleted_orders_are_on_the_relink_index():
    from orderhub.store import db, keys

    base = deleted(
        merchant_id="m1",
        placed_at=clock.iso(T0),
        updated_at=clock.iso(NOW),
        marketplace_order_no="1",
        relink_requested_at=clock.iso(NOW),
    )
    attrs = db.index_attrs({**base, "closeout_state": "relinking"})
    assert (
        attrs["due_kind"] == keys.sharded("RELINK", "ord_1", keys.DUE_SHARDS)
        and attrs["due_at"] == f"{clock.iso(NOW)}#m1#ord_1"
    )
    for state in (None, "relinked", "relink_failed"):
        assert "due_kind" not in db.index_attrs({**base, "closeout_state": state})


@pytest.mark.parametrize(
    ("pointed", "holder", "problem"),
    [
        (None, None, None),  # no order holds the number
        ("ord_1", None, None),  # the deleted order itself
        ("ord_2", {"order_id": "ord_2", "status": "deleted"}, None),  # a deleted order: free
        ("ord_2", {"order_id": "ord_2", "status": "new"}, ("duplicate", {"active_order_id": "ord_2"})),
        ("ord_2", {"order_id": "ord_2", "status": "cancelled"}, ("duplicate", {"active_order_id": "ord_2"})),
        ("ord_2", None, ("duplicate", {"active_order_id": "ord_2"})),  # held by an order not found
    ],
)
def test_the_number_must_not_be_held_by_another_order(pointed, holder, problem):
    assert closeout.relink_number_problem(deleted(), pointed, holder) == problem
    if problem:
        assert problem[0] in closeout.RELINK_FAILURES


@pytest.mark.parametrize(
    ("requested_ago", "gives_up"),
    [(timedelta(0), False), (timedelta(minutes=59), False), (timedelta(hours=1), True), (None, True)],
)
def test_an_unexpected_error_ends_the_request_after_an_hour(requested_ago, gives_up):
    at = clock.iso(NOW - requested_ago) if requested_ago is not None else None
    order = deleted(closeout_state="relinking", relink_requested_at=at)
    assert closeout.relink_gives_up(order, NOW) is gives_up
    assert "internal_error" in closeout.RELINK_FAILURES
