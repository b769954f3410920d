"""Amazon's connector (orderhub.marketplaces.amazon): the mapping of Orders v0 orders, the client
against the fake's SP-API over real HTTP (LWA, Restricted Data Tokens, getOrders paging,
confirmShipment, the cancel feed), its faults, the carrier codes and the ORDER_CHANGE
notification. Payloads are built from ordersV0.json and OrderChangeNotification.json."""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from xml.etree import ElementTree as ET

import pytest

from localcloud.fake_marketplace import FakeMarketplace
from orderhub.domain import ingest
from orderhub.domain.settings import Integration, defaults
from orderhub.kernel import clock
from orderhub.kernel.errors import MalformedPayload
from orderhub.marketplaces import registry
from orderhub.marketplaces.amazon import carriers, notifications
from orderhub.marketplaces.amazon import client as amazon_client
from orderhub.marketplaces.amazon import orders as amazon_orders
from orderhub.marketplaces.amazon.client import AmazonClient
from orderhub.marketplaces.amazon.orders import normalize, normalize_order
from orderhub.marketplaces.client import CARRIER_CODES, MarketplaceError
from tests.support.outbound import allowing

NO = "503-1234567-7654321"
JP = "A1VC38T7YXB528"
T0 = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
CLIENT_ID = "amzn1.application-oa2-client.test"
SECRET = "lwa-client-secret"
REFRESH = "Atzr|refresh-token-1"
SELLER = "A2SELLERTEST1"


@pytest.fixture(scope="module")
def fake():
    with FakeMarketplace() as f, allowing(f.url):
        yield f


@pytest.fixture(autouse=True)
def clean(fake):
    fake.reset()
    yield
    clock.freeze(None)


@pytest.fixture
def sleeps():
    return []


def at(minutes: float = 0) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def address(**overrides) -> dict:
    return {
        "Name": "山田 太郎",
        "AddressLine1": "丸の内1-1-1",
        "AddressLine2": "丸の内ビル 10F",
        "City": "千代田区",
        "StateOrRegion": "東京都",
        "PostalCode": "100-0001",
        "CountryCode": "JP",
        "Phone": "03-1234-5678",
        "AddressType": "Residential",
        **overrides,
    }


def line(oid: str, sku: str, quantity: int, amount: str | None, **extra) -> dict:
    """An OrderItem (ordersV0.json: ASIN, OrderItemId and QuantityOrdered required)."""
    item = {
        "ASIN": "B0" + oid[-8:],
        "OrderItemId": oid,
        "SellerSKU": sku,
        "Title": f"{sku} title",
        "QuantityOrdered": quantity,
        "QuantityShipped": 0,
        **extra,
    }
    if amount is not None:
        item["ItemPrice"] = {"CurrencyCode": "JPY", "Amount": amount}
    return item


def items() -> list[dict]:
    return [
        line("12345678901234", "MUG-KUTANI-BLUE", 2, "6000.00"),
        line("12345678905678", "PLATE-ARITA", 1, "2500.00"),
    ]


def amazon_order(no: str = NO, *, status: str = "Unshipped", updated: float = 0, **extra) -> dict:
    """An Order (ordersV0.json: AmazonOrderId, LastUpdateDate, OrderStatus, PurchaseDate required)."""
    order = {
        "AmazonOrderId": no,
        "PurchaseDate": at(-120),
        "LastUpdateDate": at(updated),
        "OrderStatus": status,
        "FulfillmentChannel": "MFN",
        "SalesChannel": "Amazon.co.jp",
        "OrderTotal": {"CurrencyCode": "JPY", "Amount": "8500.00"},
        "NumberOfItemsShipped": 0,
        "NumberOfItemsUnshipped": 3,
        "PaymentMethod": "Other",
        "PaymentMethodDetails": ["Standard"],
        "MarketplaceId": JP,
        "ShippingAddress": address(),
    }
    order.update(extra)
    return order


def stored(no: str = NO, *, lines: list[dict] | None = None, **kw) -> dict:
    """The fake's stored object: the Order with its lines under OrderItems."""
    return {**amazon_order(no, **kw), "OrderItems": items() if lines is None else lines}


def client(fake, sleeps=None, **kw) -> AmazonClient:
    settings = {
        **defaults("amazon"),
        "lwa_client_id": CLIENT_ID,
        "lwa_token_url": f"{fake.url}/amazon/auth/o2/token",
        "seller_id": SELLER,
        **kw.pop("settings", {}),
    }
    credentials = kw.pop("credentials", {"lwa_client_secret": SECRET, "lwa_refresh_token": REFRESH})
    kw.setdefault("timeout", 0.5)
    kw.setdefault("backoff", 0.25)
    return AmazonClient(
        "amazon",
        fake.base_url("amazon"),
        "",
        settings=settings,
        credentials=credentials,
        sleep=(sleeps if sleeps is not None else []).append,
        **kw,
    )


def calls(fake, path: str | None = None) -> list[dict]:
    return [c for c in fake.calls("amazon") if path is None or c["path"] == path]


def sp_calls(fake) -> list[dict]:
    return [c for c in fake.calls("amazon") if c["path"] != "/auth/o2/token"]


