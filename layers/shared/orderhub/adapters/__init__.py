"""Webhook adapters, keyed by the route segment of POST /webhooks/{marketplace}/{merchant_id}."""

from __future__ import annotations

from orderhub.adapters.base import WebhookAdapter
from orderhub.adapters.generic import GenericAdapter
from orderhub.adapters.shopify import ShopifyAdapter
from orderhub.adapters.wish import WishAdapter

ADAPTERS: dict[str, WebhookAdapter] = {
    "shopify": ShopifyAdapter(),
    "wish": WishAdapter(),
    "generic": GenericAdapter(),
}


def get_adapter(name: str) -> WebhookAdapter | None:
    """The adapter for a route segment (exact, lower-case), or None for an unknown marketplace."""
    return ADAPTERS.get(name)


__all__ = ["ADAPTERS", "WebhookAdapter", "get_adapter"]
