"""Reflect a merchant's cancel to the marketplace (docs/orders.md).

Where the integration has `reflect_cancel_to_marketplace` on and a marketplace API client
exists (orderhub.marketplaces.registry.client_for), the cancel is sent once the order is
cancelled here.
- success: a history entry (actor system, action `reflected`); the order itself is unchanged;
- failure after the client's retries: the order gets the tag `mall_reflect_error` (filterable:
  GET /orders?tag=mall_reflect_error) and a history entry `reflect_failed` with the error.
The cancel stands either way. Kept to one small function so it can become a Lambda task of
the cancel state machine (docs/sync-flows.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from orderhub.domain.actions import REFLECT_TAG, Outcome
from orderhub.kernel import aws, clock, metrics
from orderhub.kernel.config import settings
from orderhub.kernel.errors import ConcurrentUpdate, OrderhubError
from orderhub.marketplaces import registry
from orderhub.marketplaces.client import MarketplaceError
from orderhub.orders import lifecycle
from orderhub.store import db
from orderhub.sync import integrations

logger = Logger(child=True)


def after_merchant_cancel(order: dict) -> dict:
    """Send the cancel of a cancelled order to its marketplace when the integration says so.
    Returns the latest order (tagged when the marketplace could not be told)."""
    m, marketplace = order["merchant_id"], order["marketplace"]
    if order.get("status") != "cancelled":
        return order
    if not integrations.for_merchant(m, marketplace).get("reflect_cancel_to_marketplace"):
        return order
    return send(order, cancel_call(order), what="cancel", done="reflected", failed="reflect_failed")


def cancel_call(order: dict):
    """The marketplace call that tells it the order is cancelled."""
    reason = order.get("cancel_note") or order.get("cancel_reason") or ""
    return lambda client: client.cancel_order(order["marketplace_order_no"], reason)


def fulfillment_call(order: dict, change: bool = False):
    """The marketplace call that tells it the order shipped (or that its tracking changed), with
    the shipment's origin country and note (None when the tracking has none): the client sends
    each where its marketplace takes it (docs/connectors.md, "What a shipment carries")."""
    no, t = order["marketplace_order_no"], order["tracking"]

    def call(client) -> None:
        method = client.update_tracking if change else client.fulfill_order
        method(
            no,
            t["carrier"],
            t["tracking_number"],
            origin_country=t.get("origin_country") or None,
            note=t.get("note") or None,
        )

    return call


def send(order: dict, call, *, what: str, done: str, failed: str, **history) -> dict:
    """Call the order's marketplace through its client adapter (`call(client)`), when orderhub
    can reach that marketplace's API. Success: a history entry `done`. Failure after the client's
    retries: the order is tagged `mall_reflect_error` with a history entry `failed`; the change
    made here stands either way. Returns the latest order."""
    m, marketplace = order["merchant_id"], order["marketplace"]
    kind = _kind(what, history)
    try:
        client = registry.client_for(m, marketplace)
        if client is None:
            return order
        call(client)
    except MarketplaceError as exc:
        logger.warning(
            f"{what} not reflected to the marketplace",
            extra={
                "merchant_id": m,
                "order_id": order["order_id"],
                "marketplace": marketplace,
                "kind": exc.kind,
            },
        )
        return tag_failure(order, exc, failed, what=kind)
    except Exception:
        # Anything else the client raised: the change made here is committed and stands all the
        # same, so this is a failed reflect too (never a 500 after the commit).
        logger.exception(
            f"{what} not reflected to the marketplace: unexpected error",
            extra={"merchant_id": m, "order_id": order["order_id"], "marketplace": marketplace},
        )
        error = MarketplaceError("unavailable", None, "the marketplace call failed", marketplace=marketplace)
        return tag_failure(order, error, failed, what=kind)
    _record_reflected(order, done, kind, **history)
    return order


def _record_reflected(order: dict, done: str, what: str, **history) -> None:
    """A reflect the marketplace took: a history entry `done`, counted ReflectSucceeded by
    marketplace and `what` (kernel/metrics.py). Every successful reflect comes here."""
    marketplace = order["marketplace"]
    metrics.count("ReflectSucceeded", marketplace=marketplace, what=what, merchant_id=order["merchant_id"])
    entry = db.history_item(order, clock.now(), "system", done, marketplace=marketplace, **history)
    aws.table(settings().table_name).put_item(Item=entry)


def _kind(what: str, history: dict) -> str:
    """The change a failed reflect was carrying, as a retry needs it (domain/actions.REFLECT_KINDS)."""
    return "tracking" if what == "fulfillment" and history.get("change") else what


def tag_failure(
    order: dict, error: MarketplaceError, action: str = "reflect_failed", what: str = "cancel"
) -> dict:
    """Tag the order `mall_reflect_error` with a history entry `action` naming the error, and keep
    what the marketplace was not told (`reflect_failed`), for a retry. Every failed reflect comes
    here: counted ReflectFailed by marketplace and `what` (kernel/metrics.py)."""
    metrics.count(
        "ReflectFailed", marketplace=order["marketplace"], what=what, merchant_id=order["merchant_id"]
    )

    def tag(current: dict, now: datetime) -> Outcome:
        new = dict(current)
        new["tags"] = sorted({*current.get("tags", []), REFLECT_TAG})
        new["reflect_failed"] = {"what": what, "at": clock.iso(now), "error": error.to_dict()}
        return Outcome(new, action, {"error": error.to_dict()})

    try:
        new, _ = lifecycle.apply(order["merchant_id"], order["order_id"], tag, actor="system")
    except (OrderhubError, ConcurrentUpdate):
        # The cancel stands; only the record of the failed reflect is lost. Say so loudly.
        logger.exception(
            "could not tag the order after a failed reflect", extra={"order_id": order["order_id"]}
        )
        return order
    return new


# ---------------------------------------------------------------- the merchant's retry and clear
def retry(merchant_id: str, order_id: str) -> dict:
    """Send the change a failed reflect carried to the marketplace again (POST
    /orders/{id}/reflect-retry). Success: the tag goes (history `reflect_retried`). Failure: the
    order stays tagged, with the new error, and the answer is the marketplace's error (422)."""
    from orderhub.domain import actions
    from orderhub.orders.refresh import marketplace_failed, no_marketplace_api

    order = lifecycle.load(merchant_id, order_id)
    what = actions.retry_reflect(order, clock.now())
    client = registry.client_for(merchant_id, order["marketplace"])
    if client is None:
        raise no_marketplace_api(order)
    call = cancel_call(order) if what == "cancel" else fulfillment_call(order, change=what == "tracking")
    done, failed = (
        ("reflected", "reflect_failed")
        if what == "cancel"
        else ("fulfillment_reflected", "fulfillment_reflect_failed")
    )
    try:
        call(client)
    except MarketplaceError as exc:
        tag_failure(order, exc, failed, what=what)
        raise marketplace_failed(exc) from None
    _record_reflected(order, done, what)
    new, _ = lifecycle.apply(
        merchant_id, order_id, lambda o, now: actions.reflected_again(o, what, now), actor="merchant"
    )
    return new


def clear(merchant_id: str, order_id: str, reason: Any) -> dict:
    """Take the tag off by hand, with the merchant's reason (POST /orders/{id}/reflect-error/clear)."""
    from orderhub.domain import actions

    new, _ = lifecycle.apply(
        merchant_id, order_id, lambda o, now: actions.clear_reflect_error(o, reason, now), actor="merchant"
    )
    return new
