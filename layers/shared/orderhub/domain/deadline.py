"""Fulfillment deadline (docs/fulfillment.md): an order must be shipped within `fulfillment_days`
calendar days of its release, counted in the merchant's time zone.

Decision: the release day is day 0 and the deadline is the end of the last calendar day
(23:59:59.999 local). Released on 1 November at any hour with 5 days: due by the end of
6 November. Counting whole calendar days, never hours, is what "calendar days" means to a
merchant, and the lenient end of the day never refunds an order early.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from orderhub.kernel import clock

DEFAULT_TIMEZONE = "Asia/Tokyo"


def deadline_for(released_at: datetime, days: int, tz: str = DEFAULT_TIMEZONE) -> datetime:
    zone = ZoneInfo(tz)
    last_day = released_at.astimezone(zone).date() + timedelta(days=days)
    end = datetime.combine(last_day, time(23, 59, 59, 999000), tzinfo=zone)
    return end.astimezone(released_at.tzinfo or zone)


def days_remaining(deadline_iso: str | None, now: datetime, tz: str = DEFAULT_TIMEZONE) -> int | None:
    """Calendar days left until the deadline's day (0 on the last day, negative when overdue)."""
    if not deadline_iso:
        return None
    zone = ZoneInfo(tz)
    due: date = clock.parse_iso(deadline_iso).astimezone(zone).date()
    return (due - now.astimezone(zone).date()).days
