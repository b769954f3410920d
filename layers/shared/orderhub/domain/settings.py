"""Integration settings per merchant and marketplace: the rules (docs/sync-flows.md). Pure.

A merchant's settings are stored in the merchant profile's `integrations[<marketplace>]` map
(read and written by orderhub.sync.integrations); a key that is not stored takes the
marketplace's default. `api_token` is write-only: reads show `api_token_set` instead.

- defaults(marketplace), effective(stored, marketplace): the settings in effect;
- for_profile(profile, marketplace): a merchant's settings in effect, with its time zone;
- Integration: what ingestion and the deadline check need of them (hold, auto-confirm,
  fulfillment days, auto-refund of overdue orders, time zone);
- view / validate / check_marketplace: what GET shows and what PUT accepts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orderhub.domain import outbound
from orderhub.domain.deadline import DEFAULT_TIMEZONE
from orderhub.kernel.errors import NotFound, ValidationFailed

# Marketplaces a merchant may configure (webhook adapters plus the API-only ones).
MARKETPLACES = ("shopify", "ecforce", "base", "nextengine", "wish", "generic", "amazon", "qoo10", "rakuten")
# Marketplaces that never sync a cancel or a modify, whatever is stored.
NO_SYNC = frozenset({"base", "nextengine"})
# Marketplaces whose merchants confirm automatically unless their integration says otherwise.
AUTO_CONFIRM_DEFAULT = frozenset({"qoo10"})
# Minutes a card / cash-on-delivery order is held before its release.
DEFAULT_HOLD_MINUTES = 60
# Days to ship an order from its release (orderhub.domain.deadline counts them).
DEFAULT_FULFILLMENT_DAYS = 5
# The most days a marketplace allows: a deadline later than the marketplace's own would let it
# refund an order orderhub still shows as on time (docs/fulfillment.md, "Deadlines per
# marketplace"; seed 004: Wish refunds an order not marked shipped within 5 days of its release).
MAX_FULFILLMENT_DAYS = {"wish": 5}
# Marketplaces that refund an order not shipped in time by themselves: orderhub's deadline check
# mirrors the refund there unless the merchant turns it off (docs/fulfillment.md).
AUTO_REFUND_DEFAULT = frozenset({"wish"})
# Write-only secrets: sealed with the stack's key when stored, never shown (`<name>_set` instead),
# handed to the marketplace's API client unsealed (docs/connectors.md).
SECRET_KEYS = ("api_token", "lwa_client_secret", "lwa_refresh_token", "service_secret", "license_key")
# Settings only one marketplace has: its credentials and account (docs/connectors.md). A PUT for
# another marketplace refuses them as unknown fields.
MARKETPLACE_KEYS: dict[str, dict[str, Any]] = {
    "amazon": {
        "lwa_client_id": "",
        "lwa_client_secret": "",
        "lwa_refresh_token": "",
        "lwa_token_url": "https://api.amazon.com/auth/o2/token",
        "amazon_marketplace_id": "A1VC38T7YXB528",  # Amazon.co.jp
        "seller_id": "",
    },
    "rakuten": {"service_secret": "", "license_key": ""},
}
# URLs orderhub calls for a merchant: each passes orderhub.domain.outbound's rule.
URL_KEYS = ("api_base_url", "lwa_token_url")

COMMON_DEFAULTS: dict[str, Any] = {
    "cancel_sync": True,
    "cancel_after_confirmed": False,
    "modify_sync": False,
    "modify_after_confirmed": False,
    "reflect_cancel_to_marketplace": False,
    "auto_confirm": False,
    "hold_minutes": DEFAULT_HOLD_MINUTES,
    "fulfillment_days": DEFAULT_FULFILLMENT_DAYS,
    "auto_refund_overdue": False,
    # Shopify: the buyer is e-mailed the tracking when orderhub reflects a fulfillment or a
    # tracking change (as when the merchant fulfills in Shopify's admin); others ignore it.
    "notify_customer": True,
    # Pull ingestion (docs/pull.md): the pull schedule asks the marketplace API for changed
    # orders; the first run reads back this many days.
    "pull": False,
    "pull_backfill_days": 7,
    "api_base_url": "",
    "api_token": "",
    "warehouse_timeout_seconds": 86400,
    "warehouse_heartbeat_seconds": None,
}
MARKETPLACE_DEFAULTS: dict[str, dict[str, Any]] = {
    "shopify": {},
    **MARKETPLACE_KEYS,
    "ecforce": {"modify_sync": True},
    "base": {"cancel_sync": False, "modify_sync": False},
    "nextengine": {"cancel_sync": False, "modify_sync": False},
}

_BOOLS = (
    "cancel_sync",
    "cancel_after_confirmed",
    "modify_sync",
    "modify_after_confirmed",
    "reflect_cancel_to_marketplace",
    "auto_confirm",
    "auto_refund_overdue",
    "notify_customer",
    "pull",
)
# name -> (min, max, nullable). fulfillment_days starts at 1: 0 would make an order overdue the
# moment it is released (seed 004: orders are processed within 1 to 5 calendar days).
_INTS = {
    "hold_minutes": (0, 10080, False),
    "fulfillment_days": (1, 60, False),
    "pull_backfill_days": (0, 30, False),
    "warehouse_timeout_seconds": (1, 31536000, False),
    "warehouse_heartbeat_seconds": (1, 31536000, True),
}
_STRINGS = {
    "api_base_url": 500,
    "api_token": 2000,
    "lwa_client_id": 200,
    "lwa_client_secret": 2000,
    "lwa_refresh_token": 2000,
    "lwa_token_url": 500,
    "amazon_marketplace_id": 40,
    "seller_id": 40,
    "service_secret": 500,
    "license_key": 500,
}
_OWN_KEYS = frozenset(k for keys in MARKETPLACE_KEYS.values() for k in keys)
KEYS = (*_BOOLS, *_INTS, *_STRINGS)


def keys_of(marketplace: str) -> frozenset[str]:
    """The settings a marketplace takes: the common ones and its own."""
    return frozenset(k for k in KEYS if k not in _OWN_KEYS) | frozenset(MARKETPLACE_KEYS.get(marketplace, {}))


_MARKETPLACE_RE = re.compile(r"^[a-z0-9_]{2,32}$")


def defaults(marketplace: str) -> dict[str, Any]:
    """The defaults of a marketplace (generic ones for any other)."""
    out = {**COMMON_DEFAULTS, **MARKETPLACE_DEFAULTS.get(marketplace, {})}
    out["auto_confirm"] = marketplace in AUTO_CONFIRM_DEFAULT
    out["auto_refund_overdue"] = marketplace in AUTO_REFUND_DEFAULT
    return out


def effective(stored: dict | None, marketplace: str) -> dict[str, Any]:
    """Defaults overlaid with what is stored. BASE and NextEngine never sync, whatever is stored."""
    out = defaults(marketplace)
    out.update({k: v for k, v in (stored or {}).items() if k in KEYS or k not in out})
    if marketplace in NO_SYNC:
        out.update(cancel_sync=False, modify_sync=False, cancel_after_confirmed=False)
        out["modify_after_confirmed"] = False
    for name in _INTS:
        if out.get(name) is not None:
            out[name] = int(out[name])
    # A value stored before these bounds (0, or over the marketplace's own days) is held inside them.
    out["fulfillment_days"] = min(max(out["fulfillment_days"], 1), MAX_FULFILLMENT_DAYS.get(marketplace, 60))
    return out


def stored_in(profile: dict | None, marketplace: str) -> dict[str, Any]:
    """What a merchant profile stores for a marketplace ({} when nothing, or not a map)."""
    raw = ((profile or {}).get("integrations") or {}).get(marketplace) or {}
    return raw if isinstance(raw, dict) else {}


def for_profile(profile: dict | None, marketplace: str) -> dict[str, Any]:
    """A merchant's settings in effect for a marketplace (effective()), plus `timezone`: the
    merchant's time zone, which its deadlines are counted in."""
    out = effective(stored_in(profile, marketplace), marketplace)
    out["timezone"] = (profile or {}).get("timezone") or DEFAULT_TIMEZONE
    return out


