"""Tracking numbers (docs/fulfillment.md). Pure functions.

1. Carriers and their formats. A tracking number is required to ship an order and must match
   one of its carrier's patterns after normalization (spaces and hyphens removed, upper case):
   people copy numbers as "1234-5678-9012" or "1z 999 aa1 ...". `other` accepts any 6 to 40
   letters and digits.
2. The shared tracking rule. One number may be used by several orders only if, for every pair
   of them, the recipient name and the address are the same (case-sensitive) and their release
   dates are at most `SHARE_MAX_DAYS` calendar days apart (dates in the merchant's time zone).
   Checking a new order against every order already using the number is enough: those already
   satisfy the rule pairwise. Released on day 1, 4 and 7: {1,4} and {4,7} may share, and a
   number used by {1,4} cannot be given to 7.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

from orderhub.kernel.errors import Conflict, ValidationFailed

SHARE_MAX_DAYS = 5

# code -> (display name, patterns, what the number looks like)
CARRIERS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "japan_post": (
        "Japan Post",
        (r"\d{11,12}", r"[A-Z]{2}\d{9}JP"),
        "11 or 12 digits (Yu-Pack, Yu-Packet), or an international number like EJ123456789JP",
    ),
    "yamato": ("Yamato Transport", (r"\d{12}",), "12 digits"),
    "sagawa": ("Sagawa Express", (r"\d{10,12}",), "10 to 12 digits"),
    "ups": ("UPS", (r"1Z[0-9A-Z]{16}", r"\d{9}", r"T\d{10}"), "1Z followed by 16 letters or digits"),
    "fedex": ("FedEx", (r"\d{12}", r"\d{15}", r"\d{20}", r"\d{22}"), "12, 15, 20 or 22 digits"),
    "dhl": ("DHL", (r"\d{10,11}", r"JJD\d{18,20}", r"[A-Z]{2}\d{9}[A-Z]{2}"), "10 or 11 digits"),
    "usps": (
        "USPS",
        (r"9\d{19,21}", r"[A-Z]{2}\d{9}US", r"82\d{8}"),
        "20 to 22 digits starting with 9, or an international number like EA123456789US",
    ),
    "other": ("Other carrier", (r"[0-9A-Z]{6,40}",), "6 to 40 letters or digits"),
}


@cache
def _patterns(code: str) -> tuple[re.Pattern, ...]:
    """A carrier's number patterns, compiled on first use (not at every cold start)."""
    return tuple(re.compile(p) for p in CARRIERS[code][1])


_SEPARATORS = re.compile(r"[\s\-]+")
MAX_RAW_CHARS = 60


class SharedTrackingRefused(Conflict):
    code = "tracking_shared_refused"


def number_rule() -> dict:
    """How a typed number is normalized before it is matched (GET /carriers: a form checks a number
    as it is typed with this and the carriers' patterns, the same data the API checks with)."""
    return {"remove": _SEPARATORS.pattern, "upper_case": True, "max_chars": MAX_RAW_CHARS}


def carriers() -> list[dict]:
    """The carrier table as the API shows it (GET /carriers)."""
    return [
        {"code": code, "name": name, "patterns": list(patterns), "format": fmt}
        for code, (name, patterns, fmt) in CARRIERS.items()
    ]


def carrier_code(value: object, field: str = "carrier") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"{field} is required: one of {', '.join(CARRIERS)}", field=field)
    code = value.strip().lower().replace("-", "_").replace(" ", "_")
    if code not in CARRIERS:
        raise ValidationFailed(f"{field} must be one of {', '.join(CARRIERS)}", field=field, value=value[:40])
    return code


def normalize_number(value: object, field: str = "tracking_number") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"{field} is required", field=field)
    if len(value) > MAX_RAW_CHARS:
        raise ValidationFailed(f"{field} is longer than {MAX_RAW_CHARS} characters", field=field)
    return _SEPARATORS.sub("", value).upper()


def validate(carrier: object, number: object) -> tuple[str, str]:
    """(carrier code, normalized number), or ValidationFailed naming the field and the format."""
    code = carrier_code(carrier)
    normalized = normalize_number(number)
    if not any(p.fullmatch(normalized) for p in _patterns(code)):
        name, _, fmt = CARRIERS[code]
        raise ValidationFailed(
            f"tracking_number is not a valid {name} tracking number ({fmt})",
            field="tracking_number",
            rule="tracking_format",
            carrier=code,
        )
    return code, normalized


# ---------------------------------------------------------------- the shared tracking rule
ADDRESS_FIELDS = ("address1", "address2", "city", "region", "postal_code", "country")


@dataclass(frozen=True)
class Use:
    """One order's claim on a tracking number: what the shared rule compares."""

    order_id: str
    name: str
    address: tuple[str, ...]
    released_on: date

    @classmethod
    def of(cls, order: dict, tz: str) -> Use:
        recipient = order.get("recipient") or {}
        # Every shippable order has been released; an order stored before released_at existed
        # counts from when it was placed.
        released = order.get("released_at") or order.get("placed_at")
        if not released:
            raise ValueError("an order without released_at or placed_at cannot be shipped")
        from orderhub.kernel import clock

        day = clock.parse_iso(released).astimezone(ZoneInfo(tz)).date()
        return cls(
            order_id=order["order_id"],
            name=str(recipient.get("name") or ""),
            address=tuple(str(recipient.get(f) or "") for f in ADDRESS_FIELDS),
            released_on=day,
        )

    def to_item(self) -> dict:
        return {
            "order_id": self.order_id,
            "name": self.name,
            "address": list(self.address),
            "released_on": self.released_on.isoformat(),
        }

    @classmethod
    def from_item(cls, item: dict) -> Use:
        return cls(
            order_id=str(item["order_id"]),
            name=str(item.get("name", "")),
            address=tuple(str(a) for a in item.get("address", [])),
            released_on=date.fromisoformat(str(item["released_on"])),
        )


def why_not_shared(a: Use, b: Use) -> str | None:
    """The first condition two orders fail to share a number, or None when they may."""
    if a.name != b.name:
        return "recipient_name_differs"
    if a.address != b.address:
        return "address_differs"
    if abs((a.released_on - b.released_on).days) > SHARE_MAX_DAYS:
        return "released_too_far_apart"
    return None


def check_share(candidate: Use, users: list[Use], number: str) -> None:
    """Refuse (409) when `candidate` may not use `number` with the orders already using it."""
    conflicts = []
    for other in users:
        if other.order_id == candidate.order_id:
            continue
        reason = why_not_shared(candidate, other)
        if reason:
            conflicts.append(
                {"order_id": other.order_id, "reason": reason, "released_on": other.released_on.isoformat()}
            )
    if conflicts:
        raise SharedTrackingRefused(
            f"tracking number {number} is used by {len(conflicts)} order(s) that may not share it with this"
            f" one (same recipient name and address, released at most {SHARE_MAX_DAYS} days apart)",
            field="tracking_number",
            rule="tracking_shared",
            conflicts=conflicts,
        )


def released_on(released_at: str | datetime, tz: str) -> date:
    from orderhub.kernel import clock

    dt = clock.parse_iso(released_at) if isinstance(released_at, str) else released_at
    return dt.astimezone(ZoneInfo(tz)).date()
