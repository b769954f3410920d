"""Fulfillment deadline in calendar days of the merchant's time zone (docs/fulfillment.md)."""

from datetime import UTC, datetime

from orderhub.domain.deadline import days_remaining, deadline_for
from orderhub.domain.ingest import new_order
from orderhub.domain.settings import Integration
from orderhub.kernel import clock
from tests.support.factories import change


def test_release_day_counts_as_day_zero_in_tokyo():
    # 23:30 on 1 Nov in Tokyo (14:30 UTC) and 00:30 on 1 Nov in Tokyo are the same calendar day
    late = datetime(2026, 11, 1, 14, 30, tzinfo=UTC)
    early = datetime(2026, 10, 31, 15, 30, tzinfo=UTC)
    assert clock.iso(deadline_for(late, 5)) == "2026-11-06T14:59:59.999Z"  # end of 6 Nov JST
    assert deadline_for(early, 5) == deadline_for(late, 5)
    # one minute later it is 2 Nov in Tokyo: one more day
    assert clock.iso(deadline_for(datetime(2026, 11, 1, 15, 0, tzinfo=UTC), 5)) == "2026-11-07T14:59:59.999Z"


def test_other_time_zone_and_days():
    released = datetime(2026, 11, 1, 14, 30, tzinfo=UTC)  # still 1 Nov in New York
    assert clock.iso(deadline_for(released, 3, "America/New_York")) == "2026-11-05T04:59:59.999Z"


def test_days_remaining_counts_calendar_days():
    deadline = "2026-11-06T14:59:59.999Z"
    assert days_remaining(deadline, datetime(2026, 11, 1, 15, 0, tzinfo=UTC)) == 4  # 2 Nov JST
    assert days_remaining(deadline, datetime(2026, 11, 6, 14, 0, tzinfo=UTC)) == 0  # last day
    assert days_remaining(deadline, datetime(2026, 11, 6, 15, 0, tzinfo=UTC)) == -1  # overdue
    assert days_remaining(None, datetime(2026, 11, 6, tzinfo=UTC)) is None


def test_released_orders_get_their_deadline_pending_ones_do_not():
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    released = new_order(
        change(method="marketplace"),
        Integration(fulfillment_days=3),
        now,
        merchant_id="m",
        order_id="o",
        packing_no="p",
    )
    assert released["deadline_at"] == "2026-11-28T14:59:59.999Z"
    pending = new_order(
        change(method="konbini", paid=False),
        Integration(),
        now,
        merchant_id="m",
        order_id="o",
        packing_no="p",
    )
    assert pending["deadline_at"] is None
