"""The orderhub generic webhook format (docs/webhooks.md; schema: docs/schemas/generic-webhook.schema.json).

Any marketplace connector (Rakuten, Qoo10, BASE, ecforce, NextEngine, Amazon...) posts:

    POST /webhooks/generic/{merchant_id}
    X-Orderhub-Timestamp: <unix seconds>
    X-Orderhub-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>

    {"event_id": "...", "type": "order.created", "marketplace": "rakuten",
     "occurred_at": "2026-01-05T10:00:00+09:00", "order": {...}}

Verification rejects a missing/malformed header, a wrong signature, and a timestamp more than
300 seconds away from now in either direction (replay window). The delivery id is `event_id`.

Decisions:
- `order` is always the full current snapshot of the order, whatever the event type.
- Unknown fields are refused (400 naming the field), so a typo never silently drops data.
- Money (`total`, `items[].price`) is a decimal string ("1980" or "19.80") or a JSON number;
  numbers are read exactly (never through binary floats).
- Timestamps are ISO 8601 with seconds and an offset ("Z" or "+09:00"); stored as UTC.
- `payment.paid_at` defaults to `occurred_at` for an order.paid event that omits it, and
  `order.cancelled_at` defaults to `occurred_at` for an order.cancelled event that omits it.
- `order.claim` ({state, kind, reason}) is the buyer's cancel or return request as the
  marketplace shows it; order.claim_opened / order.claim_closed imply its state when it is
  left out, and must agree with it when it is not.
- The pydantic models below mirror the JSON schema; a test keeps the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from orderhub.domain.models import OrderChange, PaymentMethod
from orderhub.kernel import clock
from orderhub.kernel.errors import MalformedPayload, SignatureInvalid
from orderhub.marketplaces.base import constant_time_equal
from orderhub.marketplaces.common import (
    STRICT_TIMESTAMP,
    build_change,
    hmac_sha256_hex,
    load_json_object,
    lower_headers,
    path,
    translate_with,
)

TIMESTAMP_HEADER = "x-orderhub-timestamp"
SIGNATURE_HEADER = "x-orderhub-signature"
TOLERANCE_SECONDS = 300

EVENT_TYPES = {
    "order.created": "created",
    "order.updated": "updated",
    "order.paid": "paid",
    "order.cancelled": "cancelled",
    "order.claim_opened": "claim_opened",
    "order.claim_closed": "claim_closed",
    "order.rereleased": "rereleased",
    "order.tracking_cancelled": "tracking_cancelled",
}
EventType = Literal[
    "order.created",
    "order.updated",
    "order.paid",
    "order.cancelled",
    "order.claim_opened",
    "order.claim_closed",
    "order.rereleased",
    "order.tracking_cancelled",
]

# The claim state an event type says; the order's own `claim`, when it has one, must agree.
CLAIM_STATE_OF_TYPE = {"order.claim_opened": "open", "order.claim_closed": "closed"}

_TIMESTAMP_RE = re.compile(r"^\d{1,12}$")
_SIGNATURE_RE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
_MONEY_RE = re.compile(r"^[0-9]{1,15}(\.[0-9]{1,6})?$")


def _money(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError("must be a decimal string or a number")
    if isinstance(v, str):
        if not _MONEY_RE.match(v):
            raise ValueError('must be a non-negative decimal such as "1980" or "19.80"')
        return Decimal(v)
    if isinstance(v, int | Decimal | float):
        d = Decimal(str(v)) if isinstance(v, float) else Decimal(v)
        if not d.is_finite() or d < 0:
            raise ValueError("must be a non-negative finite number")
        return d
    raise ValueError("must be a decimal string or a number")


def _ts(v: Any) -> Any:
    if v is None:
        return None
    if not isinstance(v, str) or not STRICT_TIMESTAMP.match(v):
        raise ValueError(
            "must be an ISO 8601 timestamp with seconds and an offset, e.g. 2026-01-05T10:00:00+09:00"
        )
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"is not a valid date-time: {v!r}") from None
    return clock.check_date(dt)  # the date rule (kernel/clock.py); its ValueError names the range


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


Str = Annotated[str, Field(strict=True)]
Money = Annotated[Decimal, BeforeValidator(_money)]
Timestamp = Annotated[datetime, BeforeValidator(_ts)]


class GenericPayment(_In):
    method: PaymentMethod
    paid_at: Timestamp | None = None
    gateway: Str = Field(default="", max_length=100)


class GenericItem(_In):
    sku: Str = Field(min_length=1, max_length=200)
    title: Str = Field(default="", max_length=500)
    quantity: int = Field(strict=True, ge=1, le=100000)
    price: Money


class GenericRecipient(_In):
    name: Str = Field(min_length=1, max_length=300)
    address1: Str = Field(min_length=1, max_length=500)
    address2: Str = Field(default="", max_length=500)
    city: Str = Field(min_length=1, max_length=200)
    region: Str = Field(default="", max_length=200)
    postal_code: Str = Field(min_length=1, max_length=40)
    country: Str = Field(pattern=r"^[A-Z]{2}$")
    phone: Str = Field(default="", max_length=60)
    email: Str = Field(default="", max_length=320)


class GenericClaim(_In):
    state: Literal["open", "closed"]
    kind: Literal["cancel", "return", "other"] = "other"
    reason: Str = Field(default="", max_length=500)


class GenericOrder(_In):
    order_no: Str = Field(min_length=1, max_length=100)
    placed_at: Timestamp
    updated_at: Timestamp
    cancelled_at: Timestamp | None = None
    currency: Str = Field(pattern=r"^[A-Z]{3}$")
    total: Money
    payment: GenericPayment
    items: list[GenericItem] = Field(min_length=1, max_length=500)
    recipient: GenericRecipient
    claim: GenericClaim | None = None


class GenericEvent(_In):
    event_id: Str = Field(min_length=1, max_length=200)
    type: EventType
    marketplace: Str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    occurred_at: Timestamp
    order: GenericOrder


def signature(secret: str, timestamp_text: str, body: bytes) -> str:
    """The X-Orderhub-Signature value for a body sent at `timestamp_text` (unix seconds)."""
    return "sha256=" + hmac_sha256_hex(secret, timestamp_text.encode() + b"." + body)


class GenericAdapter:
    name = "generic"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, now: datetime) -> None:
        h = lower_headers(headers)
        ts_text = (h.get(TIMESTAMP_HEADER) or "").strip()
        sig_text = (h.get(SIGNATURE_HEADER) or "").strip()
        if not ts_text:
            raise SignatureInvalid("missing X-Orderhub-Timestamp header", field="X-Orderhub-Timestamp")
        if not sig_text:
            raise SignatureInvalid("missing X-Orderhub-Signature header", field="X-Orderhub-Signature")
        if not _TIMESTAMP_RE.match(ts_text):
            raise SignatureInvalid("X-Orderhub-Timestamp must be unix seconds", field="X-Orderhub-Timestamp")
        match = _SIGNATURE_RE.match(sig_text)
        if match is None:
            raise SignatureInvalid(
                "X-Orderhub-Signature must be sha256=<64 hex digits>", field="X-Orderhub-Signature"
            )
        if abs(now.timestamp() - int(ts_text)) > TOLERANCE_SECONDS:
            raise SignatureInvalid(
                f"X-Orderhub-Timestamp is more than {TOLERANCE_SECONDS} s away from the server time",
                field="X-Orderhub-Timestamp",
            )
        if not secret:
            raise SignatureInvalid("no generic webhook secret is configured for this merchant")
        expected = signature(secret, ts_text, body)[len("sha256=") :]
        if not constant_time_equal(match.group(1).lower(), expected):
            raise SignatureInvalid(
                "X-Orderhub-Signature does not match the body", field="X-Orderhub-Signature"
            )

    def parse(self, headers: Mapping[str, str], body: bytes) -> tuple[str, OrderChange]:
        data = load_json_object(body)
        try:
            event = GenericEvent.model_validate(data)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = path(*err["loc"]) if err.get("loc") else "body"
            raise MalformedPayload(f"{field}: {err['msg']}", field=field) from None
        claim = event.order.claim
        implied = CLAIM_STATE_OF_TYPE.get(event.type)
        if claim is not None and implied is not None and claim.state != implied:
            raise MalformedPayload(
                f"order.claim.state: must be {implied} in an {event.type} event", field="order.claim.state"
            )
        return event.event_id, to_change(event)


def to_change(event: GenericEvent) -> OrderChange:
    order = event.order
    topic = EVENT_TYPES[event.type]
    paid_at = order.payment.paid_at
    if paid_at is None and topic == "paid":
        paid_at = event.occurred_at
    cancelled_at = order.cancelled_at
    if cancelled_at is None and topic == "cancelled":
        cancelled_at = event.occurred_at
    claim = order.claim.model_dump() if order.claim is not None else None
    if claim is None and event.type in CLAIM_STATE_OF_TYPE:
        claim = {"state": CLAIM_STATE_OF_TYPE[event.type]}
    data = {
        "marketplace": event.marketplace,
        "marketplace_order_no": order.order_no,
        "topic": topic,
        "marketplace_updated_at": order.updated_at,
        "placed_at": order.placed_at,
        "cancelled_at": cancelled_at,
        "payment": {"method": order.payment.method, "paid_at": paid_at, "gateway": order.payment.gateway},
        "currency": order.currency,
        "total": order.total,
        "items": [i.model_dump() for i in order.items],
        "recipient": order.recipient.model_dump(),
        "claim": claim,
    }
    table = {
        ("marketplace",): "marketplace",
        ("marketplace_order_no",): "order.order_no",
        ("marketplace_updated_at",): "order.updated_at",
        ("placed_at",): "order.placed_at",
        ("cancelled_at",): "order.cancelled_at",
        ("payment",): "order.payment",
        ("currency",): "order.currency",
        ("total",): "order.total",
        ("items",): "order.items",
        ("recipient",): "order.recipient",
        ("claim",): "order.claim",
    }
    return build_change(data, translate_with(table))
