"""Merchant routes on the marketplaces' side: integration settings, what became of their webhooks
(deliveries, quarantined payloads), and the history of carrying their cancels and modifications."""

from __future__ import annotations

from urllib.parse import unquote

from orderhub.api import request
from orderhub.api.common import json_response
from orderhub.api.routing import Router
from orderhub.orders import queries
from orderhub.sync import history as sync_history
from orderhub.sync import integrations

router = Router()


@router.get("/quarantine")
def list_quarantine():
    """Signed but malformed webhook payloads, newest first, with the reason."""
    return json_response(200, queries.list_quarantine(request.merchant_id(), request.query()))


@router.get("/webhook-deliveries/<adapter>/<delivery_id>")
def get_delivery(adapter: str, delivery_id: str):
    """What became of one webhook delivery (applied or ignored with the reason, duplicates). The id
    may come percent-encoded (a console encodes it; Wish's ids hold `:`): the route matches the
    raw path, so it is decoded here."""
    return json_response(200, queries.get_delivery(request.merchant_id(), adapter, unquote(delivery_id)))


@router.get("/integrations")
def list_integrations():
    """The marketplaces a merchant can set up, in the order a console shows them."""
    return json_response(200, {"marketplaces": integrations.marketplaces()})


@router.get("/integrations/<marketplace>")
def get_integration(marketplace: str):
    """A marketplace's integration settings (defaults filled in; each secret shown only as
    <name>_set) and the pull's state (pull_status)."""
    return json_response(200, integrations.get(request.merchant_id(), marketplace))


@router.put("/integrations/<marketplace>")
def put_integration(marketplace: str):
    """Change a marketplace's integration settings: cancel_sync, cancel_after_confirmed, modify_sync,
    modify_after_confirmed, reflect_cancel_to_marketplace, auto_confirm, hold_minutes, fulfillment_days,
    auto_refund_overdue, notify_customer (Shopify), pull, pull_backfill_days, api_base_url, api_token
    (write-only), warehouse_timeout_seconds, warehouse_heartbeat_seconds; Amazon also lwa_client_id,
    lwa_client_secret and lwa_refresh_token (write-only), lwa_token_url, amazon_marketplace_id,
    seller_id (one merchant per seller account: 409 seller_taken); Rakuten also service_secret and
    license_key (write-only). Keys not given are kept (docs/connectors.md).
    """
    b = request.body(required=True)
    return json_response(200, integrations.put(request.merchant_id(), marketplace, b))


@router.post("/webhook-secrets/<fmt>")
def rotate_webhook_secret(fmt: str):
    """Rotate this merchant's webhook secret of one format (shopify, generic, wish). Body:
    {overlap_hours? (0-168, default 24), secret? (the one the marketplace issued; else one is
    generated), marketplaces? (generic only: the marketplaces the new secret speaks for, or ["*"];
    default: the old one's)}. Answers the new secret once; the old one keeps verifying, for what
    it spoke for, until previous_valid_until.
    """
    from orderhub.merchants import onboarding, secrets

    b = request.body({"overlap_hours", "secret", "marketplaces"})
    overlap = secrets.overlap_hours(b.get("overlap_hours", 24))
    answer = onboarding.rotate_secret(
        request.merchant_id(),
        fmt,
        secret=b.get("secret"),
        overlap=overlap,
        marketplaces=b.get("marketplaces"),
    )
    return json_response(200, answer)


@router.get("/sync-history")
def list_sync_history():
    """Every attempt to carry a marketplace cancel or modify to the shipment, newest first. Filters: kind,
    outcome, marketplace, from/to; page_size 25/50/100/200; opaque cursor.
    """
    return json_response(200, sync_history.list_page(request.merchant_id(), request.query()))
