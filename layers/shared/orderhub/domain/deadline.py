"""Fulfillment deadline (docs/fulfillment.md, "Deadlines per marketplace"): an order must be
shipped within `fulfillment_days` days of its release.

Decision: the deadline is the release moment plus `fulfillment_days` × 24 hours, for every
marketplace. Seed 004 (Wish): 「注文がリリースされた時点から5日以内に「出荷済み」とマークされない
注文はWishによって自動的に返金されます」 (an order not marked shipped within 5 days from the moment
it was released is refunded by Wish). Counting to the end of the last calendar day instead would
let orderhub's deadline fall up to a day after the marketplace's refund; counting whole days of
24 hours from the moment is never later, in any time zone and across daylight-saving changes.

`days_remaining` stays in calendar days of the merchant's time zone (seed 004: 「記載されている日は
暦日です」, the days shown are calendar days): the days from today to the deadline's date, 0 on the
deadline's own day (also after its hour: `overdue` says whether it passed), negative after it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from orderhub.domain.status import UNFULFILLED_STATUSES
from orderhub.kernel import clock

DEFAULT_TIMEZONE = "Asia/Tokyo"


def deadline_for(released_at: datetime, days: int) -> datetime:
    """The release moment plus `days` × 24 h, whatever the merchant's time zone (a marketplace
    counts from the moment, as Wish does: docs/fulfillment.md); in UTC, so a daylight-saving
    change in `released_at`'s zone does not add or take an hour."""
    if days < 1:
        raise ValueError("fulfillment_days must be at least 1")
    return released_at.astimezone(UTC) + timedelta(days=days)


def days_remaining(deadline_iso: str | None, now: datetime, tz: str = DEFAULT_TIMEZONE) -> int | None:
    """Calendar days left until the deadline's day (0 on the last day, negative when overdue)."""
    if not deadline_iso:
        return None
    zone = ZoneInfo(tz)
    due: date = clock.parse_iso(deadline_iso).astimezone(zone).date()
    return (due - now.astimezone(zone).date()).days


def is_unfulfilled(order: dict) -> bool:
    """Released and not shipped: its fulfillment deadline runs (status new/processing/on_hold, no
    tracking, a deadline)."""
    return (
        order.get("status") in UNFULFILLED_STATUSES
        and not order.get("tracking")
        and bool(order.get("deadline_at"))
    )


def is_overdue(order: dict) -> bool:
    """The order is shown, listed and counted as overdue: released, not shipped, and the deadline
    check found its current deadline passed and left it as it is (`overdue_at`: auto-refund off;
    `deadline_missed_at`: the warehouse had the shipment). A flag older than the current deadline
    (the order was released again since) does not count."""
    if not is_unfulfilled(order):
        return False
    flagged = [at for at in (order.get("overdue_at"), order.get("deadline_missed_at")) if at]
    due = clock.parse_iso(order["deadline_at"])
    return any(clock.parse_iso(at) >= due for at in flagged)


def auto_refunds(order: dict, auto_refund_overdue: bool) -> bool:
    """Whether the deadline check refunds this overdue order: only an order that came from the
    marketplace (origin api) and only where the merchant's integration says the marketplace
    refunds by itself (`auto_refund_overdue`, on by default for Wish only). Manual and CSV orders
    are never refunded by orderhub."""
    return bool(auto_refund_overdue) and order.get("origin", "api") == "api"


# How near an unfulfilled order's deadline is (the digest and GET /orders/counts; docs/digest.md):
# past its deadline, due within the next 24 hours, or later.
PAST, DUE_24H, LATER = "past_deadline", "due_within_24h", "later"


def urgency(deadline_at: str, now: datetime) -> str:
    """PAST when the deadline has passed (deadline < now), DUE_24H when now <= deadline <= now +
    24 h, else LATER."""
    deadline = clock.parse_iso(deadline_at)
    if deadline < now:
        return PAST
    return DUE_24H if deadline <= now + timedelta(hours=24) else LATER