@dataclass(frozen=True)
class Integration:
    """The per-marketplace settings that ingestion and the deadline check need."""

    hold_minutes: int = DEFAULT_HOLD_MINUTES
    auto_confirm: bool = False
    fulfillment_days: int = DEFAULT_FULFILLMENT_DAYS
    timezone: str = DEFAULT_TIMEZONE
    auto_refund_overdue: bool = False

    @classmethod
    def from_settings(cls, conf: Mapping[str, Any]) -> Integration:
        """From a merchant's settings in effect, as for_profile gives them."""
        return cls(
            hold_minutes=int(conf["hold_minutes"]),
            auto_confirm=bool(conf["auto_confirm"]),
            fulfillment_days=int(conf["fulfillment_days"]),
            timezone=conf.get("timezone") or DEFAULT_TIMEZONE,
            auto_refund_overdue=bool(conf.get("auto_refund_overdue")),
        )

    @classmethod
    def from_profile(cls, profile: dict | None, marketplace: str) -> Integration:
        return cls.from_settings(for_profile(profile, marketplace))


# Settings that, when on, send the warehouse paid requests on the merchant's behalf (seeds 001 and
# 002: a cancellation or modification request after the shipment is confirmed costs a fee).
PAID_REQUEST_KEYS = ("cancel_after_confirmed", "modify_after_confirmed")


