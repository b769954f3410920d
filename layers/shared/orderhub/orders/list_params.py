"""The query string of GET /orders (the page_size and unknown-parameter checks every list
shares are store/paging.py's). Checked by hand: a pydantic model here cost a cold start serving
GET /orders ~80 ms of imports (bench/results.md)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from orderhub.domain.status import TABS
from orderhub.kernel import clock
from orderhub.kernel.errors import ValidationFailed
from orderhub.store.paging import refuse_unknown, take_page_size

PRESETS = ("today", "last_7_days", "unmapped", "due_24h", "overdue")
_CHOICES = {
    "status": TABS,
    "mapping": ("ok", "fail"),
    "date_basis": ("placed", "updated"),
    "preset": PRESETS,
}
_PATTERNS = {
    "marketplace": (re.compile(r"[a-z0-9_]{1,40}"), "1 to 40 of a-z, 0-9 and _"),
    "country": (re.compile(r"[A-Za-z]{2}"), "a two-letter country code"),
}
_LENGTHS = {"tag": (1, 100), "q": (1, 100), "cursor": (0, 4000)}  # a cursor holds each shard's position
_TEXT = ("from", "to")
# The spellings of true and false a query string may use (the same set pydantic accepts).
_BOOLS = {
    **dict.fromkeys(("1", "true", "t", "yes", "y", "on"), True),
    **dict.fromkeys(("0", "false", "f", "no", "n", "off"), False),
}
_KNOWN = {*_CHOICES, *_PATTERNS, *_LENGTHS, *_TEXT, "include_deleted", "page_size"}


@dataclass(frozen=True)
class ListParams:
    """The query string of GET /orders, checked."""

    status: str | None = None
    marketplace: str | None = None
    country: str | None = None
    mapping: str | None = None
    date_basis: str = "placed"
    from_: str | None = None
    to: str | None = None
    tag: str | None = None
    q: str | None = None
    include_deleted: bool = False
    preset: str | None = None
    page_size: int = 50
    cursor: str | None = None

    def basis(self) -> dict:
        """Every filter but the cursor, by query-string name (what a cursor is bound to)."""
        out = asdict(self)
        out["from"] = out.pop("from_")
        out.pop("cursor")
        return out


def parse(query: dict[str, str] | None) -> ListParams:
    """ListParams from a query string; a 400 naming the first bad field otherwise."""
    qs = dict(query or {})
    refuse_unknown(qs, _KNOWN)
    values: dict = {}
    if "page_size" in qs:
        values["page_size"] = take_page_size(qs)
    for name, raw in qs.items():
        value = str(raw)
        if name in _CHOICES and value not in _CHOICES[name]:
            raise ValidationFailed(f"{name} must be one of {', '.join(_CHOICES[name])}", field=name)
        if name in _PATTERNS and not _PATTERNS[name][0].fullmatch(value):
            raise ValidationFailed(f"{name} must be {_PATTERNS[name][1]}", field=name)
        if name in _LENGTHS:
            lo, hi = _LENGTHS[name]
            if not lo <= len(value) <= hi:
                raise ValidationFailed(f"{name} must be {lo} to {hi} characters", field=name)
        if name in _TEXT:
            date_bound(value, name)
        if name == "include_deleted":
            if value.lower() not in _BOOLS:
                raise ValidationFailed("include_deleted must be true or false", field=name)
            values[name] = _BOOLS[value.lower()]
        else:
            values["from_" if name == "from" else name] = value
    return ListParams(**values)


def date_bound(text: str, field: str) -> date | datetime:
    """A `from`/`to` value: a day (YYYY-MM-DD, whole, in the merchant's time zone) or a timestamp
    with an offset (aware UTC), inside the date rule (kernel/clock.py); a 400 naming the field
    otherwise."""
    try:
        if len(text) == 10:
            return clock.check_day(date.fromisoformat(text))
        return clock.parse_date(text)
    except clock.DateOutOfRange as exc:
        raise ValidationFailed(f"{field} {exc}", field=field, rule="date_range") from None
    except ValueError:
        raise ValidationFailed(
            f"{field} must be a date (YYYY-MM-DD) or a timestamp with offset", field=field
        ) from None


def filter_params(value: Any) -> dict[str, str]:
    """A job's `filter` (the GET /orders parameters as a JSON object), checked now so a bad filter
    is a 400 and never a failed job; returned as the query string would carry it. The cursor and
    page size are the job's own business (it reads every page)."""
    if not isinstance(value, dict):
        raise ValidationFailed("filter must be an object of GET /orders query parameters", field="filter")
    flt = {str(k): _query_value(v) for k, v in value.items() if v is not None}
    try:
        parse(flt)
    except ValidationFailed as exc:
        field = f"filter.{exc.field}" if exc.field else "filter"
        raise ValidationFailed(exc.message, field=field, **exc.details) from None
    return {k: v for k, v in flt.items() if k not in ("cursor", "page_size")}


def _query_value(v: Any) -> str:
    """A filter value as the query string would carry it (true/false for booleans)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else str(v)
