"""Fulfillment deadline (docs/fulfillment.md, "Deadlines per marketplace"): the release moment plus
`fulfillment_days` × 24 h, never later than Wish's own refund (seed 004: 5 days from the moment of
release); days remaining in calendar days of the merchant's time zone; who is auto-refunded and
who is shown as overdue."""

from datetime import UTC, datetime, timedelta

import pytest

from orderhub.domain import actions
from orderhub.domain.deadline import auto_refunds, days_remaining, deadline_for, is_overdue
from orderhub.domain.ingest import new_order
from orderhub.domain.settings import Integration, defaults, effective, for_profile, validate
from orderhub.kernel import clock
from orderhub.kernel.errors import Conflict, ValidationFailed
from tests.support.factories import change


def test_deadline_is_the_release_moment_plus_whole_days_never_after_wish_refunds():
    # Wish refunds 5 × 24 h after the release moment: released 13:01 on 25 Nov JST -> 13:01 on 30 Nov
    released = datetime(2026, 11, 25, 4, 1, tzinfo=UTC)
    wish_refund = released + timedelta(hours=120)
    assert deadline_for(released, 5) == wish_refund
    assert clock.iso(deadline_for(released, 5)) == "2026-11-30T04:01:00.000Z"
    # late in the Tokyo day: the old rule (end of the 5th calendar day) was ~24 h after Wish's refund
    late = datetime(2026, 11, 1, 14, 59, tzinfo=UTC)  # 23:59 on 1 Nov JST
    assert deadline_for(late, 5) == late + timedelta(days=5)
    assert deadline_for(late, 5) <= late + timedelta(hours=120)


def test_the_deadline_is_a_moment_even_across_daylight_saving():
    from zoneinfo import ZoneInfo

    released = datetime(2026, 10, 30, 8, 0, tzinfo=ZoneInfo("America/New_York"))  # DST ends 1 Nov
    assert deadline_for(released, 5) - released == timedelta(hours=120)
    assert deadline_for(released, 5).astimezone(UTC) == released.astimezone(UTC) + timedelta(hours=120)


def test_zero_days_is_no_deadline_rule():
    with pytest.raises(ValueError):
        deadline_for(datetime(2026, 11, 1, tzinfo=UTC), 0)


def test_days_remaining_counts_calendar_days_to_the_deadline_day():
    deadline = "2026-11-30T04:01:00.000Z"  # 13:01 on 30 Nov JST
    assert days_remaining(deadline, datetime(2026, 11, 25, 4, 1, tzinfo=UTC)) == 5  # release day
    assert days_remaining(deadline, datetime(2026, 11, 29, 14, 59, tzinfo=UTC)) == 1  # 23:59 on 29 Nov
    assert days_remaining(deadline, datetime(2026, 11, 29, 15, 0, tzinfo=UTC)) == 0  # 00:00 on 30 Nov
    assert (
        days_remaining(deadline, datetime(2026, 11, 30, 14, 59, tzinfo=UTC)) == 0
    )  # past the hour, same day
    assert days_remaining(deadline, datetime(2026, 11, 30, 15, 0, tzinfo=UTC)) == -1
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
    assert released["deadline_at"] == "2026-11-28T03:00:00.000Z"
    pending = new_order(
        change(method="konbini", paid=False),
        Integration(),
        now,
        merchant_id="m",
        order_id="o",
        packing_no="p",
    )
    assert pending["deadline_at"] is None


# ---------------------------------------------------------------- the settings
def test_auto_refund_is_on_by_default_only_for_wish():
    assert defaults("wish")["auto_refund_overdue"] is True
    for marketplace in ("shopify", "ecforce", "base", "nextengine", "generic", "amazon", "qoo10", "rakuten"):
        assert defaults(marketplace)["auto_refund_overdue"] is False, marketplace
    assert Integration().auto_refund_overdue is False
    assert Integration.from_profile({}, "wish").auto_refund_overdue is True
    assert Integration.from_profile({"integrations": {"wish": {"auto_refund_overdue": False}}}, "wish") == (
        Integration(auto_refund_overdue=False)
    )
    assert validate({"auto_refund_overdue": True}, "shopify") == {"auto_refund_overdue": True}
    with pytest.raises(ValidationFailed) as err:
        validate({"auto_refund_overdue": "yes"}, "shopify")
    assert err.value.field == "auto_refund_overdue"


def test_fulfillment_days_zero_is_refused_and_wish_allows_no_more_than_its_own_five():
    with pytest.raises(ValidationFailed) as err:
        validate({"fulfillment_days": 0}, "shopify")
    assert err.value.field == "fulfillment_days"
    assert validate({"fulfillment_days": 1}, "shopify") == {"fulfillment_days": 1}
    assert validate({"fulfillment_days": 10}, "shopify") == {"fulfillment_days": 10}
    with pytest.raises(ValidationFailed) as err:
        validate({"fulfillment_days": 6}, "wish")
    assert (err.value.field, err.value.details["rule"]) == ("fulfillment_days", "marketplace_deadline")
    assert validate({"fulfillment_days": 3}, "wish") == {"fulfillment_days": 3}
    # values stored before these bounds are held inside them
    assert effective({"fulfillment_days": 0}, "shopify")["fulfillment_days"] == 1
    assert effective({"fulfillment_days": 9}, "wish")["fulfillment_days"] == 5
    assert for_profile({"integrations": {"wish": {"fulfillment_days": 9}}}, "wish")["fulfillment_days"] == 5


def test_only_marketplace_orders_are_auto_refunded():
    assert auto_refunds({"origin": "api"}, True) is True
    assert auto_refunds({}, True) is True  # orders stored before `origin` came from webhooks
    assert auto_refunds({"origin": "api"}, False) is False
    for origin in ("manual", "csv"):
        assert auto_refunds({"origin": origin}, True) is False


# ---------------------------------------------------------------- overdue, not refunded
NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def overdue_order(**fields) -> dict:
    return {
        "order_id": "o",
        "merchant_id": "m",
        "origin": "api",
        "status": "new",
        "shipment_stage": "none",
        "tracking": None,
        "deadline_at": "2026-11-30T04:01:00.000Z",
        **fields,
    }


def test_without_auto_refund_the_order_is_flagged_overdue_and_left_as_it_is():
    order = overdue_order()
    assert not is_overdue(order)
    outcome = actions.deadline_refund(order, NOW, auto_refund=False)
    new = outcome.order
    assert outcome.action == "deadline_overdue" and "not refunded" in outcome.data["note"]
    assert (new["status"], new["shipment_stage"], new["overdue_at"]) == ("new", "none", clock.iso(NOW))
    assert is_overdue(new)
    with pytest.raises(Conflict):  # flagged once
        actions.deadline_refund(new, NOW + timedelta(hours=1), auto_refund=False)
    # with auto-refund the same order is cancelled, as before
    assert actions.deadline_refund(order, NOW).order["status"] == "cancelled"


def test_overdue_ends_when_shipped_cancelled_or_released_again():
    flagged = overdue_order(overdue_at=clock.iso(NOW))
    assert is_overdue(flagged) and is_overdue({**flagged, "status": "on_hold"})
    assert not is_overdue({**flagged, "status": "shipped", "tracking": {"tracking_number": "1"}})
    assert not is_overdue({**flagged, "status": "cancelled"})
    # a new deadline (re-release, restore) after the flag: the old flag no longer counts
    assert not is_overdue({**flagged, "deadline_at": "2026-12-06T00:00:00.000Z"})
    # the warehouse had it at the deadline (noted, not refunded): also overdue
    assert is_overdue(overdue_order(deadline_missed_at=clock.iso(NOW)))
