"""Merchant profiles: webhook secrets, time zone, per-marketplace integration settings.

Stored as one item per merchant: pk=MERCHANT#<id>, sk=#PROFILE. Read through a short
in-process cache so a warm function does not pay a read per webhook.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any
from zoneinfo import ZoneInfo

from orderhub.kernel import aws, caches, clock
from orderhub.kernel.config import settings
from orderhub.store import keys

PROFILE_CACHE_SECONDS = 60.0
# At most this many merchants (known or not) are remembered per container: requests for made-up
# merchant ids cannot grow the cache, they only push out the least recently used entries.
PROFILE_CACHE_ENTRIES = 1000
_cache: OrderedDict[str, tuple[float, dict | None]] = OrderedDict()
_lock = threading.Lock()


def put_profile(
    merchant_id: str,
    webhook_secrets: dict[str, str],
    *,
    name: str = "",
    timezone: str = "Asia/Tokyo",
    integrations: dict[str, dict[str, Any]] | None = None,
    webhook_scopes: dict[str, list[str]] | None = None,
    table_name: str | None = None,
) -> dict:
    from orderhub.merchants import sealed

    # The local cloud's and the bench's seeding path: sealed with the stack's key when the
    # template has one (a template without it, such as the local cloud's own test fixture,
    # stores them as given). Operators create merchants with merchants/onboarding.py.
    def seal(value: str, purpose: str) -> str:
        return sealed.seal(value, merchant_id, purpose) if settings().secrets_key_arn else value

    from orderhub.domain.settings import SECRET_KEYS

    sealed_integrations = {}
    for marketplace, conf in (integrations or {}).items():
        conf = dict(conf)
        for key in SECRET_KEYS:
            if conf.get(key):
                conf[key] = seal(conf[key], sealed.secret_purpose(key, marketplace))
        sealed_integrations[marketplace] = conf
    item = {
        **keys.profile_key(merchant_id),
        "merchant_id": merchant_id,
        "name": name or merchant_id,
        "timezone": timezone,
        "webhook_secrets": {
            fmt: seal(secret, sealed.webhook_purpose(fmt)) for fmt, secret in webhook_secrets.items()
        },
        "integrations": sealed_integrations,
        # Demo merchants: their generic connector speaks for every marketplace without a
        # webhook format of its own (merchants/secrets.py).
        "webhook_scopes": {"generic": ["*"]} if webhook_scopes is None else webhook_scopes,
        "created_at": clock.iso(clock.now()),
    }
    table = aws.table(table_name or settings().table_name)
    table.put_item(Item=item)
    for marketplace, conf in sealed_integrations.items():  # the seller accounts it names
        if conf.get("seller_id"):
            seller = {**keys.seller_key(marketplace, str(conf["seller_id"])), "merchant_id": merchant_id}
            table.put_item(Item=seller)
    _cache.pop(merchant_id, None)
    return item


def get_profile(merchant_id: str, *, table_name: str | None = None) -> dict | None:
    """The merchant's profile, or None for an unknown merchant (cached briefly, misses too)."""
    with _lock:
        hit = _cache.get(merchant_id)
        if hit is not None and hit[0] > time.monotonic():
            _cache.move_to_end(merchant_id)
            return hit[1]
    resp = aws.table(table_name or settings().table_name).get_item(Key=keys.profile_key(merchant_id))
    item = resp.get("Item")
    with _lock:
        _cache[merchant_id] = (time.monotonic() + PROFILE_CACHE_SECONDS, item)
        _cache.move_to_end(merchant_id)
        while len(_cache) > PROFILE_CACHE_ENTRIES:
            _cache.popitem(last=False)
    return item


def timezone_of(merchant_id: str) -> str:
    """The merchant's time zone name (calendar days, deadlines, local dates): Asia/Tokyo unless the
    profile says otherwise."""
    from orderhub.domain.deadline import DEFAULT_TIMEZONE

    return (get_profile(merchant_id) or {}).get("timezone") or DEFAULT_TIMEZONE


def zone_of(merchant_id: str) -> ZoneInfo:
    """The merchant's time zone (timezone_of)."""
    return ZoneInfo(timezone_of(merchant_id))


def clear_cache() -> None:
    _cache.clear()


caches.register(clear_cache)
