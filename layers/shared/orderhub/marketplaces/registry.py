"""Webhook adapters, keyed by the route segment of POST /webhooks/{marketplace}/{merchant_id}.

An adapter's module (and pydantic, which its parse needs) is imported the first time the
adapter is asked for, so a handler that imports this package starts without them."""

from __future__ import annotations

import importlib

from orderhub.kernel import caches
from orderhub.marketplaces.base import WebhookAdapter

# route segment -> (module, class)
_CLASSES: dict[str, tuple[str, str]] = {
    "shopify": ("orderhub.marketplaces.shopify.webhook", "ShopifyAdapter"),
    "wish": ("orderhub.marketplaces.wish.webhook", "WishAdapter"),
    "generic": ("orderhub.marketplaces.generic.webhook", "GenericAdapter"),
}
_INSTANCES: dict[str, WebhookAdapter] = {}
caches.register(_INSTANCES.clear)


def get_adapter(name: str) -> WebhookAdapter | None:
    """The adapter for a route segment (exact, lower-case), or None for an unknown marketplace."""
    adapter = _INSTANCES.get(name)
    if adapter is None:
        spec = _CLASSES.get(name)
        if spec is None:
            return None
        adapter = _INSTANCES[name] = getattr(importlib.import_module(spec[0]), spec[1])()
    return adapter


def __getattr__(attr: str):
    if attr == "ADAPTERS":  # every adapter, by route segment (imports them all)
        return {name: get_adapter(name) for name in _CLASSES}
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = ["ADAPTERS", "WebhookAdapter", "get_adapter"]  # noqa: F822 (ADAPTERS: module __getattr__)
