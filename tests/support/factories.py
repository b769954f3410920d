"""Builders for test data: normalized changes and Shopify-shaped payloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from orderhub.domain.models import Item, OrderChange, Payment, Recipient

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo


def change(
    order_no: str = "1001",
    topic: str = "created",
    *,
    marketplace: str = "shopify",
    method: str = "card",
    paid: bool = True,
    updated_at: datetime | None = None,
    placed_at: datetime | None = None,
    cancelled_at: datetime | None = None,
    name: str = "山田 太郎",
    country: str = "JP",
    sku: str = "SKU-1",
    quantity: int = 1,
    item_code: str | None = None,
    topic_source: str = "body",
    awaiting_shipment: bool | None = None,
    paid_at: datetime | None = None,
    refunded: bool = False,
    claim: dict | None = None,
) -> OrderChange:
    placed = placed_at or T0
    if topic == "cancelled" and cancelled_at is None and topic_source == "body":
        cancelled_at = updated_at or placed  # as the generic format defaults it from occurred_at
    return OrderChange(
        marketplace=marketplace,
        marketplace_order_no=order_no,
        topic=topic,
        topic_source=topic_source,
        awaiting_shipment=awaiting_shipment,
        refunded=refunded,
        claim=claim,
        marketplace_updated_at=updated_at or placed,
        placed_at=placed,
        cancelled_at=cancelled_at,
        payment=Payment(method=method, paid_at=(paid_at or placed) if paid else None, gateway="test"),
        currency="JPY",
        total=Decimal("1200"),
        items=[Item(sku=sku, title="Tシャツ", quantity=quantity, price=Decimal("1200"), item_code=item_code)],
        recipient=Recipient(
            name=name,
            address1="1-2-3 Shibuya",
            city="Shibuya-ku",
            region="Tokyo",
            postal_code="150-0002",
            country=country,
            phone="+81-3-0000-0000",
            email="taro@example.jp",
        ),
    )


def later(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def manual_body(
    marketplace: str, order_no: str, *, sku: str = "SKU-1", item_code: str = "ITEM-1", price: str = "1200"
) -> dict:
    """The body of POST /orders (a merchant's own registration): a card order of one mapped item."""
    return {
        "marketplace": marketplace,
        "marketplace_order_no": order_no,
        "payment": {"method": "card"},
        "items": [{"sku": sku, "quantity": 1, "price": price, "item_code": item_code}],
        "recipient": {
            "name": "山田 太郎",
            "address1": "1-2-3 Shibuya",
            "city": "Shibuya-ku",
            "postal_code": "150-0002",
            "country": "JP",
        },
    }