def view(stored: dict | None, marketplace: str) -> dict[str, Any]:
    """What GET returns: effective settings, secrets replaced by `<name>_set`, and
    `starts_paid_requests`: the settings on now that send the warehouse paid requests."""
    out = effective(stored, marketplace)
    for key in SECRET_KEYS:
        if key in out:
            out[f"{key}_set"] = bool(out.pop(key, None))
    out["starts_paid_requests"] = [k for k in PAID_REQUEST_KEYS if out.get(k)]
    return {"marketplace": marketplace, **{k: out[k] for k in sorted(out)}}


def check_marketplace(marketplace: str) -> str:
    if not _MARKETPLACE_RE.match(marketplace or "") or marketplace not in MARKETPLACES:
        raise NotFound(f"unknown marketplace {marketplace!r}", field="marketplace")
    return marketplace


def validate(
    body: Any, marketplace: str, allowed_origins: frozenset[outbound.Origin] = frozenset()
) -> dict[str, Any]:
    """A PUT body -> the keys to store. Raises ValidationFailed naming the field (and, for
    api_base_url, the rule of orderhub.domain.outbound it breaks; `allowed_origins` is the
    OUTBOUND_ALLOWED_ORIGINS allowlist)."""
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object", field="body")
    unknown = sorted(set(body) - keys_of(marketplace))
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0]!r}", field=unknown[0])
    out: dict[str, Any] = {}
    for name, value in body.items():
        if name in _BOOLS:
            if not isinstance(value, bool):
                raise ValidationFailed(f"{name} must be true or false", field=name)
            if marketplace in NO_SYNC and value and name in ("cancel_sync", "modify_sync"):
                raise ValidationFailed(f"{marketplace} does not support {name}", field=name)
        elif name in _INTS:
            lo, hi, nullable = _INTS[name]
            if value is None and nullable:
                pass
            elif isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValidationFailed(f"{name} must be an integer from {lo} to {hi}", field=name)
            elif name == "fulfillment_days" and value > MAX_FULFILLMENT_DAYS.get(marketplace, hi):
                most = MAX_FULFILLMENT_DAYS[marketplace]
                raise ValidationFailed(
                    f"{marketplace} refunds orders not shipped within {most} days of release: "
                    f"fulfillment_days must be at most {most}",
                    field=name,
                    rule="marketplace_deadline",
                )
        else:
            limit = _STRINGS[name]
            if not isinstance(value, str) or len(value) > limit:
                raise ValidationFailed(f"{name} must be text of at most {limit} characters", field=name)
            if name in URL_KEYS and value:
                try:
                    outbound.check_url(value, allowed_origins)
                except outbound.Refused as exc:
                    raise ValidationFailed(f"{name} {exc.message}", field=name, rule=exc.rule) from None
        out[name] = value
    timeout = out.get("warehouse_timeout_seconds")
    heartbeat = out.get("warehouse_heartbeat_seconds")
    if timeout is not None and heartbeat is not None and heartbeat >= timeout:
        raise ValidationFailed(
            "warehouse_heartbeat_seconds must be less than warehouse_timeout_seconds",
            field="warehouse_heartbeat_seconds",
        )
    return out
