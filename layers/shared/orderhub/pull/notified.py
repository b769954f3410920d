"""Orders a marketplace says have changed, pushed into AWS rather than over HTTPS (docs/pull.md,
"Amazon's notifications"): Amazon's SP-API delivers ORDER_CHANGE notifications to an SQS queue
the stack owns (AmazonNotificationsQueue; only Amazon's account may send to it). Each one names
a seller account and an order, not the order's content: the order is fetched with the merchant's
credentials and queued exactly as the pull queues it (adapter `pull`, the same delivery id for
the same change), so a change both notified and pulled is one delivery.

A message that cannot be handled is not dropped: it fails, SQS delivers it again, and after
the queue's receive count it waits whole in AmazonNotificationsDLQ (alarmed) for redrive
(a notification for a seller no merchant has connected yet, a malformed one, Amazon down).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from orderhub.domain import pull as rules
from orderhub.kernel import clock, metrics
from orderhub.kernel.errors import MalformedPayload
from orderhub.marketplaces import registry
from orderhub.store import db
from orderhub.webhooks import payloads

logger = Logger(child=True)

MARKETPLACE = "amazon"


class NotHandled(Exception):
    """The notification cannot be handled now; SQS delivers it again, then dead-letters it."""


def process_amazon(body: str) -> str:
    """One SQS message of an ORDER_CHANGE notification -> the order queued for ingestion.
    Returns the delivery id."""
    from orderhub.marketplaces.amazon import notifications

    try:
        notice = notifications.parse(body)
    except MalformedPayload as exc:
        raise NotHandled(f"malformed notification: {exc.message} ({exc.field})") from None
    if not notice.seller_fulfilled:  # Amazon ships it (AFN): not the warehouse's, not orderhub's
        logger.info(
            "notification ignored",
            extra={"reason": "amazon_fulfilled", "notification_id": notice.notification_id},
        )
        return f"ignored:{notice.notification_id}"
    merchant_id = db.merchant_of_seller(MARKETPLACE, notice.seller_id)
    if merchant_id is None:
        raise NotHandled("no merchant has connected this seller account")
    client = registry.client_for(merchant_id, MARKETPLACE)
    if client is None:
        raise NotHandled("the merchant's Amazon integration has no api_base_url")
    change = client.fetch_order(notice.amazon_order_id)  # MarketplaceError: delivered again
    delivery = rules.delivery_id(MARKETPLACE, change.marketplace_order_no, change.marketplace_updated_at)
    payloads.enqueue(merchant_id, rules.ADAPTER, delivery, change, clock.now())
    metrics.count("OrdersPulled", marketplace=MARKETPLACE, merchant_id=merchant_id)  # fetched on notice
    logger.info(
        "notified order queued",
        extra={"merchant_id": merchant_id, "marketplace": MARKETPLACE, "delivery_id": delivery},
    )
    return delivery
