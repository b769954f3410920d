"""Wish adapter: orderhub's signing scheme, topics, normalization of the v3 order object."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from orderhub.kernel.errors import MalformedPayload, SignatureInvalid
from orderhub.marketplaces.registry import get_adapter
from orderhub.marketplaces.wish.webhook import WishAdapter

EVENTS = Path(__file__).resolve().parents[2] / "events" / "wish"
SECRET = "wish_connector_secret"
NOW = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)
adapter = WishAdapter()
ADDR = "full_address.shipping_detail"
PAY = "order_payment.general_payment_details"


def sample(name: str = "order_created.json") -> dict:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def headers(topic: str | None = "order.created", event_id: str = "evt-1") -> dict[str, str]:
    h = {"x-wish-event-id": event_id}
    if topic is not None:
        h["x-wish-topic"] = topic
    return h


def parse(order: dict, topic: str | None = "order.created"):
    return adapter.parse(headers(topic), json.dumps(order).encode())


def field_of(order: dict | bytes, hdrs: dict | None = None) -> str | None:
    body = order if isinstance(order, bytes) else json.dumps(order).encode()
    with pytest.raises(MalformedPayload) as exc:
        adapter.parse(hdrs if hdrs is not None else headers(), body)
    return exc.value.field


# --- verify -------------------------------------------------------------------------------


def test_registry_serves_wish():
    assert isinstance(get_adapter("wish"), WishAdapter)


def test_valid_signature_passes():
    body = (EVENTS / "order_created.json").read_bytes()
    adapter.verify({"x-wish-hmac-sha256": sign(body)}, body, SECRET, NOW)


def test_one_byte_change_fails():
    body = (EVENTS / "order_created.json").read_bytes()
    sig = sign(body)
    tampered = body.replace(b'"product_quantity": 2', b'"product_quantity": 3')
    assert tampered != body
    with pytest.raises(SignatureInvalid):
        adapter.verify({"x-wish-hmac-sha256": sig}, tampered, SECRET, NOW)


def test_wrong_secret_fails():
    body = b"{}"
    with pytest.raises(SignatureInvalid):
        adapter.verify({"x-wish-hmac-sha256": sign(body, "other")}, body, SECRET, NOW)


def test_missing_signature_header_fails():
    body = b"{}"
    with pytest.raises(SignatureInvalid):
        adapter.verify({"x-shopify-hmac-sha256": sign(body)}, body, SECRET, NOW)


# --- samples ------------------------------------------------------------------------------


def test_created_sample_normalizes():
    delivery_id, change = adapter.parse(
        headers("order.created", "evt-42"), (EVENTS / "order_created.json").read_bytes()
    )
    assert delivery_id == "evt-42"
    assert change.marketplace == "wish"
    assert change.marketplace_order_no == "65a1f3c2e4b0a1b2c3d4e5f6"
    assert change.topic == "created"
    assert change.placed_at == datetime(2026, 1, 6, 2, 0, tzinfo=UTC)
    assert change.marketplace_updated_at == datetime(2026, 1, 6, 2, 0, tzinfo=UTC)
    assert change.cancelled_at is None
    assert change.payment.method == "marketplace"
    assert change.payment.paid_at == datetime(2026, 1, 6, 2, 0, tzinfo=UTC)
    assert change.payment.gateway == "wish"
    assert change.currency == "USD"
    assert change.total == Decimal("51.0")
    assert len(change.items) == 1
    item = change.items[0]
    assert (item.sku, item.title, item.quantity, item.price) == (
        "CUP-ARITA-01-INDIGO",
        "Arita porcelain tea cup (Indigo)",
        2,
        Decimal("24.0"),
    )
    r = change.recipient
    assert (r.name, r.address1, r.address2, r.city, r.region, r.postal_code, r.country) == (
        "Jane Doe",
        "123 Main St",
        "Apt 4B",
        "Springfield",
        "IL",
        "62701",
        "US",
    )
    assert r.phone == "+1 2175550123"
    assert r.email == ""


def test_cancelled_sample_normalizes():
    _, change = adapter.parse(headers("order.cancelled"), (EVENTS / "order_cancelled.json").read_bytes())
    assert change.topic == "cancelled"
    assert change.marketplace_order_no == "65a1f3c2e4b0a1b2c3d4e5f6"
    assert change.cancelled_at == datetime(2026, 1, 7, 5, 30, tzinfo=UTC)
    assert change.marketplace_updated_at == datetime(2026, 1, 7, 5, 30, 5, tzinfo=UTC)


def test_samples_are_the_same_order_with_increasing_updated_at():
    a = parse(sample("order_created.json"))[1]
    b = parse(sample("order_cancelled.json"), "order.cancelled")[1]
    assert a.marketplace_order_no == b.marketplace_order_no
    assert a.marketplace_updated_at < b.marketplace_updated_at


# --- topics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("order.created", "created"),
        ("order.updated", "updated"),
        ("order.paid", "paid"),
        ("order.cancelled", "cancelled"),
        ("order.rereleased", "rereleased"),
        ("order.tracking_cancelled", "tracking_cancelled"),
        ("ORDER_RELEASE", "created"),
        ("ORDER_ADDRESS_CHANGE", "updated"),
        ("ORDER_TRACKING_UPDATE", "updated"),
        ("ORDER_REFUND", "cancelled"),
        ("order_refund", "cancelled"),
    ],
)
def test_topic_header(topic, expected):
    assert parse(sample(), topic)[1].topic == expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("APPROVED", "updated"),
        ("SHIPPED", "updated"),
        ("REQUIRE_REVIEW", "updated"),
        ("REFUNDED", "cancelled"),
        ("DECLINED", "cancelled"),
        ("CANCELLED", "cancelled"),
        ("refunded", "cancelled"),
    ],
)
def test_topic_from_state_when_the_header_is_absent(state, expected):
    order = sample()
    order["state"] = state
    assert parse(order, None)[1].topic == expected


def test_refunded_state_without_refund_times_is_cancelled_at_updated_at():
    order = sample()
    order["state"] = "REFUNDED"
    order["updated_at"] = "2026-01-06T05:00:00Z"
    assert parse(order, None)[1].cancelled_at == datetime(2026, 1, 6, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize("topic", ["order.deleted", "ORDER_PENALTY", "orders/create"])
def test_unknown_topic_names_the_header(topic):
    assert field_of(sample(), headers(topic)) == "X-Wish-Topic"


def test_missing_event_id_names_the_header():
    assert field_of(sample(), {"x-wish-topic": "order.created"}) == "X-Wish-Event-Id"


# --- normalization details ----------------------------------------------------------------


def test_order_time_wins_for_placed_at():
    order = sample()
    order["order_time"] = "2026-01-05T23:59:00Z"
    change = parse(order)[1]
    assert change.placed_at == datetime(2026, 1, 5, 23, 59, tzinfo=UTC)
    assert change.payment.paid_at == datetime(2026, 1, 6, 2, 0, tzinfo=UTC)


def test_sku_falls_back_to_variation_id():
    order = sample()
    order["product_information"]["sku"] = ""
    assert parse(order)[1].items[0].sku == "64f0c1d2e3a4b5c6d7e8f902"


def test_plain_string_phone_and_street_address3():
    order = sample()
    detail = order["full_address"]["shipping_detail"]
    detail["phone_number"] = "+1 217 555 0199"
    detail["street_address3"] = "c/o Acme"
    r = parse(order)[1].recipient
    assert r.phone == "+1 217 555 0199"
    assert r.address2 == "Apt 4B, c/o Acme"


# --- malformed ----------------------------------------------------------------------------


def test_bad_json_names_body():
    assert field_of(b"{not json") == "body"


def _set(order: dict, dotted: str, value) -> dict:
    parts = dotted.split(".")
    target = order
    for p in parts[:-1]:
        target = target[p]
    if value is ...:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    return order


@pytest.mark.parametrize(
    ("dotted", "value", "field"),
    [
        ("id", ..., "id"),
        ("state", ..., "state"),
        ("state", "LOST", "state"),
        ("updated_at", ..., "updated_at"),
        ("updated_at", "2026-01-06 02:00", "updated_at"),
        ("released_at", ..., "released_at"),
        ("product_information", ..., "product_information"),
        ("full_address", ..., "full_address"),
        (ADDR, ..., ADDR),
        (f"{ADDR}.country_code", ..., f"{ADDR}.country_code"),
        (f"{ADDR}.country_code", "USA", f"{ADDR}.country_code"),
        (f"{ADDR}.zipcode", "9" * 41, f"{ADDR}.zipcode"),
        (f"{PAY}.product_quantity", 0, f"{PAY}.product_quantity"),
        (f"{PAY}.product_quantity", ..., f"{PAY}.product_quantity"),
        (f"{PAY}.product_quantity", "2", f"{PAY}.product_quantity"),
        (f"{PAY}.product_price", ..., f"{PAY}.product_price"),
        (f"{PAY}.product_price.amount", "free", f"{PAY}.product_price.amount"),
        (f"{PAY}.product_price.amount", -1, f"{PAY}.product_price.amount"),
        ("order_payment", ..., "order_payment"),
    ],
)
def test_malformed_order_names_the_wish_field(dotted, value, field):
    assert field_of(_set(sample(), dotted, value)) == field


# --- shipping state (seed 000: a relink must not ship an order twice) ----------------------
@pytest.mark.parametrize(
    ("state", "awaiting", "shipping_started"),
    [("APPROVED", True, False), ("SHIPPED", False, True), ("REQUIRE_REVIEW", None, None)],
)
def test_the_order_state_says_whether_the_parcel_left(state, awaiting, shipping_started, monkeypatch):
    from orderhub.marketplaces.wish.client import WishClient

    order = sample()
    order["state"] = state
    _, change = parse(order, None)
    assert change.awaiting_shipment is awaiting
    client = WishClient("wish", "https://wish.example", "token")
    monkeypatch.setattr(client, "fetch_order", lambda no: change)
    assert client.fetch_for_relink(order["id"]) == (change, shipping_started)


# --- Wish's own webhook: Wish-Hmac-Sha256 over an array of {data, timestamp} ------------------
def wish_signed(body: bytes, topic: str = "ORDER_RELEASE", secret: str = SECRET) -> dict[str, str]:
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {"wish-hmac-sha256": digest, "wish-topic": topic, "wish-api-version": "V3"}


def batch_body(*orders: dict) -> bytes:
    return json.dumps([{"data": o, "timestamp": o["updated_at"]} for o in orders]).encode()


def test_wish_s_own_signature_header_verifies_and_a_wrong_one_names_it():
    body = batch_body(sample())
    adapter.verify(wish_signed(body), body, SECRET, NOW)
    with pytest.raises(SignatureInvalid) as exc:
        adapter.verify(wish_signed(body, secret="other"), body, SECRET, NOW)
    assert exc.value.field == "Wish-Hmac-Sha256"
    with pytest.raises(SignatureInvalid):
        adapter.verify({"wish-topic": "ORDER_RELEASE"}, body, SECRET, NOW)


def test_each_order_of_wish_s_array_is_a_delivery_keyed_by_its_id_and_updated_at():
    first, second = sample(), {**sample(), "id": "65a1f3c2e4b0a1b2c3d4e5f7", "state": "REFUNDED"}
    body = batch_body(first, second)
    headers = wish_signed(body, topic="ORDER_ALL")
    elements = adapter.batch(headers, body)
    assert len(elements) == 2
    (id1, c1), (id2, c2) = (adapter.parse_element(headers, i, e) for i, e in enumerate(elements))
    assert id1 == f"wish-v3:{first['id']}:2026-01-06T02:00:00.000Z" and id2.startswith(
        f"wish-v3:{second['id']}:"
    )
    # ORDER_ALL is no topic orderhub acts on: the state decides, from the signed body
    assert (c1.topic, c1.topic_source) == ("updated", "body")
    assert (c2.topic, c2.cancelled_at is not None) == ("cancelled", True)
    release = adapter.parse_element(wish_signed(body), 0, elements[0])[1]
    assert (release.topic, release.topic_source) == ("created", "header")
    assert adapter.batch(headers, json.dumps(first).encode()) is None  # the connector's object


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"[]", "body"),
        (b'"x"', "body"),
        (json.dumps([{"data": {}}] * 101).encode(), "body"),
    ],
)
def test_a_wish_delivery_that_is_no_array_of_orders_is_malformed(body, field):
    with pytest.raises(MalformedPayload) as exc:
        adapter.batch({}, body)
    assert exc.value.field == field


def test_a_malformed_order_in_wish_s_array_names_its_position():
    broken = {**sample(), "state": "LOST"}
    with pytest.raises(MalformedPayload) as exc:
        adapter.parse_element({}, 1, {"data": broken, "timestamp": "x"})
    assert exc.value.field == "[1].data.state"
    with pytest.raises(MalformedPayload) as exc:
        adapter.parse_element({}, 2, ["not", "an", "object"])
    assert exc.value.field == "[2]"


def test_an_order_wish_is_still_reviewing_waits_unpaid_until_wish_approves_it():
    """REQUIRE_REVIEW: no merchant action until Wish approves the payment (the order is held in
    pending, with no deadline); APPROVED releases it."""
    from orderhub.domain.ingest import Create, Update, decide
    from orderhub.domain.settings import Integration

    order = sample()
    order["state"] = "REQUIRE_REVIEW"
    _, reviewing = parse(order, None)
    assert reviewing.payment.method == "marketplace" and reviewing.payment.paid_at is None
    kw = {"merchant_id": "demo", "order_id": "ord_1", "packing_no": "PK1"}
    created = decide(None, reviewing, Integration(), reviewing.marketplace_updated_at, **kw)
    assert isinstance(created, Create) and created.order["status"] == "pending"
    assert created.order["deadline_at"] is None
    order["state"] = "APPROVED"
    _, approved = parse(order, None)
    released = decide(created.order, approved, Integration(), approved.marketplace_updated_at)
    assert isinstance(released, Update) and released.order["status"] == "new"


@pytest.mark.parametrize("state", ["REQUIRE_REVIEW", "DECLINED"])
def test_an_order_wish_never_released_has_no_released_at_and_still_maps(state):
    order = sample()
    order["state"] = state
    order.pop("released_at", None)
    order.pop("order_time", None)
    _, change = parse(order, None)
    assert change.placed_at == change.marketplace_updated_at
    order["state"] = "APPROVED"  # an approved order without its release time is malformed
    with pytest.raises(MalformedPayload):
        parse(order, None)