# ====================================================================== mapping (pure)
def test_an_unshipped_order_maps_its_ids_times_unit_prices_and_address():
    order = amazon_order(PurchaseDate="2026-01-06T10:15:30+09:00", LastUpdateDate="2026-01-06T02:00:00Z")
    change = normalize({"order": order, "items": items()})

    assert change.marketplace == "amazon" and change.marketplace_order_no == NO
    assert change.topic == "updated" and change.cancelled_at is None and change.claim is None
    assert change.placed_at == datetime(2026, 1, 6, 1, 15, 30, tzinfo=UTC)  # 10:15:30 JST
    assert change.marketplace_updated_at == datetime(2026, 1, 6, 2, 0, tzinfo=UTC)
    assert change.awaiting_shipment is True
    assert change.payment.method == "marketplace"
    assert change.payment.paid_at == change.placed_at
    assert change.payment.gateway == "amazon: Standard"
    assert (change.currency, change.total) == ("JPY", Decimal("8500.00"))
    # ItemPrice is the line's price (unit x quantity); orderhub's price is per unit.
    assert [(i.sku, i.title, i.quantity, i.price) for i in change.items] == [
        ("MUG-KUTANI-BLUE", "MUG-KUTANI-BLUE title", 2, Decimal("3000.00")),
        ("PLATE-ARITA", "PLATE-ARITA title", 1, Decimal("2500.00")),
    ]
    r = change.recipient
    assert (r.name, r.address1, r.address2) == ("山田 太郎", "丸の内1-1-1", "丸の内ビル 10F")
    assert (r.city, r.region, r.postal_code, r.country, r.phone) == (
        "千代田区",
        "東京都",
        "100-0001",
        "JP",
        "03-1234-5678",
    )
    assert r.email == ""


@pytest.mark.parametrize(
    ("status", "topic", "awaiting", "paid", "cancelled"),
    [
        ("PendingAvailability", "updated", None, False, False),
        ("Pending", "updated", None, False, False),
        ("Unshipped", "updated", True, True, False),
        ("PartiallyShipped", "updated", True, True, False),
        ("Shipped", "updated", False, True, False),
        ("InvoiceUnconfirmed", "updated", False, True, False),
        ("Canceled", "cancelled", None, False, True),
    ],
)
def test_each_order_status_sets_topic_parcel_payment_and_cancel(status, topic, awaiting, paid, cancelled):
    order = amazon_order(status=status, updated=5)
    change = normalize_order(order, items())
    assert change.topic == topic
    assert change.awaiting_shipment is awaiting
    assert (change.payment.paid_at is not None) is paid
    assert change.cancelled_at == (T0 + timedelta(minutes=5) if cancelled else None)


def test_a_pending_order_without_prices_total_or_address_still_maps():
    """getOrderItems gives no pricing while the order is Pending, nor getOrder an address."""
    order = amazon_order(status="Pending")
    del order["OrderTotal"], order["ShippingAddress"]
    change = normalize_order(order, [line("11111111111111", "MUG-KUTANI-BLUE", 2, None)])
    assert change.payment.method == "marketplace" and change.payment.paid_at is None
    assert change.total is None and change.currency == ""
    assert [(i.quantity, i.price) for i in change.items] == [(2, Decimal(0))]
    assert change.recipient.name == "" and change.recipient.country == ""


@pytest.mark.parametrize(
    ("amazon", "status", "method", "paid"),
    [
        ("COD", "Unshipped", "cod", False),  # cash is collected on delivery
        ("CVS", "Pending", "konbini", False),  # not paid at the store yet
        ("CVS", "Unshipped", "konbini", True),
        ("Other", "Unshipped", "marketplace", True),
        (None, "Unshipped", "marketplace", True),
    ],
)
def test_payment_methods(amazon, status, method, paid):
    order = amazon_order(status=status, PaymentMethod=amazon)
    change = normalize_order(order, items())
    assert change.payment.method == method
    assert (change.payment.paid_at is not None) is paid


def test_a_konbini_order_waits_in_pending_until_amazon_shows_it_paid():
    integration, now = Integration(), T0 + timedelta(hours=3)
    unpaid = normalize_order(amazon_order(status="Pending", PaymentMethod="CVS"), items())
    created = ingest.decide(None, unpaid, integration, now, merchant_id="m", order_id="o", packing_no="P1")
    assert created.order["status"] == "pending" and created.order["hold_release_at"] is None

    paid = normalize_order(amazon_order(status="Unshipped", PaymentMethod="CVS", updated=30), items())
    updated = ingest.decide(created.order, paid, integration, now)
    assert updated.action == "paid" and updated.order["status"] == "processing"  # Amazon: new = processing


def test_a_cod_order_is_held_and_a_paid_marketplace_order_released_at_once():
    integration, now = Integration(hold_minutes=60), T0 - timedelta(minutes=110)  # placed 10 min ago
    cod = normalize_order(amazon_order(status="Unshipped", PaymentMethod="COD"), items())
    assert ingest.initial_state(cod, integration, now)["status"] == "pending"
    paid = normalize_order(amazon_order(status="Unshipped"), items())
    assert ingest.initial_state(paid, integration, now)["status"] == "processing"


