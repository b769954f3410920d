"""Amazon's ORDER_CHANGE notification, as one SQS message body carries it (pure; no I/O).

Amazon pushes order changes only into AWS (an SQS queue or an EventBridge destination, set up
with the Notifications API); the message says which order changed, not what it now is, so the
receiver fetches the order (AmazonClient.fetch_order) and ingests that. Schema:
amzn/selling-partner-api-models `schemas/notifications/OrderChangeNotification.json`:

    {"NotificationVersion", "NotificationType": "ORDER_CHANGE", "PayloadVersion", "EventTime",
     "Payload": {"OrderChangeNotification": {
         "NotificationLevel", "SellerId", "AmazonOrderId",
         "OrderChangeType": "BuyerRequestedChange" | "DeliveryTipChange" | "OrderStatusChange",
         "OrderChangeTrigger": {"TimeOfOrderChange": <ISO 8601> | null, "ChangeReason"},
         "Summary": {"MarketplaceId", "OrderStatus", "FulfillmentType": "AFN" | "MFN", ...}}},
     "NotificationMetadata": {"ApplicationId", "SubscriptionId", "PublishTime", "NotificationId"}}

`changed_at` is TimeOfOrderChange, which the schema lets be null ("when there is no related
information"): then EventTime (when Amazon published the notification). A body that is not
this shape raises MalformedPayload naming the field in Amazon's naming
("Payload.OrderChangeNotification.AmazonOrderId").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from orderhub.kernel.errors import MalformedPayload
from orderhub.kernel.http import parse_json
from orderhub.marketplaces.common import obj, text, timestamp

NOTIFICATION_TYPE = "ORDER_CHANGE"
CHANGE_TYPES = ("BuyerRequestedChange", "DeliveryTipChange", "OrderStatusChange")
_CHANGE = "Payload.OrderChangeNotification"


@dataclass(frozen=True)
class OrderChangeNotification:
    notification_id: str
    seller_id: str
    amazon_order_id: str
    order_change_type: str
    changed_at: datetime  # aware UTC
    marketplace_id: str = ""
    order_status: str = ""
    fulfillment_type: str = ""  # "MFN" (the seller ships: orderhub's) or "AFN" (Amazon ships)
    change_reason: str = ""

    @property
    def seller_fulfilled(self) -> bool:
        """Whether the seller ships this order (FulfillmentType MFN, or not given)."""
        return self.fulfillment_type != "AFN"


def parse(body: str | bytes) -> OrderChangeNotification:
    """One SQS message body -> OrderChangeNotification (MalformedPayload naming the field)."""
    raw = body.encode() if isinstance(body, str) else body
    document = parse_json(raw, MalformedPayload, parse_float=Decimal)
    return from_document(document)


def from_document(document: Any) -> OrderChangeNotification:
    if not isinstance(document, dict):
        raise MalformedPayload("the notification must be a JSON object", field="body")
    kind = text(document.get("NotificationType"), "NotificationType", required=True)
    if kind != NOTIFICATION_TYPE:
        raise MalformedPayload(
            f"NotificationType {kind!r} is not {NOTIFICATION_TYPE}", field="NotificationType"
        )
    metadata = obj(document.get("NotificationMetadata"), "NotificationMetadata")
    payload = obj(document.get("Payload"), "Payload")
    assert metadata is not None and payload is not None
    change = obj(payload.get("OrderChangeNotification"), _CHANGE)
    assert change is not None
    change_type = text(change.get("OrderChangeType"), f"{_CHANGE}.OrderChangeType", required=True)
    if change_type not in CHANGE_TYPES:
        raise MalformedPayload(
            f"OrderChangeType {change_type!r} is not one of " + ", ".join(CHANGE_TYPES),
            field=f"{_CHANGE}.OrderChangeType",
        )
    trigger = obj(change.get("OrderChangeTrigger"), f"{_CHANGE}.OrderChangeTrigger")
    assert trigger is not None
    changed_at = timestamp(
        trigger.get("TimeOfOrderChange"), f"{_CHANGE}.OrderChangeTrigger.TimeOfOrderChange", required=False
    ) or timestamp(document.get("EventTime"), "EventTime")
    assert changed_at is not None
    summary = obj(change.get("Summary"), f"{_CHANGE}.Summary", required=False) or {}
    fulfillment = text(summary.get("FulfillmentType"), f"{_CHANGE}.Summary.FulfillmentType")
    if fulfillment not in ("", "AFN", "MFN"):
        raise MalformedPayload(
            f"FulfillmentType {fulfillment!r} is not AFN or MFN", field=f"{_CHANGE}.Summary.FulfillmentType"
        )
    return OrderChangeNotification(
        notification_id=text(
            metadata.get("NotificationId"), "NotificationMetadata.NotificationId", required=True
        ),
        seller_id=text(change.get("SellerId"), f"{_CHANGE}.SellerId", required=True),
        amazon_order_id=text(change.get("AmazonOrderId"), f"{_CHANGE}.AmazonOrderId", required=True),
        order_change_type=change_type,
        changed_at=changed_at,
        marketplace_id=text(summary.get("MarketplaceId"), f"{_CHANGE}.Summary.MarketplaceId"),
        order_status=text(summary.get("OrderStatus"), f"{_CHANGE}.Summary.OrderStatus"),
        fulfillment_type=fulfillment,
        change_reason=text(trigger.get("ChangeReason"), f"{_CHANGE}.OrderChangeTrigger.ChangeReason"),
    )
