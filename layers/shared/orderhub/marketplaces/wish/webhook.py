"""Wish orders (Wish Marketplace API v3 `Order` object): Wish's own webhooks, and a connector's.

Wish's own webhook (docs/webhooks.md): a JSON array of `{data: <v3 order>, timestamp}`, signed
`Wish-Hmac-Sha256: base64(HMAC-SHA256(client secret, raw body))`, topic in `Wish-Topic`, no event
id. `batch` returns its orders and `parse_element` turns each into a delivery of its own
(`wish-v3:<id>:<updated_at>`); the receiver queues them one by one.

A connector (the merchant's ERP, or a relay that fetches `GET /api/v3/orders/{id}`) posts one
v3 order object as the body instead:

    POST /webhooks/wish/{merchant_id}
    X-Wish-Hmac-Sha256: base64(HMAC-SHA256(secret, raw body))    (like Shopify)
    X-Wish-Event-Id:    unique id of this delivery (the dedupe key; required)
    X-Wish-Topic:       order.created | order.updated | order.paid | order.cancelled |
                        order.rereleased | order.tracking_cancelled   (optional)

Wish's own topic names are accepted as aliases: ORDER_RELEASE -> created, ORDER_ADDRESS_CHANGE
and ORDER_TRACKING_UPDATE -> updated, ORDER_REFUND -> cancelled. When X-Wish-Topic is absent the
topic comes from the order `state`: REFUNDED, DECLINED or CANCELLED -> cancelled; APPROVED,
SHIPPED and REQUIRE_REVIEW -> updated (an update for an order orderhub has not seen creates it).
An unknown topic or state is a malformed delivery. X-Wish-Topic is not covered by the signature,
so it only labels the change and the body decides: a cancel topic on an order whose `state` is
open, or a rereleased / tracking_cancelled topic (the v3 order carries nothing that shows either),
changes nothing and is recorded as `topic_disagrees_with_body` (domain/ingest.py). Wish's own
signal re-releases instead (seed 004, marketplaces.md: an order can become APPROVED again after
SHIPPED): an order orderhub holds as shipped, sent again as `APPROVED` with a later
`released_at`, goes back to unfulfilled with a new release and deadline.

Normalization (Wish field -> OrderChange field); a Wish order holds one product:
- marketplace "wish"; marketplace_order_no: `id`.
- marketplace_updated_at: `updated_at`; placed_at: `order_time` when the connector sends it
  (the v2 name), else `released_at` (Wish releases an order once its payment cleared), else,
  for an order Wish never released (REQUIRE_REVIEW, DECLINED), `updated_at`.
- payment: method "marketplace" (Wish collects and clears the payment, so the order is
  released at once); paid_at: `released_at`, else `order_time`; gateway "wish". An order in
  `REQUIRE_REVIEW` (Wish is reviewing it; the merchant must not ship) has no paid_at, so it
  waits in pending until Wish sends it `APPROVED`.
- cancelled_at: when `state` is REFUNDED/DECLINED/CANCELLED, the latest `refunds[].refund_time`,
  else `updated_at`; otherwise None.
- items: one item. sku: `product_information.sku`, else `product_information.variation_id`;
  title: `product_information.name` plus " (color / size)" when given; quantity:
  `order_payment.general_payment_details.product_quantity`; price (unit):
  `general_payment_details.product_price.amount`.
- currency and total: `general_payment_details.payment_total` (`currency_code`, `amount`):
  what Wish pays the merchant for the order.
- recipient: `full_address.shipping_detail` (required): name, street_address1 -> address1,
  street_address2 (+ street_address3) -> address2, city, state -> region, zipcode ->
  postal_code, country_code -> country (required), phone_number -> phone ("+<country_code>
  <number>", or a plain string as sent), email when the connector adds it (Wish does not share buyer e-mail).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from orderhub.domain.models import OrderChange
from orderhub.kernel import clock
from orderhub.kernel.errors import MalformedPayload, SignatureInvalid
from orderhub.kernel.http import parse_json
from orderhub.marketplaces.base import constant_time_equal
from orderhub.marketplaces.common import (
    build_change,
    country_code,
    hmac_sha256_base64,
    load_json_object,
    lower_headers,
    money,
    obj,
    path,
    text,
    timestamp,
    translate_with,
)

SIGNATURE_HEADER = "x-wish-hmac-sha256"
EVENT_ID_HEADER = "x-wish-event-id"
TOPIC_HEADER = "x-wish-topic"
# Wish's own webhook (docs/webhooks.md, "Wish's own webhooks"): the same HMAC under Wish's header
# names, and a body that is an array of {data: <v3 order>, timestamp}.
WISH_SIGNATURE_HEADER = "wish-hmac-sha256"
WISH_TOPIC_HEADER = "wish-topic"
MAX_BATCH = 100  # orders in one of Wish's deliveries; more is refused whole (400, quarantined)

TOPICS = {
    "order.created": "created",
    "order.updated": "updated",
    "order.paid": "paid",
    "order.cancelled": "cancelled",
    "order.rereleased": "rereleased",
    "order.tracking_cancelled": "tracking_cancelled",
    # Wish's own webhook topic names.
    "ORDER_RELEASE": "created",
    "ORDER_ADDRESS_CHANGE": "updated",
    "ORDER_TRACKING_UPDATE": "updated",
    "ORDER_REFUND": "cancelled",
}
CANCELLED_STATES = {"REFUNDED", "DECLINED", "CANCELLED"}
# States of an order Wish may never have released (no released_at).
UNRELEASED_STATES = {"REQUIRE_REVIEW", "DECLINED"}
OPEN_STATES = {"APPROVED", "SHIPPED", "REQUIRE_REVIEW"}

_PAYMENT = "order_payment.general_payment_details"
_ADDRESS = "full_address.shipping_detail"


def header_topic(headers: Mapping[str, str]) -> str | None:
    """The topic named by X-Wish-Topic, None when the header is absent."""
    raw = (headers.get(TOPIC_HEADER) or "").strip()
    if not raw:
        return None
    topic = TOPICS.get(raw) or TOPICS.get(raw.lower()) or TOPICS.get(raw.upper())
    if topic is None:
        raise MalformedPayload(
            f"unsupported X-Wish-Topic {raw!r}; expected one of " + ", ".join(TOPICS),
            field="X-Wish-Topic",
        )
    return topic


def _cancelled_at(order: dict[str, Any], updated_at: datetime) -> datetime:
    refunds = order.get("refunds")
    if refunds is None:
        return updated_at
    if not isinstance(refunds, list):
        raise MalformedPayload("refunds must be a list", field="refunds")
    times = []
    for i, raw in enumerate(refunds):
        refund = obj(raw, path("refunds", i))
        assert refund is not None
        t = timestamp(refund.get("refund_time"), path("refunds", i, "refund_time"), required=False)
        if t is not None:
            times.append(t)
    return max(times) if times else updated_at


def _item(order: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
    product = obj(order.get("product_information"), "product_information")
    assert product is not None
    sku = text(product.get("sku"), "product_information.sku") or text(
        product.get("variation_id"), "product_information.variation_id"
    )
    if not sku:
        raise MalformedPayload(
            "product_information.sku (or variation_id) is required", field="product_information.sku"
        )
    title = text(product.get("name"), "product_information.name")
    options = [
        v
        for v in (
            text(product.get("color"), "product_information.color"),
            text(product.get("size"), "product_information.size"),
        )
        if v
    ]
    if options:
        title = f"{title} ({' / '.join(options)})" if title else " / ".join(options)
    quantity = details.get("product_quantity")
    if quantity is None:
        raise MalformedPayload("product_quantity is required", field=f"{_PAYMENT}.product_quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise MalformedPayload("product_quantity must be an integer", field=f"{_PAYMENT}.product_quantity")
    price = obj(details.get("product_price"), f"{_PAYMENT}.product_price")
    assert price is not None
    return {
        "sku": sku,
        "title": title,
        "quantity": quantity,
        "price": money(price.get("amount"), f"{_PAYMENT}.product_price.amount"),
    }


def _recipient(order: dict[str, Any]) -> dict[str, str]:
    full = obj(order.get("full_address"), "full_address")
    assert full is not None
    d = obj(full.get("shipping_detail"), _ADDRESS)
    assert d is not None
    phone_raw = d.get("phone_number")
    if isinstance(phone_raw, dict):
        phone = text(phone_raw.get("number"), f"{_ADDRESS}.phone_number.number")
        calling_code = text(phone_raw.get("country_code"), f"{_ADDRESS}.phone_number.country_code")
        if phone and calling_code and not phone.startswith("+"):
            phone = f"+{calling_code.lstrip('+')} {phone}"
    else:
        phone = text(phone_raw, f"{_ADDRESS}.phone_number")
    address2 = ", ".join(
        v
        for v in (
            text(d.get("street_address2"), f"{_ADDRESS}.street_address2"),
            text(d.get("street_address3"), f"{_ADDRESS}.street_address3"),
        )
        if v
    )
    return {
        "name": text(d.get("name"), f"{_ADDRESS}.name"),
        "address1": text(d.get("street_address1"), f"{_ADDRESS}.street_address1"),
        "address2": address2,
        "city": text(d.get("city"), f"{_ADDRESS}.city"),
        "region": text(d.get("state"), f"{_ADDRESS}.state"),
        "postal_code": text(d.get("zipcode"), f"{_ADDRESS}.zipcode"),
        "country": country_code(d.get("country_code"), f"{_ADDRESS}.country_code"),
        "phone": phone,
        "email": text(d.get("email"), f"{_ADDRESS}.email"),
    }


_TABLE = {
    ("marketplace_order_no",): "id",
    ("marketplace_updated_at",): "updated_at",
    ("placed_at",): "released_at",
    ("cancelled_at",): "refunds",
    ("currency",): f"{_PAYMENT}.payment_total.currency_code",
    ("total",): f"{_PAYMENT}.payment_total.amount",
    ("items",): "product_information",
    ("items", 0, "sku"): "product_information.sku",
    ("items", 0, "title"): "product_information.name",
    ("items", 0, "quantity"): f"{_PAYMENT}.product_quantity",
    ("items", 0, "price"): f"{_PAYMENT}.product_price.amount",
    ("payment",): "released_at",
    ("recipient", "name"): f"{_ADDRESS}.name",
    ("recipient", "address1"): f"{_ADDRESS}.street_address1",
    ("recipient", "address2"): f"{_ADDRESS}.street_address2",
    ("recipient", "city"): f"{_ADDRESS}.city",
    ("recipient", "region"): f"{_ADDRESS}.state",
    ("recipient", "postal_code"): f"{_ADDRESS}.zipcode",
    ("recipient", "country"): f"{_ADDRESS}.country_code",
    ("recipient", "phone"): f"{_ADDRESS}.phone_number",
    ("recipient", "email"): f"{_ADDRESS}.email",
}


def normalize_order(order: dict[str, Any], topic: str | None = None) -> OrderChange:
    """A Wish v3 order object -> OrderChange (decisions in the module docstring).

    `topic` None derives it from `state`.
    """
    number = text(order.get("id"), "id", required=True)
    state = text(order.get("state"), "state", required=True).upper()
    if state not in CANCELLED_STATES | OPEN_STATES:
        raise MalformedPayload(
            f"unknown state {state!r}; expected one of " + ", ".join(sorted(CANCELLED_STATES | OPEN_STATES)),
            field="state",
        )
    source = "header"
    if topic is None:
        topic = "cancelled" if state in CANCELLED_STATES else "updated"
        source = "body"
    updated_at = timestamp(order.get("updated_at"), "updated_at")
    assert updated_at is not None
    released_at = timestamp(order.get("released_at"), "released_at", required=False)
    order_time = timestamp(order.get("order_time"), "order_time", required=False)
    placed_at = order_time or released_at
    if placed_at is None and state in UNRELEASED_STATES:
        placed_at = updated_at  # Wish never released it (under review, declined): no time of its own
    if placed_at is None:
        raise MalformedPayload("released_at (or order_time) is required", field="released_at")
    cancelled_at = _cancelled_at(order, updated_at) if state in CANCELLED_STATES else None

    op = obj(order.get("order_payment"), "order_payment")
    assert op is not None
    details = obj(op.get("general_payment_details"), _PAYMENT)
    assert details is not None
    item = _item(order, details)
    payment_total = obj(details.get("payment_total"), f"{_PAYMENT}.payment_total", required=False) or {}
    currency = text(payment_total.get("currency_code"), f"{_PAYMENT}.payment_total.currency_code")
    if not currency:
        product_price = details.get("product_price") or {}
        currency = text(product_price.get("currency_code"), f"{_PAYMENT}.product_price.currency_code")
    data = {
        "marketplace": "wish",
        "marketplace_order_no": number,
        "topic": topic,
        "topic_source": source,
        "awaiting_shipment": {"APPROVED": True, "SHIPPED": False}.get(state),
        "refunded": state == "REFUNDED",
        "marketplace_updated_at": updated_at,
        "placed_at": placed_at,
        "cancelled_at": cancelled_at,
        # REQUIRE_REVIEW: Wish is still reviewing the payment; the order waits in pending
        # until Wish approves it (domain/order.py RELEASED_WHEN_PAID).
        "payment": {
            "method": "marketplace",
            "paid_at": None if state == "REQUIRE_REVIEW" else released_at or order_time,
            "gateway": "wish",
        },
        "currency": currency.upper(),
        "total": money(payment_total.get("amount"), f"{_PAYMENT}.payment_total.amount", required=False),
        "items": [item],
        "recipient": _recipient(order),
    }
    return build_change(data, translate_with(_TABLE))


class WishAdapter:
    name = "wish"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, now: datetime) -> None:
        """Base64 HMAC-SHA256 of the raw body, in Wish's own `Wish-Hmac-Sha256` or the
        connector's `X-Wish-Hmac-Sha256` (the same computation; the body decides the format)."""
        h = lower_headers(headers)
        name = "Wish-Hmac-Sha256" if h.get(WISH_SIGNATURE_HEADER) else "X-Wish-Hmac-Sha256"
        given = (h.get(name.lower()) or "").strip()
        if not given:
            raise SignatureInvalid(
                "missing Wish-Hmac-Sha256 (or X-Wish-Hmac-Sha256) header", field="Wish-Hmac-Sha256"
            )
        if not secret:
            raise SignatureInvalid("no Wish webhook secret is configured for this merchant")
        if not constant_time_equal(given, hmac_sha256_base64(secret, body)):
            raise SignatureInvalid(f"{name} does not match the body", field=name)

    def batch(self, headers: Mapping[str, str], body: bytes) -> list[dict[str, Any]] | None:
        """The orders of one of Wish's own deliveries (a JSON array of {data, timestamp}), or None
        for the connector's single order object. Each order is then its own delivery
        (parse_element). A body that is neither is malformed."""
        if body.lstrip()[:1] == b"{":
            return None  # an object: parse() reads it (parsed once, there)
        data = parse_json(body, MalformedPayload, parse_float=Decimal)
        if isinstance(data, dict):
            return None
        if not isinstance(data, list):
            raise MalformedPayload("body must be an order object or Wish's array of orders", field="body")
        if not data:
            raise MalformedPayload("Wish's array of orders is empty", field="body")
        if len(data) > MAX_BATCH:
            raise MalformedPayload(
                f"at most {MAX_BATCH} orders in one delivery; got {len(data)}", field="body"
            )
        return data

    def parse_element(self, headers: Mapping[str, str], index: int, element: Any) -> tuple[str, OrderChange]:
        """One order of Wish's delivery. Its delivery id is the order's id and `updated_at` (Wish
        sends no event id; a retry of the same state is a duplicate, a later state is new).
        `Wish-Topic` only labels it: a topic orderhub does not act on (ORDER_ALL, ORDER_TAX,
        ORDER_PENALTY, ORDER_FULFILLMENT_DEADLINE...) leaves the order's `state` to decide."""
        where = f"[{index}]"
        if not isinstance(element, dict):
            raise MalformedPayload("each entry must be an object {data, timestamp}", field=where)
        order = element.get("data")
        if not isinstance(order, dict):
            raise MalformedPayload("data must be the v3 order object", field=f"{where}.data")
        raw_topic = (lower_headers(headers).get(WISH_TOPIC_HEADER) or "").strip().upper()
        try:
            change = normalize_order(order, TOPICS.get(raw_topic))
        except MalformedPayload as exc:
            raise MalformedPayload(exc.message, field=f"{where}.data.{exc.field or 'data'}") from None
        return f"wish-v3:{change.marketplace_order_no}:{clock.iso(change.marketplace_updated_at)}", change

    def parse(self, headers: Mapping[str, str], body: bytes) -> tuple[str, OrderChange]:
        h = lower_headers(headers)
        delivery_id = (h.get(EVENT_ID_HEADER) or "").strip()
        if not delivery_id:
            raise MalformedPayload("missing X-Wish-Event-Id header", field="X-Wish-Event-Id")
        topic = header_topic(h)
        order = load_json_object(body)
        return delivery_id, normalize_order(order, topic)