def test_a_buyer_cancel_request_is_an_open_cancel_claim_with_amazons_reason():
    lines = items()
    lines[1]["BuyerRequestedCancel"] = {
        "IsBuyerRequestedCancel": "true",
        "BuyerCancelReason": "Found cheaper",
    }
    lines[0]["BuyerRequestedCancel"] = {"IsBuyerRequestedCancel": "false"}
    claim = normalize_order(amazon_order(), lines).claim
    assert (claim.state, claim.kind, claim.reason) == ("open", "cancel", "Found cheaper")

    for line_ in lines:
        line_["BuyerRequestedCancel"] = {"IsBuyerRequestedCancel": False}
    assert normalize_order(amazon_order(), lines).claim.state == "closed"  # the request is gone


def test_lines_amazon_zeroed_are_left_out_and_a_cancelled_order_keeps_its_lines():
    lines = [line("1", "GONE", 0, "0.00"), line("2", "KEPT", 3, "1000")]
    change = normalize_order(amazon_order(), lines)
    assert [(i.sku, i.quantity, i.price) for i in change.items] == [("KEPT", 3, Decimal("333.33"))]

    zeroed = [line("1", "A", 0, None), line("2", "B", 0, None)]
    cancelled = normalize_order(amazon_order(status="Canceled"), zeroed)
    assert cancelled.cancelled_at is not None and [i.quantity for i in cancelled.items] == [1, 1]
    with pytest.raises(MalformedPayload) as err:
        normalize_order(amazon_order(), zeroed)
    assert err.value.field == "OrderItems[0].QuantityOrdered"


def test_an_item_without_seller_sku_is_known_by_its_asin():
    lone = line("3", "", 1, "100")
    del lone["SellerSKU"]
    assert normalize_order(amazon_order(), [lone]).items[0].sku == lone["ASIN"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda o, i: o.update(OrderStatus="Unfulfillable"), "OrderStatus"),
        (lambda o, i: o.update(OrderStatus="Lost"), "OrderStatus"),
        (lambda o, i: o.pop("LastUpdateDate"), "LastUpdateDate"),
        (lambda o, i: o.update(PurchaseDate="2026-01-06 10:00"), "PurchaseDate"),
        (lambda o, i: o.update(PaymentMethod="Cash"), "PaymentMethod"),
        (lambda o, i: o.update(FulfillmentChannel="AFN"), "FulfillmentChannel"),
        (lambda o, i: o["ShippingAddress"].update(CountryCode="日本"), "ShippingAddress.CountryCode"),
        (lambda o, i: o["OrderTotal"].update(Amount="8,500"), "OrderTotal.Amount"),
        (lambda o, i: i[1].update(QuantityOrdered=-1), "OrderItems[1].QuantityOrdered"),
        (lambda o, i: i[1].update(ItemPrice={"Amount": "abc"}), "OrderItems[1].ItemPrice.Amount"),
        (
            lambda o, i: i[0].update(BuyerRequestedCancel={"IsBuyerRequestedCancel": "yes"}),
            "OrderItems[0].BuyerRequestedCancel.IsBuyerRequestedCancel",
        ),
        (lambda o, i: i.clear(), "OrderItems"),
    ],
)
def test_a_malformed_order_names_amazons_field(change, field):
    order, lines = amazon_order(), items()
    change(order, lines)
    with pytest.raises(MalformedPayload) as err:
        normalize_order(order, lines)
    assert err.value.field == field


def test_a_model_rule_broken_by_a_line_names_that_line_in_amazons_list():
    """The first line has QuantityOrdered 0 and is left out: the error still names OrderItems[2]."""
    lines = [line("1", "GONE", 0, None), line("2", "OK", 1, "10"), line("3", "X" * 201, 1, "10")]
    with pytest.raises(MalformedPayload) as err:
        normalize_order(amazon_order(), lines)
    assert err.value.field == "OrderItems[2].SellerSKU"


def test_what_the_pull_reads_must_be_the_order_with_its_items():
    with pytest.raises(MalformedPayload) as err:
        normalize({"items": items()})
    assert err.value.field == "order"


# ====================================================================== LWA and tokens
def test_the_lwa_token_is_fetched_once_with_the_refresh_token_and_reused(fake):
    fake.put_order("amazon", stored())
    c = client(fake)
    c.fetch_order(NO)
    c.fetch_order(NO)

    [token_call] = calls(fake, "/auth/o2/token")
    assert token_call["method"] == "POST"
    form = dict(urllib.parse.parse_qsl(token_call["body"]))
    assert form == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }
    assert "x-amz-access-token" not in token_call["headers"]
    items_calls = calls(fake, f"/orders/v0/orders/{NO}/orderItems")
    assert len(items_calls) == 2
    assert {c_["headers"]["x-amz-access-token"] for c_ in items_calls} == {c._access[0]}
    assert c._access[0].startswith("Atza|")


def test_a_token_is_renewed_a_minute_before_it_expires(fake):
    fake.state("amazon")["expires_in"] = 120
    fake.put_order("amazon", stored())
    now = [1000.0]
    c = client(fake, monotonic=lambda: now[0])
    c.order_items(NO)
    now[0] += 59  # 61 s left: kept
    c.order_items(NO)
    assert len(calls(fake, "/auth/o2/token")) == 1
    now[0] += 2  # 59 s left: renewed
    c.order_items(NO)
    assert len(calls(fake, "/auth/o2/token")) == 2


