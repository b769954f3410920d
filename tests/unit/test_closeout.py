"""States and actions of the cancelled-orders view (docs/orders.md), without AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orderhub.domain import closeout
from orderhub.domain.closeout import CloseoutRefused
from orderhub.domain.deadline import deadline_for
from orderhub.kernel import clock

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def deleted(origin: str, days_ago: float = 1, **over) -> dict:
    o = {
        "order_id": "ord_1",
        "status": "deleted",
        "origin": origin,
        "deleted_at": clock.iso(NOW - timedelta(days=days_ago)),
        "deleted_reason": "seller_deleted_api" if origin == "api" else "seller_deleted_manual",
    }
    o.update(over)
    return o


@pytest.mark.parametrize(
    ("origin", "days_ago", "stored", "state", "offered"),
    [
        ("api", 1, None, "relinkable", ["relink"]),
        ("api", 13.9, "relink_failed", "relink_failed", ["relink"]),
        ("api", 14.1, None, "not_relinkable", []),
        ("api", 14.1, "relink_failed", "not_relinkable", []),
        ("api", 20, "relinked", "relinked", []),
        ("api", 1, "relinking", "relinking", []),
        ("csv", 1, None, "restorable", ["restore"]),
        ("manual", 2, None, "restorable", ["restore"]),
        ("manual", 2, "restore_failed", "restore_failed", ["restore"]),
        ("csv", 15, None, "not_restorable", []),
        ("manual", 15, "restore_failed", "not_restorable", []),
    ],
)
def test_deleted_states_and_actions(origin, days_ago, stored, state, offered):
    order = deleted(origin, days_ago, closeout_state=stored)
    assert closeout.state(order, NOW) == state
    assert closeout.actions(state) == offered


@pytest.mark.parametrize("origin", ["api", "csv", "manual"])
def test_deleted_before_service_start_is_not_relinkable_or_restorable(origin):
    order = deleted(origin, days_ago=2)
    start = NOW - timedelta(days=1)
    expected = "not_relinkable" if origin == "api" else "not_restorable"
    assert closeout.state(order, NOW, start) == expected
    assert closeout.state(order, NOW, NOW - timedelta(days=3)) != expected


@pytest.mark.parametrize("reason", ["marketplace_cancelled", "seller_cancelled", "deadline_refunded"])
def test_cancelled_orders_have_no_state_and_no_actions(reason):
    order = {"status": "cancelled", "origin": "api", "cancel_reason": reason, "cancelled_at": clock.iso(NOW)}
    assert closeout.state(order, NOW) == "none"
    assert closeout.actions("none") == []
    assert closeout.actions("not_restorable") == [] and closeout.actions("relinked") == []


def test_check_restore_names_the_rule():
    closeout.check_restore(deleted("csv"), NOW)
    closeout.check_restore(deleted("manual", closeout_state="restore_failed"), NOW)
    cases = [
        (deleted("api"), "restore_needs_csv_or_manual"),
        (deleted("csv", 14.01), "deleted_over_14_days_ago"),
        ({"status": "cancelled", "origin": "csv"}, "restore_needs_deleted"),
    ]
    for order, rule in cases:
        with pytest.raises(CloseoutRefused) as err:
            closeout.check_restore(order, NOW)
        assert err.value.status == 409 and err.value.to_body()["error"]["rule"] == rule
    with pytest.raises(CloseoutRefused) as err:
        closeout.check_restore(deleted("csv", 2), NOW, NOW - timedelta(days=1))
    assert err.value.to_body()["error"]["rule"] == "deleted_before_service_start"


def test_restored_and_restore_failed_orders():
    order = deleted("csv", closeout_state="restore_failed", closeout_failure={"reason": "duplicate"})
    order.update(packing_no="P1", shipment_stage="none")
    back = closeout.restored(order, NOW)
    assert (back["status"], back["shipment_stage"], back["packing_no"]) == ("new", "none", "P1")
    assert back["deleted_at"] is None and "closeout_state" not in back and "closeout_failure" not in back
    # released again: the fulfillment deadline counts from the restore, not from the first release
    assert back["released_at"] == clock.iso(NOW)
    assert back["deadline_at"] == clock.iso(deadline_for(NOW, 5))
    failed = closeout.restore_failed(deleted("csv"), "duplicate", NOW, active_order_id="ord_2")
    assert failed["closeout_state"] == "restore_failed"
    assert failed["closeout_failure"]["active_order_id"] == "ord_2"
    assert closeout.state(failed, NOW) == "restore_failed"
