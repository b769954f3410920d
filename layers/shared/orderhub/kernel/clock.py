"""One clock for the whole code base, so tests can freeze time; and the one date rule for
every date a client sends (webhooks, merchant API bodies, query strings): `check_date`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

_frozen: datetime | None = None


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def freeze(at: datetime | None) -> None:
    """Freeze the clock at `at` (aware datetime) or unfreeze it with None."""
    global _frozen
    if at is not None and at.tzinfo is None:
        raise ValueError("freeze() needs an aware datetime")
    _frozen = at.astimezone(UTC) if at is not None else None


def iso(dt: datetime) -> str:
    """Fixed-width, sortable UTC text form used in every stored timestamp."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 timestamp with an offset (or Z) into aware UTC (ValueError otherwise,
    also for a time that does not exist in UTC, such as 0001-01-01T00:00:00+09:00)."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError("timestamp has no time zone offset")
    try:
        return dt.astimezone(UTC)
    except OverflowError:
        raise DateOutOfRange(_RANGE) from None


# ---------------------------------------------------------------- the date rule (docs/orders.md, "Dates")
# Every date a client sends is a field error outside [EARLIEST, LATEST): Python's datetime stops
# at years 1 and 9999, so a date near either end overflows once an offset, a hold window or a
# deadline is added to it. A change time (a marketplace's updated_at, a payment, a cancel) may
# not be more than MAX_AHEAD after its receipt either: a change dated 2099 would freeze its order
# (every later real update would look stale).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_AHEAD = timedelta(days=1)
_RANGE = f"must be from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d} (UTC)"


class DateOutOfRange(ValueError):
    """A date outside the range (the message says which rule; the caller names the field)."""


def check_date(dt: datetime, *, received: datetime | None = None) -> datetime:
    """`dt` as aware UTC if it is inside the date rule; DateOutOfRange otherwise. With
    `received`, also no more than MAX_AHEAD after it."""
    if dt.tzinfo is None:
        raise ValueError("timestamp has no time zone offset")
    # A year next to the range converts to UTC without overflowing (an offset is under a day).
    if not EARLIEST.year - 1 <= dt.year <= LATEST.year:
        raise DateOutOfRange(_RANGE)
    utc = dt.astimezone(UTC)
    if not EARLIEST <= utc < LATEST:
        raise DateOutOfRange(_RANGE)
    if received is not None and utc > received + MAX_AHEAD:
        raise DateOutOfRange(f"must not be more than {MAX_AHEAD.days} day ahead of its receipt")
    return utc


def check_day(day: date) -> date:
    """A calendar day (a query's from/to) inside the date rule; DateOutOfRange otherwise."""
    if not EARLIEST.date() <= day < LATEST.date():
        raise DateOutOfRange(_RANGE.removesuffix(" (UTC)"))
    return day


def parse_date(text: str, *, received: datetime | None = None) -> datetime:
    """A timestamp a client sent (ISO 8601 with an offset), checked by the date rule: aware UTC,
    or ValueError (DateOutOfRange when it parses but is out of range)."""
    return check_date(parse_iso(text), received=received)