def test_a_kept_token_amazon_no_longer_takes_is_renewed_once(fake):
    fake.put_order("amazon", stored())
    c = client(fake)
    c.order_items(NO)
    fake.state("amazon")["access_tokens"].clear()  # revoked on Amazon's side
    assert len(c.order_items(NO)) == 2
    assert len(calls(fake, "/auth/o2/token")) == 2


def test_a_refresh_token_lwa_refuses_is_an_http_error_and_no_sp_api_call(fake, sleeps):
    fake.require_token("amazon", "Atzr|the-only-good-one")
    with pytest.raises(MarketplaceError) as err:
        client(fake, sleeps).fetch_order(NO)
    assert (err.value.kind, err.value.status) == ("http_error", 400)
    assert err.value.message.endswith("(invalid_grant)")
    assert sp_calls(fake) == [] and sleeps == []


def test_missing_lwa_credentials_send_nothing(fake):
    with pytest.raises(MarketplaceError) as err:
        client(fake, credentials={"lwa_client_secret": SECRET}).fetch_order(NO)
    assert err.value.kind == "http_error" and "lwa_refresh_token" in err.value.message
    assert fake.calls("amazon") == []


def test_orders_are_read_with_a_restricted_data_token_for_their_address(fake):
    fake.put_order("amazon", stored())
    change = client(fake).fetch_order(NO)
    assert change.recipient.name == "山田 太郎" and change.recipient.phone == "03-1234-5678"

    [rdt] = calls(fake, "/tokens/2021-03-01/restrictedDataToken")
    assert rdt["body"] == {
        "restrictedResources": [
            {"method": "GET", "path": f"/orders/v0/orders/{NO}", "dataElements": ["shippingAddress"]}
        ]
    }
    [get] = calls(fake, f"/orders/v0/orders/{NO}")
    assert get["headers"]["x-amz-access-token"].startswith("Atz.sprdt|")


def test_a_kept_restricted_token_amazon_refuses_is_replaced_once(fake):
    fake.put_order("amazon", stored())
    c = client(fake)
    c.list_changed(T0, None, 20)
    fake.state("amazon")["restricted_tokens"].clear()
    page, _ = c.list_changed(T0, None, 20)
    assert page[0]["order"]["ShippingAddress"]["Name"] == "山田 太郎"
    assert len(calls(fake, "/tokens/2021-03-01/restrictedDataToken")) == 2


def test_without_the_restricted_role_the_read_fails_naming_the_role(fake):
    """An order read without the recipient's name, street and phone cannot be shipped, and would
    overwrite a complete address: the read fails instead, saying what the application needs."""
    fake.state("amazon")["pii_denied"] = True
    fake.put_order("amazon", stored())
    with pytest.raises(MarketplaceError) as err:
        client(fake).fetch_order(NO)
    assert (err.value.kind, err.value.status) == ("http_error", 403)
    assert "restricted role" in err.value.message
    assert not calls(fake, f"/orders/v0/orders/{NO}")  # the order was not read without it


# ====================================================================== pull
def test_the_pull_pages_with_next_token_and_attaches_each_orders_items(fake):
    fake.put_order("amazon", stored("503-0000001-0000001", updated=10))
    fake.put_order("amazon", stored("503-0000002-0000002", updated=20))
    fake.put_order("amazon", stored("503-0000003-0000003", updated=30))
    fake.put_order("amazon", stored("503-0000004-0000004", updated=-30))  # before the window
    fake.put_order("amazon", stored("503-0000005-0000005", updated=15, FulfillmentChannel="AFN"))
    c = client(fake)
    since = T0 + timedelta(seconds=0.9)

    first, token = c.list_changed(since, None, 2)
    assert [raw["order"]["AmazonOrderId"] for raw in first] == ["503-0000001-0000001", "503-0000002-0000002"]
    assert all(len(raw["items"]) == 2 and "OrderItems" not in raw["order"] for raw in first)
    assert isinstance(token, str) and token
    second, last = c.list_changed(since, token, 2)
    assert [raw["order"]["AmazonOrderId"] for raw in second] == ["503-0000003-0000003"] and last is None

    lists = calls(fake, "/orders/v0/orders")
    assert lists[0]["query"] == {
        "MarketplaceIds": JP,
        "LastUpdatedAfter": "2026-01-06T03:00:00Z",  # to the second, floored
        "FulfillmentChannels": "MFN",
        "MaxResultsPerPage": "2",
    }
    assert lists[1]["query"]["NextToken"] == token
    # One RDT for the list path, kept across pages; each order's items with the LWA token.
    assert len(calls(fake, "/tokens/2021-03-01/restrictedDataToken")) == 1
    changes = [c.to_change(raw) for raw in first + second]
    assert [ch.marketplace_order_no for ch in changes] == [
        "503-0000001-0000001",
        "503-0000002-0000002",
        "503-0000003-0000003",
    ]
    assert changes[0].recipient.name == "山田 太郎"


