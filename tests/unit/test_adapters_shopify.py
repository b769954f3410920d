"""Shopify adapter: signature, topics, normalization of the real order object, field errors."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from orderhub.kernel.errors import MalformedPayload, SignatureInvalid
from orderhub.marketplaces.registry import ADAPTERS, get_adapter
from orderhub.marketplaces.shopify.webhook import ShopifyAdapter, payment_method

EVENTS = Path(__file__).resolve().parents[2] / "events" / "shopify"
SECRET = "shpss_test_secret_1234"
NOW = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
adapter = ShopifyAdapter()


def sample(name: str) -> dict:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def headers(topic: str = "orders/create", webhook_id: str = "wh-1") -> dict[str, str]:
    return {"x-shopify-topic": topic, "x-shopify-webhook-id": webhook_id}


def parse(order: dict, topic: str = "orders/create"):
    return adapter.parse(headers(topic), json.dumps(order, ensure_ascii=False).encode())


def field_of(order: dict | bytes, topic: str = "orders/create", hdrs: dict | None = None) -> str | None:
    body = order if isinstance(order, bytes) else json.dumps(order).encode()
    with pytest.raises(MalformedPayload) as exc:
        adapter.parse(hdrs if hdrs is not None else headers(topic), body)
    assert exc.value.code == "malformed_payload"
    return exc.value.field


# --- registry -----------------------------------------------------------------------------


def test_registry_has_the_three_route_segments():
    assert sorted(ADAPTERS) == ["generic", "shopify", "wish"]
    assert isinstance(get_adapter("shopify"), ShopifyAdapter)
    assert get_adapter("shopify").name == "shopify"
    assert get_adapter("amazon") is None
    assert get_adapter("Shopify") is None


# --- verify -------------------------------------------------------------------------------


def test_valid_signature_passes():
    body = (EVENTS / "orders_create.json").read_bytes()
    adapter.verify({"x-shopify-hmac-sha256": sign(body)}, body, SECRET, NOW)


def test_header_name_case_does_not_matter():
    body = b'{"id": 1}'
    adapter.verify({"X-Shopify-Hmac-Sha256": sign(body)}, body, SECRET, NOW)


def test_one_byte_change_fails():
    body = (EVENTS / "orders_create.json").read_bytes()
    sig = sign(body)
    tampered = body.replace(b'"total_price": "6000"', b'"total_price": "6001"')
    assert tampered != body and len(tampered) == len(body)
    with pytest.raises(SignatureInvalid):
        adapter.verify({"x-shopify-hmac-sha256": sig}, tampered, SECRET, NOW)


def test_wrong_secret_fails():
    body = b'{"id": 1}'
    with pytest.raises(SignatureInvalid):
        adapter.verify({"x-shopify-hmac-sha256": sign(body, "other-secret")}, body, SECRET, NOW)


@pytest.mark.parametrize("hdrs", [{}, {"x-shopify-hmac-sha256": ""}])
def test_missing_signature_header_fails(hdrs):
    with pytest.raises(SignatureInvalid) as exc:
        adapter.verify(hdrs, b"{}", SECRET, NOW)
    assert exc.value.status == 401


def test_empty_secret_never_verifies():
    body = b"{}"
    with pytest.raises(SignatureInvalid):
        adapter.verify({"x-shopify-hmac-sha256": sign(body, "")}, body, "", NOW)


def test_hex_signature_is_not_accepted():
    body = b"{}"
    hex_sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with pytest.raises(SignatureInvalid):
        adapter.verify({"x-shopify-hmac-sha256": hex_sig}, body, SECRET, NOW)


# --- samples ------------------------------------------------------------------------------


def test_orders_create_sample_normalizes():
    delivery_id, change = adapter.parse(
        headers("orders/create", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
        (EVENTS / "orders_create.json").read_bytes(),
    )
    assert delivery_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert change.marketplace == "shopify"
    assert change.marketplace_order_no == "1001"
    assert change.topic == "created"
    assert change.placed_at == datetime(2026, 1, 5, 1, 15, 30, tzinfo=UTC)
    assert change.marketplace_updated_at == datetime(2026, 1, 5, 1, 15, 32, tzinfo=UTC)
    assert change.cancelled_at is None
    assert change.currency == "JPY"
    assert change.total == Decimal("6000")
    assert [(i.sku, i.title, i.quantity, i.price) for i in change.items] == [
        ("TEA-GREEN-100", "オーガニック緑茶 100g", 2, Decimal("1200")),
        ("CUP-ARITA-01", "有田焼 湯呑み (藍)", 1, Decimal("2800")),
    ]
    r = change.recipient
    assert r.name == "山田 太郎"  # JP: family name first
    assert (r.address1, r.address2, r.city, r.region) == (
        "神宮前1-2-3",
        "オーダーハブビル 5F",
        "渋谷区",
        "Tokyo",
    )
    assert (r.postal_code, r.country, r.phone) == ("150-0001", "JP", "+81 90-0000-1234")
    assert r.email == "taro.yamada@example.com"
    assert change.payment.method == "card"
    assert change.payment.gateway == "shopify_payments"
    assert change.payment.paid_at == datetime(2026, 1, 5, 1, 15, 30, tzinfo=UTC)


def test_topics_of_the_four_samples_and_increasing_updated_at():
    seen = []
    for name, topic, expected in [
        ("orders_create.json", "orders/create", "created"),
        ("orders_paid.json", "orders/paid", "paid"),
        ("orders_updated.json", "orders/updated", "updated"),
        ("orders_cancelled.json", "orders/cancelled", "cancelled"),
    ]:
        _, change = adapter.parse(headers(topic), (EVENTS / name).read_bytes())
        assert change.topic == expected
        assert change.marketplace_order_no == "1001"
        seen.append(change.marketplace_updated_at)
    assert seen == sorted(seen) and len(set(seen)) == 4


def test_orders_updated_sample_carries_the_new_address():
    _, change = adapter.parse(headers("orders/updated"), (EVENTS / "orders_updated.json").read_bytes())
    assert change.recipient.address2 == "オーダーハブビル 7F"
    assert change.recipient.phone == "+81 90-0000-5678"


def test_orders_cancelled_sample_keeps_lines_and_payment():
    _, change = adapter.parse(headers("orders/cancelled"), (EVENTS / "orders_cancelled.json").read_bytes())
    assert change.topic == "cancelled"
    assert change.cancelled_at == datetime(2026, 1, 5, 3, 30, tzinfo=UTC)
    # current_quantity is 0 after the refund; the ordered quantities are kept.
    assert [i.quantity for i in change.items] == [2, 1]
    assert change.payment.paid_at is not None  # financial_status "refunded" implies a capture


def test_cod_sample_is_pending_cash_on_delivery():
    _, change = adapter.parse(headers(), (EVENTS / "orders_create_cod.json").read_bytes())
    assert change.marketplace_order_no == "1002"
    assert change.payment.method == "cod"
    assert change.payment.paid_at is None
    assert change.recipient.region == "Ōsaka"
    assert change.items[0].quantity == 3


def test_bank_sample_is_pending_bank_transfer():
    _, change = adapter.parse(headers(), (EVENTS / "orders_create_bank.json").read_bytes())
    assert change.marketplace_order_no == "1003"
    assert change.payment.method == "bank_transfer"
    assert change.payment.gateway == "Bank Deposit"
    assert change.payment.paid_at is None
    assert change.recipient.address2 == ""
    assert change.total == Decimal("11200")


def test_the_paid_topic_does_not_make_an_unpaid_body_paid():
    """X-Shopify-Topic is outside the signature: only financial_status says paid."""
    order = sample("orders_create_bank.json")
    order["processed_at"] = "2026-01-06T09:00:00+09:00"
    _, change = parse(order, "orders/paid")
    assert (change.topic, change.topic_source) == ("paid", "header")
    assert change.payment.paid_at is None
    order["financial_status"] = "paid"
    _, change = parse(order, "orders/paid")
    assert change.payment.paid_at == datetime(2026, 1, 6, 0, 0, tzinfo=UTC)


# --- normalization details ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("gateway", "method"),
    [
        ("shopify_payments", "card"),
        ("stripe", "card"),
        ("Cash on Delivery (COD)", "cod"),
        ("cod", "cod"),
        ("代金引換", "cod"),
        ("Bank Deposit", "bank_transfer"),
        ("bank_transfer", "bank_transfer"),
        ("Money Order", "bank_transfer"),
        ("Wire transfer", "bank_transfer"),
        ("銀行振込", "bank_transfer"),
        ("Konbini", "konbini"),
        ("Convenience store payment", "konbini"),
        ("コンビニ決済", "konbini"),
        ("barcode_pay", "card"),  # "cod" only as a word
        ("", "other"),
    ],
)
def test_payment_method_from_gateway(gateway, method):
    assert payment_method(gateway) == method


def test_gateway_falls_back_to_deprecated_gateway_field_and_skips_gift_card():
    order = sample("orders_create.json")
    order["payment_gateway_names"] = ["gift_card", "Cash on Delivery (COD)"]
    assert parse(order)[1].payment.method == "cod"
    order["payment_gateway_names"] = []
    order["gateway"] = "Bank Deposit"
    assert parse(order)[1].payment.gateway == "Bank Deposit"
    order["gateway"] = None
    assert parse(order)[1].payment.method == "other"


def test_order_number_falls_back_to_name_without_hash():
    order = sample("orders_create.json")
    del order["order_number"]
    order["name"] = "#JP-1001"
    assert parse(order)[1].marketplace_order_no == "JP-1001"


def test_sku_falls_back_to_variant_id_then_line_id():
    order = sample("orders_create.json")
    order["line_items"][0]["sku"] = ""
    order["line_items"][1]["sku"] = None
    order["line_items"][1]["variant_id"] = None
    items = parse(order)[1].items
    assert items[0].sku == "44123456789012"
    assert items[1].sku == "13512345678902"


def test_digital_order_without_shipping_address_uses_billing_address():
    order = sample("orders_create.json")
    order["shipping_address"] = None
    order["billing_address"]["zip"] = "100-0005"
    r = parse(order)[1].recipient
    assert r.postal_code == "100-0005"
    assert r.country == "JP"


def test_order_without_any_address_gets_an_empty_recipient_with_email():
    order = sample("orders_create.json")
    del order["shipping_address"]
    del order["billing_address"]
    order["email"] = ""
    order["contact_email"] = "buyer@example.com"
    r = parse(order)[1].recipient
    assert (r.name, r.address1, r.country, r.email) == ("", "", "", "buyer@example.com")


def test_non_japanese_address_uses_the_address_name_and_order_phone():
    order = sample("orders_create.json")
    addr = order["shipping_address"]
    addr.update(
        {"country_code": "US", "name": "Jane Doe", "first_name": "Jane", "last_name": "Doe", "phone": None}
    )
    order["phone"] = "+1 217 555 0100"
    r = parse(order)[1].recipient
    assert (r.name, r.country, r.phone) == ("Jane Doe", "US", "+1 217 555 0100")


def test_lower_case_country_code_is_upper_cased():
    order = sample("orders_create.json")
    order["shipping_address"]["country_code"] = "jp"
    assert parse(order)[1].recipient.country == "JP"


def test_created_at_missing_falls_back_to_processed_at():
    order = sample("orders_create.json")
    del order["created_at"]
    order["processed_at"] = "2026-01-05T10:00:00+09:00"
    assert parse(order)[1].placed_at == datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


# --- malformed ----------------------------------------------------------------------------


def test_bad_json_names_body():
    assert field_of(b'{"id": 1,') == "body"
    assert field_of(b"[1, 2]") == "body"
    assert field_of(b"\xff\xfe") == "body"


@pytest.mark.parametrize("topic", ["orders/delete", "products/create", ""])
def test_unknown_topic_names_the_topic_header(topic):
    assert field_of(sample("orders_create.json"), topic) == "X-Shopify-Topic"


def test_missing_webhook_id_names_the_header():
    hdrs = {"x-shopify-topic": "orders/create"}
    assert field_of(sample("orders_create.json"), hdrs=hdrs) == "X-Shopify-Webhook-Id"


def test_missing_line_items():
    order = sample("orders_create.json")
    del order["line_items"]
    assert field_of(order) == "line_items"
    order["line_items"] = []
    assert field_of(order) == "line_items"
    order["line_items"] = {"sku": "x"}
    assert field_of(order) == "line_items"


@pytest.mark.parametrize("quantity", [0, -1, 100001])
def test_bad_quantity_names_the_line(quantity):
    order = sample("orders_create.json")
    order["line_items"][1]["quantity"] = quantity
    assert field_of(order) == "line_items[1].quantity"


@pytest.mark.parametrize("quantity", ["2", 1.5, None, True])
def test_non_integer_quantity_names_the_line(quantity):
    order = sample("orders_create.json")
    order["line_items"][0]["quantity"] = quantity
    assert field_of(order) == "line_items[0].quantity"


@pytest.mark.parametrize("price", ["abc", "-1", None, "NaN"])
def test_bad_price_names_the_line(price):
    order = sample("orders_create.json")
    order["line_items"][0]["price"] = price
    assert field_of(order) == "line_items[0].price"


def test_line_without_any_sku_or_id():
    order = sample("orders_create.json")
    line = order["line_items"][0]
    line["sku"], line["variant_id"], line["id"] = "", None, None
    assert field_of(order) == "line_items[0].sku"


@pytest.mark.parametrize("code", ["JPN", "J1", "日本"])
def test_bad_country_code(code):
    order = sample("orders_create.json")
    order["shipping_address"]["country_code"] = code
    assert field_of(order) == "shipping_address.country_code"


def test_missing_country_code_in_a_present_address():
    order = sample("orders_create.json")
    del order["shipping_address"]["country_code"]
    assert field_of(order) == "shipping_address.country_code"


def test_bad_billing_country_code_is_named_after_billing_address():
    order = sample("orders_create.json")
    order["shipping_address"] = None
    order["billing_address"]["country_code"] = "XXX"
    assert field_of(order) == "billing_address.country_code"


@pytest.mark.parametrize("value", [None, "", "yesterday", "2026-01-05T10:15:32", 1767575732])
def test_missing_or_bad_updated_at(value):
    order = sample("orders_create.json")
    if value is None:
        del order["updated_at"]
    else:
        order["updated_at"] = value
    assert field_of(order) == "updated_at"


def test_bad_cancelled_at():
    order = sample("orders_cancelled.json")
    order["cancelled_at"] = "not a date"
    assert field_of(order, "orders/cancelled") == "cancelled_at"


def test_missing_created_and_processed_at_names_created_at():
    order = sample("orders_create.json")
    del order["created_at"]
    del order["processed_at"]
    assert field_of(order) == "created_at"


def test_missing_order_number_and_name():
    order = sample("orders_create.json")
    del order["order_number"]
    order["name"] = "#"
    assert field_of(order) == "order_number"


def test_bad_total_price():
    order = sample("orders_create.json")
    order["total_price"] = "six thousand"
    assert field_of(order) == "total_price"


def test_too_long_postal_code_names_zip():
    order = copy.deepcopy(sample("orders_create.json"))
    order["shipping_address"]["zip"] = "1" * 41
    assert field_of(order) == "shipping_address.zip"


def test_non_object_shipping_address():
    order = sample("orders_create.json")
    order["shipping_address"] = "東京都渋谷区"
    assert field_of(order) == "shipping_address"
