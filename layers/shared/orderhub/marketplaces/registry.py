"""Which code serves which marketplace: the webhook adapters, keyed by the route segment of
POST /webhooks/{marketplace}/{merchant_id}, and the API clients, keyed by marketplace name.

An adapter's or a client's module (and pydantic, which an adapter's parse needs) is imported the
first time it is asked for, so a handler that imports this module starts without them and pays
only for the marketplaces it uses."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from orderhub.kernel import caches
from orderhub.marketplaces.base import WebhookAdapter

if TYPE_CHECKING:
    from orderhub.marketplaces.client import MarketplaceClient

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


# marketplace -> (module, class) of its API client, in the marketplace's documented protocol
# (docs/connectors.md). Every other marketplace (generic, ecforce, base, nextengine) speaks the
# orderhub marketplace protocol: GENERIC_CLIENT.
_CLIENTS: dict[str, tuple[str, str]] = {
    "shopify": ("orderhub.marketplaces.shopify.client", "ShopifyClient"),
    "wish": ("orderhub.marketplaces.wish.client", "WishClient"),
    "amazon": ("orderhub.marketplaces.amazon.client", "AmazonClient"),
    "rakuten": ("orderhub.marketplaces.rakuten.client", "RakutenClient"),
    "qoo10": ("orderhub.marketplaces.qoo10.client", "Qoo10Client"),
}
GENERIC_CLIENT = ("orderhub.marketplaces.generic.client", "GenericClient")


def client_class(marketplace: str) -> type[MarketplaceClient]:
    """The API client class of a marketplace (the generic protocol's for any without its own)."""
    module, name = _CLIENTS.get(marketplace, GENERIC_CLIENT)
    return getattr(importlib.import_module(module), name)


def client_for(merchant_id: str, marketplace: str) -> MarketplaceClient | None:
    """The API client of a merchant's marketplace integration; None without an api_base_url. A
    stored URL that breaks the rule (stored before PUT checked it) still gets a client: its calls
    fail with `invalid_url` before anything is sent, so a reflect is tagged and a refresh row fails
    (orderhub.marketplaces.client, docs/sync-flows.md "Outbound URLs")."""
    from orderhub.sync import integrations

    settings = integrations.for_merchant(merchant_id, marketplace)
    base_url = str(settings.get("api_base_url") or "").strip()
    if not base_url:
        return None
    from orderhub.domain.settings import SECRET_KEYS
    from orderhub.merchants import sealed

    credentials = {
        key: sealed.unseal(str(settings[key]), merchant_id, sealed.secret_purpose(key, marketplace))
        for key in SECRET_KEYS
        if settings.get(key)
    }
    token = credentials.get("api_token", "")
    return client_class(marketplace)(marketplace, base_url, token, settings=settings, credentials=credentials)


def __getattr__(attr: str):
    if attr == "ADAPTERS":  # every adapter, by route segment (imports them all)
        return {name: get_adapter(name) for name in _CLASSES}
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = ["ADAPTERS", "GENERIC_CLIENT", "WebhookAdapter", "client_class", "client_for", "get_adapter"]  # noqa: F822 (ADAPTERS: module __getattr__)