def test_a_pull_page_is_twenty_orders_each_costing_one_getorderitems_call(fake):
    for n in range(21):
        fake.put_order("amazon", stored(f"503-0000000-00000{n:02d}", updated=n))
    c = client(fake)
    assert c.pull_mode == "updated_since"
    page, token = c.list_changed(T0, None, c.page_limit)
    assert len(page) == 20 and token
    assert calls(fake, "/orders/v0/orders")[0]["query"]["MaxResultsPerPage"] == "20"
    assert len([x for x in fake.calls("amazon") if x["path"].endswith("/orderItems")]) == 20


def test_an_order_without_its_number_is_left_for_the_pull_to_quarantine(fake):
    c = client(fake)
    with pytest.raises(MalformedPayload) as err:
        c.to_change({"order": {"OrderStatus": "Unshipped"}, "items": []})
    assert err.value.field == "AmazonOrderId"


def test_items_are_read_page_by_page(fake):
    fake.state("amazon")["items_page_size"] = 1
    lines = [line(f"9000000000000{n}", f"SKU-{n}", 1, "100") for n in range(3)]
    fake.put_order("amazon", stored(lines=lines))
    change = client(fake).fetch_order(NO)
    assert [i.sku for i in change.items] == ["SKU-0", "SKU-1", "SKU-2"]
    pages = calls(fake, f"/orders/v0/orders/{NO}/orderItems")
    assert [("NextToken" in p["query"]) for p in pages] == [False, True, True]


# ====================================================================== faults
def test_429_with_retry_after_is_retried_after_the_wait(fake, sleeps):
    fake.put_order("amazon", stored(updated=10))
    fake.fail("amazon", "error", 1, operation="list", status=429, retry_after=1)
    page, _ = client(fake, sleeps).list_changed(T0, None, 20)
    assert [raw["order"]["AmazonOrderId"] for raw in page] == [NO]
    assert sleeps == [1.0]
    assert [c["status"] for c in calls(fake, "/orders/v0/orders")] == [429, 200]


def test_5xx_is_retried_with_backoff_and_unavailable_when_it_persists(fake, sleeps):
    fake.put_order("amazon", stored())
    fake.fail("amazon", "error", 2, operation="fetch", status=503)
    assert client(fake, sleeps).fetch_order(NO).marketplace_order_no == NO
    assert sleeps == [0.25, 0.5]

    fake.fail("amazon", "error", -1, operation="fetch", status=500)
    with pytest.raises(MarketplaceError) as err:
        client(fake).fetch_order(NO)
    assert (err.value.kind, err.value.status) == ("unavailable", 500)


def test_a_call_that_times_out_is_a_timeout(fake):
    fake.put_order("amazon", stored())
    fake.fail("amazon", "timeout", -1, operation="fetch", delay=0.6)
    with pytest.raises(MarketplaceError) as err:
        client(fake, timeout=0.2, attempts=1).fetch_order(NO)
    assert err.value.kind == "timeout"


def test_an_unknown_order_is_not_found(fake, sleeps):
    with pytest.raises(MarketplaceError) as err:
        client(fake, sleeps).fetch_order("503-9999999-9999999")
    assert err.value.kind == "not_found" and sleeps == []


def test_amazons_error_codes_are_named_and_nothing_else_of_the_body():
    body = {"errors": [{"code": "InvalidInput", "message": "Invalid shipDate 山田", "details": ""}]}
    assert amazon_client.error_codes(body) == "InvalidInput"
    assert amazon_client.error_codes({"error": "invalid_grant", "error_description": "x"}) == "invalid_grant"
    assert amazon_client.error_codes("<html>") == amazon_client.error_codes({"errors": "x"}) == ""


# ====================================================================== ship and track
def test_fulfill_confirms_the_shipment_as_amazon_documents_it(fake, sleeps):
    fake.put_order("amazon", stored())
    c = client(fake, sleeps)
    shipped_at = datetime.now(UTC).replace(microsecond=0)
    clock.freeze(shipped_at)  # the fake dates its change now: the clock stays the real one
    c.fulfill_order(NO, "yamato", "1234-5678-9012")

    [confirm] = calls(fake, f"/orders/v0/orders/{NO}/shipmentConfirmation")
    assert confirm["method"] == "POST" and confirm["status"] == 204
    assert confirm["body"] == {
        "marketplaceId": JP,
        "packageDetail": {
            "packageReferenceId": "1",
            "carrierCode": "YamatoTransport",
            "trackingNumber": "1234-5678-9012",
            "shipDate": shipped_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "orderItems": [
                {"orderItemId": "12345678901234", "quantity": 2},
                {"orderItemId": "12345678905678", "quantity": 1},
            ],
        },
    }
    assert [(f["order_no"], f["carrier"], f["tracking_number"]) for f in fake.fulfillments("amazon")] == [
        (NO, "YamatoTransport", "1234-5678-9012")
    ]
    shipped, started = c.fetch_for_relink(NO)
    assert shipped.awaiting_shipment is False and started is True
    assert sleeps == []


