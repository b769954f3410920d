"""Webhook secrets: which ones verify a delivery, and rotation with an overlap (docs/onboarding.md).

A merchant's profile holds one current secret per webhook format (`webhook_secrets`:
{"shopify": "...", "generic": "...", "wish": "..."}) and, after a rotation, the secret it
replaced with the moment it stops verifying (`previous_webhook_secrets`: {format: {"secret",
"valid_until"}}). Until then a delivery signed with either verifies, so a sender can switch at
its own pace. Pure: the profile in, the secrets or the changed fields out.
"""

from __future__ import annotations

import secrets as _random
from datetime import datetime, timedelta

from orderhub.kernel import clock
from orderhub.kernel.errors import ValidationFailed

FORMATS = ("shopify", "generic", "wish")
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=7)
MIN_SECRET_CHARS = 16
MAX_SECRET_CHARS = 256


def verifying(profile: dict, fmt: str, now: datetime) -> list[str]:
    """The secrets a delivery of this format may be signed with now: the current one, then the
    previous one while its overlap lasts."""
    out = []
    current = (profile.get("webhook_secrets") or {}).get(fmt)
    if current:
        out.append(current)
    previous = (profile.get("previous_webhook_secrets") or {}).get(fmt) or {}
    if (
        previous.get("secret")
        and previous.get("valid_until")
        and clock.parse_iso(previous["valid_until"]) > now
    ):
        out.append(previous["secret"])
    return out


def new_secret() -> str:
    return _random.token_urlsafe(32)


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValidationFailed(
            f"format must be one of {', '.join(FORMATS)}", field="format", rule="known_format"
        )
    return fmt


def check_secret(value: str) -> str:
    """A secret given by the operator (Shopify issues its own): printable, 16 to 256 characters."""
    if not isinstance(value, str) or not value.isprintable() or value != value.strip():
        raise ValidationFailed("a secret is printable text without surrounding spaces", field="secret")
    if not MIN_SECRET_CHARS <= len(value) <= MAX_SECRET_CHARS:
        raise ValidationFailed(
            f"a secret has {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters",
            field="secret",
            rule="secret_length",
        )
    return value


def overlap_hours(value: object) -> timedelta:
    """An overlap given in whole hours (the API's `overlap_hours`, the operator tool's
    `--overlap-hours`), 0 to 168."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_OVERLAP.days * 24:
        raise ValidationFailed(
            f"overlap_hours is a whole number of hours, 0 to {MAX_OVERLAP.days * 24}",
            field="overlap_hours",
            rule="overlap_range",
        )
    return timedelta(hours=value)


def check_overlap(overlap: timedelta) -> timedelta:
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise ValidationFailed(
            f"the overlap is 0 to {MAX_OVERLAP.days} days", field="overlap_hours", rule="overlap_range"
        )
    return overlap


def rotated(profile: dict, fmt: str, secret: str, now: datetime, overlap: timedelta) -> dict:
    """The profile fields after rotating `fmt` to `secret`: the old current secret keeps verifying
    for `overlap` (none when there was none, or with a zero overlap)."""
    current = dict(profile.get("webhook_secrets") or {})
    previous = dict(profile.get("previous_webhook_secrets") or {})
    old = current.get(fmt)
    current[fmt] = secret
    if old and overlap > timedelta(0):
        previous[fmt] = {"secret": old, "valid_until": clock.iso(now + overlap)}
    else:
        previous.pop(fmt, None)
    return {"webhook_secrets": current, "previous_webhook_secrets": previous}
