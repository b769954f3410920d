"""Shopify order webhooks (REST Admin API order resource, as Shopify's webhooks send it).

Signature: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body keyed with the
app's webhook secret; compared in constant time. Delivery id: `X-Shopify-Webhook-Id`.
Topics (`X-Shopify-Topic`): orders/create -> created, orders/updated -> updated,
orders/paid -> paid, orders/cancelled -> cancelled; any other topic is a malformed delivery.

Normalization decisions (Shopify field -> OrderChange field):
- marketplace_order_no: `order_number` as text (e.g. "1001"); when absent, `name` without the
  leading "#". The shop's custom order-name prefix/suffix ("JP-1001") is therefore not part of
  the number whenever `order_number` is sent (it always is in real webhooks).
- marketplace_updated_at: `updated_at`; placed_at: `created_at`, else `processed_at`;
  cancelled_at: `cancelled_at`. All converted to aware UTC.
- currency: `currency` (the shop currency, not `presentment_currency`); total: `total_price`.
- items: one per `line_items` entry, in order. sku: the line's `sku`, or when empty the
  `variant_id`, else the line `id`, as text. title: `title`, plus " (variant_title)" when the
  line has a variant title. quantity: `quantity` (the ordered quantity; `current_quantity`
  is ignored, so a cancelled/refunded order keeps its lines). price: `price` (unit price).
- recipient: `shipping_address`; an order without one (digital goods) falls back to
  `billing_address`, else an empty recipient. When an address is present its `country_code`
  is required. name: for JP addresses "last_name first_name" (the order a Japanese label
  needs), otherwise the address `name` or "first_name last_name". region: `province`;
  postal_code: `zip`; phone: the address `phone`, else the order `phone`; email: the order
  `email`, else `contact_email`.
- payment.gateway: the first non gift-card entry of `payment_gateway_names`, else the
  deprecated `gateway`. payment.method, from the gateway name (case-insensitive):
  cash on delivery / cod / 代引 / 代金引換 -> cod; bank / deposit / money order / wire / 振込
  -> bank_transfer; konbini / convenience / コンビニ -> konbini; no gateway at all -> other;
  anything else -> card.
- payment.paid_at: `processed_at` (else `updated_at`) when `financial_status` is paid,
  partially_refunded or refunded (each means the money was captured); otherwise None.
- refunded: `financial_status` refunded (the whole order; partially_refunded is not). A
  refund of an order orderhub holds as shipped closes it (domain/ingest.py).
- The topic header is not covered by the signature, so it only labels the change: the body
  decides. An orders/paid whose body is not paid, or an orders/cancelled whose `cancelled_at` is
  null, changes nothing and is recorded as `topic_disagrees_with_body` (domain/ingest.py); an
  orders/updated whose body has `cancelled_at` cancels, as the body says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orderhub.domain.models import OrderChange
from orderhub.kernel.errors import MalformedPayload, SignatureInvalid
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

SIGNATURE_HEADER = "x-shopify-hmac-sha256"
TOPIC_HEADER = "x-shopify-topic"
WEBHOOK_ID_HEADER = "x-shopify-webhook-id"

TOPICS = {
    "orders/create": "created",
    "orders/updated": "updated",
    "orders/paid": "paid",
    "orders/cancelled": "cancelled",
}
PAID_FINANCIAL_STATUSES = {"paid", "partially_refunded", "refunded"}

# Matched against the lower-cased gateway name with "_" and "-" read as spaces.
_COD = re.compile(r"\bcash on delivery\b|\bcod\b|代引|代金引換")
_BANK = re.compile(r"\bbank\b|\bdeposit\b|\bmoney order\b|\bwire\b|振込|振り込み")
_KONBINI = re.compile(r"\bkonbini\b|\bconvenience\b|コンビニ")

# Recipient field -> Shopify address key (email comes from the order itself).
_ADDRESS_KEYS = {
    "name": "name",
    "address1": "address1",
    "address2": "address2",
    "city": "city",
    "region": "province",
    "postal_code": "zip",
    "country": "country_code",
    "phone": "phone",
}


def payment_method(gateway: str) -> str:
    """Shopify gateway name -> orderhub payment method (see module docstring)."""
    g = re.sub(r"[_\-]+", " ", gateway.strip().lower())
    if not g:
        return "other"
    if _COD.search(g):
        return "cod"
    if _BANK.search(g):
        return "bank_transfer"
    if _KONBINI.search(g):
        return "konbini"
    return "card"


def _gateway(order: dict[str, Any]) -> str:
    names = order.get("payment_gateway_names")
    if names is not None and not isinstance(names, list):
        raise MalformedPayload("payment_gateway_names must be a list", field="payment_gateway_names")
    for i, name in enumerate(names or []):
        value = text(name, path("payment_gateway_names", i))
        if value and value.lower() != "gift_card":
            return value
    return text(order.get("gateway"), "gateway")


def _recipient(order: dict[str, Any]) -> tuple[dict[str, str], dict[tuple[str, ...], str]]:
    """The recipient dict, and where each of its fields came from (for error paths)."""
    key = "shipping_address"
    address = obj(order.get("shipping_address"), key, required=False)
    if address is None:
        key = "billing_address"
        address = obj(order.get("billing_address"), key, required=False)
    email_field = "email" if text(order.get("email"), "email") else "contact_email"
    email = text(order.get(email_field), email_field)
    sources = {("recipient", k): path(key, v) for k, v in _ADDRESS_KEYS.items()}
    sources[("recipient", "email")] = email_field
    if address is None:
        return {"email": email}, sources
    country = country_code(address.get("country_code"), path(key, "country_code"))
    first = text(address.get("first_name"), path(key, "first_name"))
    last = text(address.get("last_name"), path(key, "last_name"))
    if country.upper() == "JP" and (first or last):
        name = f"{last} {first}".strip()
        sources[("recipient", "name")] = path(key, "last_name")
    else:
        name = text(address.get("name"), path(key, "name")) or f"{first} {last}".strip()
    phone = text(address.get("phone"), path(key, "phone"))
    if not phone:
        phone = text(order.get("phone"), "phone")
        sources[("recipient", "phone")] = "phone"
    return {
        "name": name,
        "address1": text(address.get("address1"), path(key, "address1")),
        "address2": text(address.get("address2"), path(key, "address2")),
        "city": text(address.get("city"), path(key, "city")),
        "region": text(address.get("province"), path(key, "province")),
        "postal_code": text(address.get("zip"), path(key, "zip")),
        "country": country,
        "phone": phone,
        "email": email,
    }, sources


def _items(order: dict[str, Any]) -> list[dict[str, Any]]:
    lines = order.get("line_items")
    if lines is None:
        raise MalformedPayload("line_items is required", field="line_items")
    if not isinstance(lines, list):
        raise MalformedPayload("line_items must be a list", field="line_items")
    if not lines:
        raise MalformedPayload("line_items must not be empty", field="line_items")
    items = []
    for i, raw in enumerate(lines):
        line = obj(raw, path("line_items", i))
        assert line is not None
        sku = text(line.get("sku"), path("line_items", i, "sku"))
        if not sku:
            for fallback in ("variant_id", "id"):
                sku = text(line.get(fallback), path("line_items", i, fallback))
                if sku:
                    break
        if not sku:
            raise MalformedPayload(
                "line item has no sku, variant_id or id", field=path("line_items", i, "sku")
            )
        title = text(line.get("title"), path("line_items", i, "title"))
        variant = text(line.get("variant_title"), path("line_items", i, "variant_title"))
        if variant:
            title = f"{title} ({variant})" if title else variant
        quantity = line.get("quantity")
        if quantity is None:
            raise MalformedPayload("quantity is required", field=path("line_items", i, "quantity"))
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise MalformedPayload("quantity must be an integer", field=path("line_items", i, "quantity"))
        items.append(
            {
                "sku": sku,
                "title": title,
                "quantity": quantity,
                "price": money(line.get("price"), path("line_items", i, "price")),
            }
        )
    return items


class ShopifyAdapter:
    name = "shopify"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, now: datetime) -> None:
        h = lower_headers(headers)
        given = (h.get(SIGNATURE_HEADER) or "").strip()
        if not given:
            raise SignatureInvalid("missing X-Shopify-Hmac-Sha256 header", field="X-Shopify-Hmac-Sha256")
        if not secret:
            raise SignatureInvalid("no Shopify webhook secret is configured for this merchant")
        if not constant_time_equal(given, hmac_sha256_base64(secret, body)):
            raise SignatureInvalid(
                "X-Shopify-Hmac-Sha256 does not match the body", field="X-Shopify-Hmac-Sha256"
            )

    def parse(self, headers: Mapping[str, str], body: bytes) -> tuple[str, OrderChange]:
        h = lower_headers(headers)
        delivery_id = (h.get(WEBHOOK_ID_HEADER) or "").strip()
        if not delivery_id:
            raise MalformedPayload("missing X-Shopify-Webhook-Id header", field="X-Shopify-Webhook-Id")
        shopify_topic = (h.get(TOPIC_HEADER) or "").strip().lower()
        topic = TOPICS.get(shopify_topic)
        if topic is None:
            raise MalformedPayload(
                f"unsupported X-Shopify-Topic {shopify_topic or '(missing)'!r}; expected one of "
                + ", ".join(TOPICS),
                field="X-Shopify-Topic",
            )
        order = load_json_object(body)
        return delivery_id, normalize_order(order, topic)


def normalize_order(order: dict[str, Any], topic: str) -> OrderChange:
    """A Shopify order object -> OrderChange (decisions in the module docstring)."""
    number = text(order.get("order_number"), "order_number")
    number_field = "order_number"
    if not number:
        number = text(order.get("name"), "name").lstrip("#").strip()
        number_field = "name"
    if not number:
        raise MalformedPayload("order_number (or name) is required", field="order_number")

    updated_at = timestamp(order.get("updated_at"), "updated_at")
    placed_field = (
        "processed_at" if not order.get("created_at") and order.get("processed_at") else "created_at"
    )
    placed_at = timestamp(order.get(placed_field), placed_field)
    processed_at = timestamp(order.get("processed_at"), "processed_at", required=False)
    cancelled_at = timestamp(order.get("cancelled_at"), "cancelled_at", required=False)

    financial_status = text(order.get("financial_status"), "financial_status").lower()
    paid_at = None
    if financial_status in PAID_FINANCIAL_STATUSES:
        paid_at = processed_at or updated_at
    gateway = _gateway(order)
    items = _items(order)
    recipient, recipient_sources = _recipient(order)

    table = {
        ("marketplace_order_no",): number_field,
        ("marketplace_updated_at",): "updated_at",
        ("placed_at",): placed_field,
        ("cancelled_at",): "cancelled_at",
        ("currency",): "currency",
        ("total",): "total_price",
        ("items",): "line_items",
        ("payment", "gateway"): "payment_gateway_names",
        ("payment", "method"): "payment_gateway_names",
        ("payment", "paid_at"): "processed_at",
        **recipient_sources,
    }
    data = {
        "marketplace": "shopify",
        "marketplace_order_no": number,
        "topic": topic,
        "topic_source": "header",
        "refunded": financial_status == "refunded",
        "marketplace_updated_at": updated_at,
        "placed_at": placed_at,
        "cancelled_at": cancelled_at,
        "payment": {"method": payment_method(gateway), "paid_at": paid_at, "gateway": gateway},
        "currency": text(order.get("currency"), "currency").upper(),
        "total": money(order.get("total_price"), "total_price", required=False),
        "items": items,
        "recipient": recipient,
    }
    return build_change(data, translate_with(table))