def test_fulfill_sends_only_what_is_left_to_ship(fake):
    lines = items()
    lines[0]["QuantityShipped"] = 1
    fake.put_order("amazon", stored(status="PartiallyShipped", lines=lines))
    client(fake).fulfill_order(NO, "sagawa", "SG-1")
    [confirm] = calls(fake, f"/orders/v0/orders/{NO}/shipmentConfirmation")
    assert confirm["body"]["packageDetail"]["orderItems"] == [
        {"orderItemId": "12345678901234", "quantity": 1},
        {"orderItemId": "12345678905678", "quantity": 1},
    ]
    assert confirm["body"]["packageDetail"]["carrierCode"] == "SagawaExpress"


def test_a_carrier_amazon_does_not_list_goes_as_other_with_its_name(fake):
    fake.put_order("amazon", stored())
    client(fake).fulfill_order(NO, "other", "X-1")
    detail = calls(fake, f"/orders/v0/orders/{NO}/shipmentConfirmation")[0]["body"]["packageDetail"]
    assert (detail["carrierCode"], detail["carrierName"]) == ("Other", "Other")


def test_update_tracking_confirms_the_same_package_again_with_the_new_number(fake):
    fake.put_order("amazon", stored())
    c = client(fake)
    c.fulfill_order(NO, "yamato", "OLD-1")
    c.update_tracking(NO, "japan_post", "NEW-2")

    second = calls(fake, f"/orders/v0/orders/{NO}/shipmentConfirmation")[1]["body"]["packageDetail"]
    assert second["packageReferenceId"] == "1" and second["trackingNumber"] == "NEW-2"
    assert second["carrierCode"] == "Japan Post"
    assert [q["quantity"] for q in second["orderItems"]] == [2, 1]  # the whole package again
    assert [(t["order_no"], t["tracking_number"]) for t in fake.tracking_updates("amazon")] == [(NO, "NEW-2")]
    assert len(fake.fulfillments("amazon")) == 1


def test_fulfill_and_tracking_take_the_origin_country_and_note_orderhub_passes_and_send_none(fake):
    """orderhub's reflect (sync/reflect.py) calls every client with origin_country= and note=:
    Amazon's confirmShipment (ordersV0.json ConfirmShipmentRequest, PackageDetail) has no field
    for either, so they are taken and left out of the body."""
    fake.put_order("amazon", stored())
    c = client(fake)
    c.fulfill_order(NO, "yamato", "OLD-1", origin_country="CN", note="two boxes from Shenzhen")
    c.update_tracking(NO, "sagawa", "NEW-2", origin_country=None, note="relabelled")

    bodies = [call["body"] for call in calls(fake, f"/orders/v0/orders/{NO}/shipmentConfirmation")]
    sent = [b["packageDetail"] for b in bodies]
    assert [(d["carrierCode"], d["trackingNumber"]) for d in sent] == [
        ("YamatoTransport", "OLD-1"),
        ("SagawaExpress", "NEW-2"),
    ]
    assert all(set(b) == {"marketplaceId", "packageDetail"} for b in bodies)
    assert all(
        set(d)
        <= {"packageReferenceId", "carrierCode", "carrierName", "trackingNumber", "shipDate", "orderItems"}
        for d in sent
    )
    assert not any(word in json.dumps(bodies) for word in ("CN", "Shenzhen", "relabelled"))
    assert len(fake.fulfillments("amazon")) == len(fake.tracking_updates("amazon")) == 1


def test_shipping_an_order_amazon_has_not_released_is_refused_and_not_retried(fake, sleeps):
    fake.put_order("amazon", stored(status="Pending"))
    with pytest.raises(MarketplaceError) as err:
        client(fake, sleeps).fulfill_order(NO, "yamato", "1")
    assert (err.value.kind, err.value.status) == ("http_error", 400) and sleeps == []
    assert err.value.message.endswith("(InvalidInput)")
    assert fake.fulfillments("amazon") == []


def test_relink_sees_shipping_not_started_on_an_unshipped_order(fake):
    fake.put_order("amazon", stored())
    change, started = client(fake).fetch_for_relink(NO)
    assert started is False and change.awaiting_shipment is True
    assert amazon_client.SHIPPING_STARTED_STATUSES == amazon_orders.SHIPPING_STARTED_STATUSES


# ====================================================================== cancel
def test_cancel_sends_the_acknowledgement_feed_and_amazon_cancels_the_order(fake, sleeps):
    fake.put_order("amazon", stored())
    c = client(fake, sleeps)
    c.cancel_order(NO, "the customer asked to cancel")

    sequence = [(x["method"], x["path"].split("/")[1], x["status"]) for x in sp_calls(fake)]
    assert sequence == [
        ("GET", "orders", 200),  # the lines to name
        ("POST", "feeds", 201),  # createFeedDocument
        ("PUT", "_documents", 200),  # the upload, to the pre-signed URL
        ("POST", "feeds", 202),  # createFeed
    ]
    upload = [x for x in sp_calls(fake) if x["method"] == "PUT"][0]
    assert "x-amz-access-token" not in upload["headers"]  # the URL carries its own authorization
    assert upload["headers"]["content-type"] == "text/xml; charset=UTF-8"
    feed = [x for x in sp_calls(fake) if x["path"] == "/feeds/2021-06-30/feeds"][0]["body"]
    assert feed["feedType"] == "POST_ORDER_ACKNOWLEDGEMENT_DATA" and feed["marketplaceIds"] == [JP]

    [cancel] = fake.cancels("amazon")
    assert (cancel["order_no"], cancel["reason"], cancel["merchant"]) == (NO, "BuyerCanceled", SELLER)
    assert cancel["item_codes"] == ["12345678901234", "12345678905678"]
    assert c.fetch_order(NO).cancelled_at is not None
    assert sleeps == []


