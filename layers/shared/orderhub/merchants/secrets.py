"""Webhook secrets: which ones verify a delivery, and rotation with an overlap (docs/onboarding.md).

A merchant's profile holds one current secret per webhook format (`webhook_secrets`:
{"shopify": "...", "generic": "...", "wish": "..."}) and, after a rotation, the secret it
replaced with the moment it stops verifying (`previous_webhook_secrets`: {format: {"secret",
"valid_until"}}). Until then a delivery signed with either verifies, so a sender can switch at
its own pace. Pure: the profile in, the secrets or the changed fields out.

Each secret speaks only for the marketplaces it was issued for. A Shopify or Wish secret
speaks for that marketplace alone. The generic format's secret is held by a third-party
connector: it speaks for the marketplaces declared when it was issued (`webhook_scopes`:
{"generic": ["rakuten", "qoo10"]}, or ["*"]: every marketplace without a channel of its own),
never for a marketplace that has its own webhook format (Shopify, Wish), and for none until
some are declared. During an overlap the previous secret keeps the scope it was issued with.
"""

from __future__ import annotations

import re
import secrets as _random
from datetime import datetime, timedelta
from typing import NamedTuple

from orderhub.kernel import clock
from orderhub.kernel.errors import ValidationFailed

FORMATS = ("shopify", "generic", "wish")
# Marketplaces with a webhook format (and a secret) of their own: no other secret speaks for them.
OWN_CHANNELS = tuple(f for f in FORMATS if f != "generic")
ANY_MARKETPLACE = "*"
MAX_SCOPE = 50
_MARKETPLACE_RE = re.compile(r"^[a-z0-9_]{1,40}$")
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=7)
MIN_SECRET_CHARS = 16
MAX_SECRET_CHARS = 256


class Signer(NamedTuple):
    """A secret that may sign a delivery, and the marketplaces it speaks for."""

    secret: str
    marketplaces: tuple[str, ...]


def scope(profile: dict, fmt: str) -> tuple[str, ...]:
    """The marketplaces the current secret of `fmt` speaks for."""
    if fmt in OWN_CHANNELS:
        return (fmt,)
    return tuple((profile.get("webhook_scopes") or {}).get(fmt) or ())


def verifying(profile: dict, fmt: str, now: datetime) -> list[Signer]:
    """The secrets a delivery of this format may be signed with now: the current one, then the
    previous one while its overlap lasts (with the scope it was issued with)."""
    out = []
    current = (profile.get("webhook_secrets") or {}).get(fmt)
    if current:
        out.append(Signer(current, scope(profile, fmt)))
    previous = (profile.get("previous_webhook_secrets") or {}).get(fmt) or {}
    if (
        previous.get("secret")
        and previous.get("valid_until")
        and clock.parse_iso(previous["valid_until"]) > now
    ):
        kept = (fmt,) if fmt in OWN_CHANNELS else tuple(previous.get("marketplaces") or ())
        out.append(Signer(previous["secret"], kept))
    return out


def speaks_for(signer: Signer, marketplace: str) -> bool:
    """Whether a delivery signed by `signer` may change orders of `marketplace`."""
    if marketplace in OWN_CHANNELS:
        return signer.marketplaces == (marketplace,)
    return marketplace in signer.marketplaces or ANY_MARKETPLACE in signer.marketplaces


def check_marketplaces(fmt: str, value: object) -> list[str]:
    """The marketplaces a generic secret is issued for: 1 to 50 names (or "*"), none of them a
    marketplace with its own webhook format."""
    if fmt != "generic":
        raise ValidationFailed(
            f"only the generic format's secret is issued for chosen marketplaces; a {fmt} secret "
            f"speaks for {fmt} alone",
            field="marketplaces",
            rule="generic_only",
        )
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SCOPE:
        raise ValidationFailed(
            f'marketplaces is a list of 1 to {MAX_SCOPE} marketplace names, or ["*"]',
            field="marketplaces",
            rule="marketplace_list",
        )
    out: list[str] = []
    for name in value:
        if not isinstance(name, str) or not (name == ANY_MARKETPLACE or _MARKETPLACE_RE.match(name)):
            raise ValidationFailed(
                "a marketplace name is 1 to 40 of a-z, 0-9 and _ (or * for any)",
                field="marketplaces",
                rule="marketplace_name",
            )
        if name in OWN_CHANNELS:
            raise ValidationFailed(
                f"{name} has its own webhook format and secret; the generic secret never speaks for it",
                field="marketplaces",
                rule="own_channel",
            )
        if name not in out:
            out.append(name)
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


def rotated(
    profile: dict,
    fmt: str,
    secret: str,
    now: datetime,
    overlap: timedelta,
    marketplaces: list[str] | None = None,
) -> dict:
    """The profile fields after rotating `fmt` to `secret`: the old current secret keeps verifying
    for `overlap` (none when there was none, or with a zero overlap) with its own scope; the new
    one speaks for `marketplaces` (generic only; None: the same as the old one)."""
    current = dict(profile.get("webhook_secrets") or {})
    previous = dict(profile.get("previous_webhook_secrets") or {})
    scopes = dict(profile.get("webhook_scopes") or {})
    old = current.get(fmt)
    current[fmt] = secret
    if old and overlap > timedelta(0):
        previous[fmt] = {"secret": old, "valid_until": clock.iso(now + overlap)}
        if fmt not in OWN_CHANNELS:
            previous[fmt]["marketplaces"] = list(scope(profile, fmt))
    else:
        previous.pop(fmt, None)
    if marketplaces is not None:
        scopes[fmt] = list(marketplaces)
    return {"webhook_secrets": current, "previous_webhook_secrets": previous, "webhook_scopes": scopes}
