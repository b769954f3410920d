"""Normalized shapes shared by adapters, domain and store.

Adapters turn each marketplace's payload into an `OrderChange`; the domain applies it. Its
parts (`Item`, `Recipient`, `Payment`) are in domain/parts.py, which the registrations use
without building these models (the CSV import job's first request); they are importable from
here too.
Money is a decimal string, never a float; every timestamp is aware UTC.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator

from orderhub.domain.parts import Item, Payment, PaymentMethod, Recipient, _Model

__all__ = [
    "ClaimKind",
    "Claim",
    "Envelope",
    "Item",
    "OrderChange",
    "Origin",
    "Payment",
    "PaymentMethod",
    "Recipient",
    "Topic",
    "TopicSource",
]

# created/updated/paid/cancelled come from every marketplace; claim_opened, claim_closed,
# rereleased and tracking_cancelled come from the generic format's signed `type`.
Topic = Literal[
    "created",
    "updated",
    "paid",
    "cancelled",
    "claim_opened",
    "claim_closed",
    "rereleased",
    "tracking_cancelled",
]
ClaimKind = Literal["cancel", "return", "other"]
# Where the topic came from: the signed body (the generic format's `type`), or a header the
# signature does not cover (X-Shopify-Topic, X-Wish-Topic). A header topic only labels a change;
# the body decides (domain/ingest.py topic_disagreement).
TopicSource = Literal["body", "header"]
Origin = Literal["api", "csv", "manual"]


class Claim(_Model):
    """A buyer's cancel or return request as the marketplace shows it (docs/orders.md, "Claims"):
    open while the marketplace waits for the merchant, closed once it was settled."""

    state: Literal["open", "closed"]
    kind: ClaimKind = "other"
    reason: str = Field(default="", max_length=500)


class OrderChange(_Model):
    """One marketplace event about one order, already normalized."""

    marketplace: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")
    marketplace_order_no: str = Field(min_length=1, max_length=100)
    topic: Topic
    topic_source: TopicSource = "body"
    # What the signed body says of the parcel: True when the marketplace shows the order as
    # waiting to be shipped (Wish `APPROVED`), False when it shows it shipped, None when its
    # format cannot tell. With a later release it re-releases a shipped order (domain/ingest.py).
    awaiting_shipment: bool | None = None
    # The marketplace refunded the whole order (Shopify `financial_status` refunded, Wish
    # `state` REFUNDED). After shipping it closes the order (seed 003: 返品・返金 → クローズ済).
    refunded: bool = False
    # A cancel or return request, when the body shows one (None: the format shows none). An open
    # one puts the order on hold until it closes (seed 003: the on-hold tab).
    claim: Claim | None = None
    marketplace_updated_at: datetime
    placed_at: datetime
    cancelled_at: datetime | None = None
    payment: Payment
    currency: str = Field(default="", max_length=3)
    total: Decimal | None = None
    items: list[Item] = Field(min_length=1, max_length=500)
    recipient: Recipient

    @field_validator("marketplace_updated_at", "placed_at", "cancelled_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("timestamp needs a time zone offset")
        return v


class Envelope(_Model):
    """What the receiver enqueues: who it is for, which delivery, and the change."""

    merchant_id: str
    adapter: str  # the route segment: shopify, wish, generic
    delivery_id: str = Field(min_length=1, max_length=200)
    received_at: datetime
    change: OrderChange