def test_the_cancel_feed_is_amazons_order_acknowledgement():
    xml = amazon_client.cancel_feed(SELLER, NO, ["1", "2"], "NoInventory")
    root = ET.fromstring(xml)  # noqa: S314 our own document
    assert root.tag == "AmazonEnvelope" and root.findtext("MessageType") == "OrderAcknowledgement"
    assert root.findtext("Header/DocumentVersion") == "1.01"
    assert root.findtext("Header/MerchantIdentifier") == SELLER
    ack = root.find("Message/OrderAcknowledgement")
    assert ack.findtext("AmazonOrderID") == NO and ack.findtext("StatusCode") == "Failure"
    assert [(i.findtext("AmazonOrderItemCode"), i.findtext("CancelReason")) for i in ack.iter("Item")] == [
        ("1", "NoInventory"),
        ("2", "NoInventory"),
    ]


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("", "NoInventory"),
        ("在庫切れ", "NoInventory"),
        ("buyercanceled", "BuyerCanceled"),
        ("お客様都合", "BuyerCanceled"),
        ("住所不明", "ShippingAddressUndeliverable"),
        ("GeneralAdjustment", "GeneralAdjustment"),
    ],
)
def test_the_cancel_reason_is_one_amazon_takes(reason, code):
    assert amazon_client.cancel_reason(reason) == code


def test_cancel_without_the_seller_id_sends_nothing(fake):
    fake.put_order("amazon", stored())
    with pytest.raises(MarketplaceError) as err:
        client(fake, settings={"seller_id": ""}).cancel_order(NO)
    assert "seller_id" in err.value.message and fake.calls("amazon") == []


def test_a_shipped_order_is_not_cancelled_by_the_feed(fake):
    fake.put_order("amazon", stored(status="Shipped"))
    client(fake).cancel_order(NO, "")
    assert fake.cancels("amazon") == [] and fake.get_order("amazon", NO)["OrderStatus"] == "Shipped"


# ====================================================================== carriers
def test_every_orderhub_carrier_code_has_an_amazon_carrier_code():
    assert set(carriers.CARRIER_CODES) == set(CARRIER_CODES)
    assert all(carriers.CARRIER_CODES[code] for code in CARRIER_CODES)


@pytest.mark.parametrize(
    ("code", "sent"),
    [
        ("yamato", {"carrierCode": "YamatoTransport"}),
        ("sagawa", {"carrierCode": "SagawaExpress"}),
        ("japan_post", {"carrierCode": "Japan Post"}),
        ("fedex", {"carrierCode": "FedEx"}),
        ("other", {"carrierCode": "Other", "carrierName": "Other"}),
        ("Seino", {"carrierCode": "Other", "carrierName": "Seino"}),
    ],
)
def test_the_package_names_its_carrier_as_amazon_does(code, sent):
    assert carriers.package_carrier(code) == sent


def test_the_client_names_carriers_by_amazons_code(fake):
    assert client(fake).carrier_name("ups") == "UPS"


def test_the_registry_gives_amazon_this_client():
    assert registry.client_class("amazon") is AmazonClient


# ====================================================================== notifications
def notification(**change) -> dict:
    body = {
        "NotificationVersion": "1.0",
        "NotificationType": "ORDER_CHANGE",
        "PayloadVersion": "1.0",
        "EventTime": "2026-01-06T03:00:05.123Z",
        "Payload": {
            "OrderChangeNotification": {
                "NotificationLevel": "OrderLevel",
                "SellerId": SELLER,
                "AmazonOrderId": NO,
                "OrderChangeType": "OrderStatusChange",
                "OrderChangeTrigger": {
                    "TimeOfOrderChange": "2026-01-06T12:00:01+09:00",
                    "ChangeReason": "Order status changed",
                },
                "Summary": {
                    "MarketplaceId": JP,
                    "OrderStatus": "Unshipped",
                    "FulfillmentType": "MFN",
                    "OrderItems": [],
                },
            }
        },
        "NotificationMetadata": {
            "ApplicationId": "amzn1.sellerapps.app.test",
            "SubscriptionId": "sub-1",
            "PublishTime": "2026-01-06T03:00:05.000Z",
            "NotificationId": "n-0001",
        },
    }
    body["Payload"]["OrderChangeNotification"].update(change)
    return body


def test_an_order_change_notification_names_the_order_and_when_it_changed():
    parsed = notifications.parse(json.dumps(notification()))
    assert (parsed.notification_id, parsed.seller_id, parsed.amazon_order_id) == ("n-0001", SELLER, NO)
    assert parsed.order_change_type == "OrderStatusChange"
    assert parsed.changed_at == datetime(2026, 1, 6, 3, 0, 1, tzinfo=UTC)
    assert (parsed.marketplace_id, parsed.order_status, parsed.seller_fulfilled) == (JP, "Unshipped", True)


def test_a_change_without_its_time_is_dated_by_the_event():
    body = notification(OrderChangeTrigger={"TimeOfOrderChange": None, "ChangeReason": "x"})
    assert notifications.parse(json.dumps(body).encode()).changed_at == datetime(
        2026, 1, 6, 3, 0, 5, 123000, tzinfo=UTC
    )


def test_an_amazon_fulfilled_order_is_told_apart():
    body = notification(Summary={"MarketplaceId": JP, "OrderStatus": "Shipped", "FulfillmentType": "AFN"})
    assert notifications.parse(json.dumps(body)).seller_fulfilled is False


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda b: b["Payload"]["OrderChangeNotification"].pop("AmazonOrderId"),
            "Payload.OrderChangeNotification.AmazonOrderId",
        ),
        (lambda b: b.update(NotificationType="ANY_OFFER_CHANGED"), "NotificationType"),
        (lambda b: b["NotificationMetadata"].pop("NotificationId"), "NotificationMetadata.NotificationId"),
        (
            lambda b: b["Payload"]["OrderChangeNotification"].update(OrderChangeType="Refund"),
            "Payload.OrderChangeNotification.OrderChangeType",
        ),
        (lambda b: b.pop("Payload"), "Payload"),
    ],
)
def test_a_malformed_notification_names_amazons_field(mutate, field):
    body = notification()
    mutate(body)
    with pytest.raises(MalformedPayload) as err:
        notifications.parse(json.dumps(body))
    assert err.value.field == field


def test_a_body_that_is_not_json_is_malformed():
    with pytest.raises(MalformedPayload) as err:
        notifications.parse("not json")
    assert err.value.field == "body"


def test_a_429_waits_as_long_as_the_operation_s_rate_allows():
    """SP-API's 429 carries no Retry-After; x-amzn-RateLimit-Limit names the operation's rate
    (getOrderItems 0.5 per second): the retry waits 2 s, not the default 0.25 s."""
    from orderhub.marketplaces.amazon.client import AmazonClient

    c = AmazonClient("amazon", "https://sellingpartnerapi-fe.amazon.com", "")
    assert c.retry_after({"x-amzn-RateLimit-Limit": "0.5"}) == 2.0
    assert c.retry_after({"Retry-After": "3", "x-amzn-RateLimit-Limit": "0.5"}) == 3.0
    assert c.retry_after({"x-amzn-RateLimit-Limit": "n/a"}) is None and c.retry_after({}) is None


def test_an_absurd_item_price_is_a_malformed_order_not_a_crash():
    """One order no arithmetic can hold must be quarantined, not fail every pull run."""
    lines = items()
    lines[0]["ItemPrice"]["Amount"] = "1E+27"
    with pytest.raises(MalformedPayload) as err:
        normalize_order(amazon_order(NO), lines)
    assert err.value.field == "OrderItems[0].ItemPrice.Amount"


def test_a_cod_order_amazon_still_holds_waits_and_takes_its_hold_window_when_released():
    """A COD pre-order (PendingAvailability) has no address and no prices: it must not reach the
    warehouse an hour after it was placed. It waits until Amazon shows it Unshipped, then takes
    the COD hold window, counted from its placing (long over: released at once)."""
    from orderhub.domain.ingest import Create, Update, decide
    from orderhub.domain.settings import Integration

    waiting = normalize_order(amazon_order(NO, status="PendingAvailability", PaymentMethod="COD"), items())
    assert (waiting.payment.method, waiting.payment.paid_at) == ("marketplace", None)
    kw = {"merchant_id": "demo", "order_id": "ord_1", "packing_no": "PK1"}
    later = waiting.placed_at + timedelta(days=3)
    created = decide(None, waiting, Integration(), later, **kw)
    assert isinstance(created, Create)
    assert (created.order["status"], created.order["hold_release_at"]) == ("pending", None)

    released = normalize_order(amazon_order(NO, status="Unshipped", PaymentMethod="COD", updated=60), items())
    assert released.payment.method == "cod"
    d = decide(created.order, released, Integration(), later)
    assert isinstance(d, Update) and d.order["status"] == "processing"  # Amazon's new is processing
    assert d.order["payment"]["method"] == "cod"


def test_a_cod_order_released_by_amazon_within_its_hold_window_waits_for_the_window():
    from orderhub.domain.ingest import decide
    from orderhub.domain.settings import Integration

    kw = {"merchant_id": "demo", "order_id": "ord_1", "packing_no": "PK1"}
    waiting = normalize_order(amazon_order(NO, status="Pending", PaymentMethod="COD"), items())
    soon = waiting.placed_at + timedelta(minutes=10)
    created = decide(None, waiting, Integration(hold_minutes=60), soon, **kw).order
    released = normalize_order(amazon_order(NO, status="Unshipped", PaymentMethod="COD", updated=1), items())
    d = decide(created, released, Integration(hold_minutes=60), soon)
    assert d.order["status"] == "pending"
    assert d.order["hold_release_at"] == clock.iso(waiting.placed_at + timedelta(minutes=60))
