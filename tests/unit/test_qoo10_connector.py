"""Qoo10 Japan's connector (orderhub.marketplaces.qoo10): the mapping of QAPI rows (built from
the guide's field lists, not copied), the client against the fake's QAPI over real HTTP (the
sweep, the headers, SetSendingInfo, SetCancelProcess, ResultCode errors, 429 / 5xx / timeouts)
and the carrier names."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs

import pytest

from localcloud.fake_marketplace import FakeMarketplace
from orderhub.kernel import clock
from orderhub.kernel.errors import MalformedPayload
from orderhub.marketplaces import client as mc
from orderhub.marketplaces import registry
from orderhub.marketplaces.client import CARRIER_CODES, MarketplaceError
from orderhub.marketplaces.qoo10 import carriers, orders
from orderhub.marketplaces.qoo10 import client as qclient
from orderhub.marketplaces.qoo10 import fake as qfake
from orderhub.marketplaces.qoo10.client import Qoo10Client
from tests.support.outbound import allowing

KEY = "qoo10-certification-key-1"
NOW = datetime(2026, 1, 20, 3, 0, tzinfo=UTC)  # 2026/01/20 12:00 in Japan
JST = "+09:00"


@pytest.fixture(scope="module")
def fake():
    with FakeMarketplace() as f, allowing(f.url):
        yield f


@pytest.fixture(autouse=True)
def clean(fake):
    fake.reset()
    clock.freeze(NOW)
    yield
    clock.freeze(None)


@pytest.fixture
def sleeps(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(mc, "sleep", slept.append)
    return slept


def q_client(fake, **kw) -> Qoo10Client:
    kw.setdefault("timeout", 0.5)
    return Qoo10Client("qoo10", fake.base_url("qoo10"), kw.pop("key", KEY), **kw)


def row(no: int, *, status: str = "2", ordered: str = "2026/01/15 10:00:00", **extra) -> dict:
    """One order line as GetShippingInfo_v3 names its fields (OrderNo is a number, dates are
    Japan time without an offset)."""
    data = {
        "OrderNo": no,
        "PackNo": 5550001,
        "SellerID": "kutani-shop",
        "OrderDate": ordered,
        "PaymentDate": "2026/01/15 10:05:00",
        "ShippingDate": "",
        "DeliveredDate": "",
        "ShippingStatus": status,
        "ItemNo": "1000123456",
        "SellerItemCode": "MUG-01",
        "ItemTitle": "九谷焼マグ",
        "Option": "色:青",
        "OptionCode": "BLUE",
        "OrderQty": 2,
        "OrderPrice": 1800,
        "Discount": 200,
        "Total": 3400,
        "Currency": "JPY",
        "Receiver": "山田 花子",
        "ZipCode": "920-0981",
        "ShippingAddress": "石川県金沢市片町1-2-3 片町ハイツ201",
        "Address1": "石川県金沢市片町1-2-3",
        "Address2": "片町ハイツ201",
        "ReceiverTel": "076-123-4567",
        "ReceiverMobile": "090-1111-2222",
        "BuyerEmail": "hanako@example.jp",
        "PaymentMethod": "クレジットカード",
        "DeliveryCompany": "",
        "TrackingNo": "",
    }
    data.update(extra)
    return data


def bundle(*rows: dict) -> dict:
    return {"OrderNo": str(rows[0].get("OrderNo", rows[0].get("orderNo"))), "rows": list(rows)}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def form_of(call: dict) -> dict[str, str]:
    body = call["body"]
    return (
        {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()} if isinstance(body, str) else {}
    )


def drain(
    client: Qoo10Client, since: datetime, limit: int = 100
) -> tuple[list[list[dict]], list[str | None]]:
    pages, tokens, token = [], [], None
    for _ in range(50):
        page, token = client.list_changed(since, token, limit)
        pages.append(page)
        tokens.append(token)
        if token is None:
            return pages, tokens
    raise AssertionError("the sweep did not end")


# ---------------------------------------------------------------------- mapping (pure)
def test_one_row_is_one_order_with_its_line_recipient_and_japan_times_in_utc():
    change = orders.normalize(bundle(row(1062428737)))

    assert change.marketplace == "qoo10" and change.marketplace_order_no == "1062428737"
    assert change.placed_at == utc(f"2026-01-15T10:00:00{JST}") == datetime(2026, 1, 15, 1, 0, tzinfo=UTC)
    assert change.payment.paid_at == utc(f"2026-01-15T10:05:00{JST}")
    assert change.marketplace_updated_at == change.payment.paid_at  # the newest date shown
    assert (change.payment.method, change.payment.gateway) == ("card", "クレジットカード")
    [item] = change.items
    assert (item.sku, item.title, item.quantity, item.price) == (
        "MUG-01:BLUE",
        "九谷焼マグ (色:青)",
        2,
        Decimal(1800),
    )
    assert (change.currency, change.total) == ("JPY", Decimal(3400))
    r = change.recipient
    assert (r.name, r.postal_code, r.country) == ("山田 花子", "920-0981", "JP")
    assert (r.address1, r.address2) == ("石川県金沢市片町1-2-3 片町ハイツ201", "")
    assert (r.phone, r.email) == ("090-1111-2222", "hanako@example.jp")
    assert change.awaiting_shipment is True and change.claim is None and change.cancelled_at is None


def test_a_line_without_option_code_keeps_the_item_code_and_falls_back_to_qoo10s_item_number():
    assert orders.normalize(bundle(row(1, OptionCode="", Option=""))).items[0].sku == "MUG-01"
    no_code = orders.normalize(bundle(row(1, SellerItemCode="", OptionCode="")))
    assert no_code.items[0].sku == "1000123456" and no_code.items[0].title == "九谷焼マグ (色:青)"


def test_rows_are_grouped_by_order_number_and_one_numbers_rows_are_one_line():
    rows = [
        row(10, status="2"),
        row(9),
        row(10, status="4", ShippingDate="2026/01/16 09:00:00", TrackingNo="T1"),
    ]
    bundles = orders.group_rows(rows)

    assert [b["OrderNo"] for b in bundles] == ["9", "10"]  # numeric order, not text order
    assert len(bundles[1]["rows"]) == 2
    change = orders.normalize(bundles[1])
    assert len(change.items) == 1 and change.items[0].quantity == 2
    assert change.awaiting_shipment is False  # the furthest status wins
    assert change.marketplace_updated_at == utc(f"2026-01-16T09:00:00{JST}")


@pytest.mark.parametrize(
    "fields, newest",
    [
        ({}, "2026-01-15T10:05:00"),  # PaymentDate
        ({"ShippingDate": "2026/01/16 08:00:00"}, "2026-01-16T08:00:00"),
        (
            {"ShippingDate": "2026/01/16 08:00:00", "DeliveredDate": "2026/01/18 14:30:00"},
            "2026-01-18T14:30:00",
        ),
        ({"claimStatus": "1", "requestDate": "2026/01/17 20:00:00"}, "2026-01-17T20:00:00"),
        (
            {
                "claimStatus": "3",
                "requestDate": "2026/01/17 20:00:00",
                "cancelRefundDate": "2026/01/19 09:00:00",
            },
            "2026-01-19T09:00:00",
        ),
        (
            {"EstimatedShippingDate": "2026/01/30 00:00:00", "DesiredDeliveryDate": "2026/02/01"},
            "2026-01-15T10:05:00",
        ),
    ],
)
def test_the_change_stamp_is_the_newest_event_date_the_rows_show(fields, newest):
    change = orders.normalize(bundle(row(1, **fields)))
    assert change.marketplace_updated_at == utc(newest + JST)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026/01/15 10:00:00", "2026-01-15T01:00:00+00:00"),
        ("2026-01-15 10:00:00", "2026-01-15T01:00:00+00:00"),
        ("20260115100000", "2026-01-15T01:00:00+00:00"),
        ("2026-01-15T10:00:00.123", "2026-01-15T01:00:00+00:00"),
        ("2026/01/15", "2026-01-14T15:00:00+00:00"),  # midnight in Japan is 15:00 UTC the day before
        ("2026-01-15T10:00:00+09:00", "2026-01-15T01:00:00+00:00"),
    ],
)
def test_qoo10_dates_are_japan_time_and_become_utc(text, expected):
    assert orders.parse_date(text, "OrderDate") == datetime.fromisoformat(expected)


@pytest.mark.parametrize("placeholder", ["", "1900-01-01 00:00:00", "0001/01/01 00:00:00"])
def test_an_empty_or_placeholder_payment_date_is_no_payment(placeholder):
    change = orders.normalize(bundle(row(1, PaymentDate=placeholder, PaymentMethod="コンビニ決済")))
    assert change.payment.paid_at is None and change.payment.method == "konbini"
    assert change.marketplace_updated_at == change.placed_at


@pytest.mark.parametrize(
    "status, awaiting", [("1", True), ("2", True), ("3", True), ("4", False), ("5", False), (4, False)]
)
def test_shipping_status_tells_whether_the_order_awaits_shipment(status, awaiting):
    assert orders.normalize(bundle(row(1, status=status))).awaiting_shipment is awaiting


@pytest.mark.parametrize(
    "code, state, kind, cancelled, refunded",
    [
        ("1", "open", "cancel", False, False),
        ("2", "open", "cancel", False, False),
        ("3", "closed", "cancel", True, False),
        ("16", "closed", "cancel", True, False),
        ("4", "open", "return", False, False),
        ("5", "open", "return", False, False),
        ("6", "closed", "return", False, True),
        ("11", "open", "other", False, False),
        ("13", "closed", "other", False, False),
        ("14", "closed", "other", False, True),
        ("15", "closed", "other", False, False),
    ],
)
def test_claim_status_maps_to_a_cancel_a_claim_or_a_refund(code, state, kind, cancelled, refunded):
    change = orders.normalize(
        bundle(row(1, status="4", claimStatus=code, requestDate="2026/01/17 20:00:00", reason="サイズ違い"))
    )
    assert (change.claim.state, change.claim.kind, change.claim.reason) == (state, kind, "サイズ違い")
    assert (change.cancelled_at is not None, change.refunded) == (cancelled, refunded)
    assert change.topic == ("cancelled" if cancelled else "updated")


def test_a_done_cancel_is_dated_by_its_completion_else_its_request():
    done = {"claimStatus": "3", "requestDate": "2026/01/17 20:00:00"}
    assert orders.normalize(bundle(row(1, **done))).cancelled_at == utc(f"2026-01-17T20:00:00{JST}")
    settled = orders.normalize(bundle(row(1, **done, cancelRefundDate="2026/01/18 08:00:00")))
    assert settled.cancelled_at == utc(f"2026-01-18T08:00:00{JST}")


def test_rows_without_claim_fields_show_no_claim_and_an_empty_claim_status_shows_none_open():
    assert orders.normalize(bundle(row(1))).claim is None
    withdrawn = orders.normalize(bundle(row(1, claimStatus="")))
    assert withdrawn.claim.state == "closed" and withdrawn.cancelled_at is None


@pytest.mark.parametrize(
    "text, method",
    [
        ("クレジットカード", "card"),
        ("Credit Card", "card"),
        ("代金引換", "cod"),
        ("COD", "cod"),
        ("コンビニ決済", "konbini"),
        ("Convenience Store", "konbini"),
        ("銀行振込", "bank_transfer"),
        ("Pay-easy", "bank_transfer"),
        ("PayPay", "other"),
        ("", "other"),
    ],
)
def test_payment_method_text_maps_to_orderhubs_methods(text, method):
    assert orders.payment_method(text) == method


@pytest.mark.parametrize(
    "rows, field",
    [
        ([row(1, OrderQty="two")], "rows[0].OrderQty"),
        ([row(1, OrderQty=0)], "rows[0].OrderQty"),
        ([row(1, status="9")], "rows[0].ShippingStatus"),
        ([row(1, claimStatus="99")], "rows[0].claimStatus"),
        ([row(1, ordered="yesterday")], "rows[0].OrderDate"),
        ([row(1, OrderPrice="free")], "rows[0].OrderPrice"),
        ([row(1, SellerItemCode="", ItemNo="")], "rows[0].SellerItemCode"),
        ([row(1), row(2)], "rows[1].OrderNo"),
        (
            [
                {
                    "orderNo": 1,
                    "shippingStatus": "2",
                    "orderDate": "2026/01/15",
                    "sellerItemCode": "M",
                    "orderQty": "x",
                }
            ],
            "rows[0].orderQty",
        ),
        ([row(1, ordered="2026/01/25 10:00:00")], "rows[0].OrderDate"),  # days ahead of now
    ],
)
def test_a_malformed_row_names_qoo10s_field_as_the_row_spells_it(rows, field):
    with pytest.raises(MalformedPayload) as err:
        orders.normalize({"OrderNo": "1", "rows": rows})
    assert err.value.field == field


def test_the_claim_aware_calls_view_of_an_order_maps_like_the_searchs():
    """GetShippingAndClaimInfoByOrderNo_V2 names the fields its own way and has no Address1/2:
    the same order read by it and by GetShippingInfo_v3 must not look like an address or item
    change."""
    stored = row(7, status="3", shippingCountry="JP")
    by_search = orders.normalize(bundle(qfake._shipping_view(stored)))
    by_number = orders.normalize(bundle(qfake._view(stored, qfake.ORDER_VIEW)))
    for field in (
        "items",
        "recipient",
        "payment",
        "placed_at",
        "marketplace_updated_at",
        "total",
        "currency",
    ):
        assert getattr(by_number, field) == getattr(by_search, field), field


# ---------------------------------------------------------------------- carriers
def test_every_orderhub_carrier_code_has_a_qoo10_shipping_corp_name():
    assert set(carriers.SHIPPING_CORPS) == set(CARRIER_CODES)
    assert carriers.shipping_corp("japan_post") == "ゆうパック"  # the guide's own example
    assert carriers.shipping_corp("yamato") == "ヤマト運輸"
    assert carriers.shipping_corp("西濃運輸") == "西濃運輸"  # not a code: sent as it is


# ---------------------------------------------------------------------- the client: one order
def test_every_call_is_a_form_post_with_the_certification_key_and_qapi_version(fake):
    fake.put_order("qoo10", row(1062428737))
    change = q_client(fake).fetch_order("1062428737")

    assert change.marketplace_order_no == "1062428737" and change.items[0].sku == "MUG-01:BLUE"
    [call] = fake.calls("qoo10")
    assert (call["method"], call["path"]) == ("POST", "/ShippingBasic.GetShippingAndClaimInfoByOrderNo_V2")
    assert call["headers"]["giosiscertificationkey"] == KEY
    assert call["headers"]["qapiversion"] == "1.0"
    assert call["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert form_of(call) == {"OrderNo": "1062428737", "returnType": "json"}


def test_fetch_sees_the_claim_the_search_rows_do_not_show(fake):
    fake.put_order("qoo10", row(5, claimStatus="1", requestDate="2026/01/19 08:00:00", reason="注文ミス"))
    change = q_client(fake).fetch_order("5")
    assert (change.claim.state, change.claim.kind, change.claim.reason) == ("open", "cancel", "注文ミス")


def test_fetch_of_an_order_qoo10_does_not_have_is_not_found(fake, sleeps):
    with pytest.raises(MarketplaceError) as err:
        q_client(fake).fetch_order("404404")
    assert (err.value.kind, err.value.status) == ("not_found", 404)
    assert len(fake.calls("qoo10")) == 1 and sleeps == []


# ---------------------------------------------------------------------- the sweep
def test_the_sweep_reads_claims_then_every_status_and_lists_each_order_once(fake):
    fake.put_order("qoo10", row(101, status="2"))  # waiting for shipping
    fake.put_order("qoo10", row(102, status="4", ShippingDate="2026/01/16 09:00:00", TrackingNo="T-102"))
    fake.put_order("qoo10", row(103, status="2", claimStatus="1", requestDate="2026/01/19 08:00:00"))
    fake.put_order("qoo10", row(104, ordered="2026/01/02 10:00:00"))  # placed before the window
    # placed before the window, returned and refunded inside it: found by the claim search
    fake.put_order(
        "qoo10",
        row(
            105,
            status="5",
            ordered="2026/01/01 09:00:00",
            claimStatus="6",
            requestDate="2026/01/10 09:00:00",
            cancelRefundDate="2026/01/19 10:00:00",
        ),
    )
    since = NOW - timedelta(days=7)  # 2026/01/13 12:00 in Japan

    pages, tokens = drain(q_client(fake), since)

    listed = [b["OrderNo"] for page in pages for b in page]
    assert sorted(listed) == ["101", "102", "103", "105"]  # each once: 103 by its claim, not again
    changes = {b["OrderNo"]: orders.normalize(b) for page in pages for b in page}
    assert changes["103"].claim.state == "open" and changes["105"].refunded is True
    assert changes["102"].awaiting_shipment is False
    calls = fake.calls("qoo10")
    claims = [form_of(c) for c in calls if c["path"] == "/ShippingBasic.GetClaimInfo_V3"]
    assert [(f["ClaimStat"], f["search_condition"]) for f in claims] == list(qclient.CLAIM_SWEEP)
    assert {(f["search_Sdate"], f["search_Edate"]) for f in claims} == {("20260113", "20260120")}
    searches = [form_of(c) for c in calls if c["path"] == "/ShippingBasic.GetShippingInfo_v3"]
    assert [f["ShippingStatus"] for f in searches] == ["1", "2", "3", "4", "5"]
    assert {(f["SearchStartDate"], f["SearchEndDate"], f["SearchCondition"]) for f in searches} == {
        ("20260113", "20260120", "1")
    }
    fetched = [form_of(c)["OrderNo"] for c in calls if c["path"].endswith("ByOrderNo_V2")]
    assert sorted(fetched) == ["103", "105"]  # the claim rows lack the line: read whole
    claim_calls = [i for i, c in enumerate(calls) if c["path"] == "/ShippingBasic.GetClaimInfo_V3"]
    search_calls = [i for i, c in enumerate(calls) if c["path"] == "/ShippingBasic.GetShippingInfo_v3"]
    assert max(claim_calls) < min(search_calls)


def test_an_order_the_claim_searches_listed_is_not_listed_again_on_a_later_page(fake):
    """Its status search row shows no claim and an older stamp: listed again, it would be a stale
    duplicate queued on every run."""
    fake.put_order("qoo10", row(111, status="2", claimStatus="1", requestDate="2026/01/19 08:00:00"))
    fake.put_order("qoo10", row(112, status="2"))

    pages, tokens = drain(q_client(fake), NOW - timedelta(days=7), limit=1)

    assert [b["OrderNo"] for p in pages for b in p] == ["111", "112"]  # the rest of the pages are empty
    assert orders.normalize(pages[0][0]).claim.state == "open"
    assert "111" in json.loads(base64.urlsafe_b64decode(tokens[0] + "==="))["x"]


def test_a_quiet_sweep_is_one_page_of_searches_and_no_order(fake):
    pages, tokens = drain(q_client(fake), NOW - timedelta(days=7))
    assert pages == [[]] and tokens == [None]
    assert len(fake.calls("qoo10")) == len(qclient.CLAIM_SWEEP) + 5


def test_a_back_fill_longer_than_a_window_is_searched_in_adjoining_windows(fake):
    fake.put_order("qoo10", row(201, ordered="2025/12/10 10:00:00", PaymentDate="2025/12/10 10:01:00"))
    fake.put_order("qoo10", row(202, ordered="2026/01/19 10:00:00", PaymentDate="2026/01/19 10:01:00"))

    pages, _ = drain(q_client(fake), NOW - timedelta(days=45))  # from 2025/12/06 in Japan

    assert sorted(b["OrderNo"] for page in pages for b in page) == ["201", "202"]
    windows = [
        (f["SearchStartDate"], f["SearchEndDate"])
        for f in (form_of(c) for c in fake.calls("qoo10"))
        if f.get("ShippingStatus") == "2"
    ]
    assert windows == [("20251206", "20260105"), ("20260106", "20260120")]
    for start, end in windows:
        days = (datetime.strptime(end, "%Y%m%d") - datetime.strptime(start, "%Y%m%d")).days + 1
        assert days <= qclient.WINDOW_DAYS


def test_an_order_whose_every_date_is_before_the_sweeps_start_is_left_out(fake):
    """The searches take whole Japan days, from the day `since` falls on; an order dated only
    before `since` was listed while it was in the window, and the pull no longer remembers it."""
    fake.put_order("qoo10", row(251, ordered="2026/01/13 08:00:00", PaymentDate="2026/01/13 08:05:00"))
    fake.put_order("qoo10", row(252, ordered="2026/01/13 08:00:00", PaymentDate="2026/01/13 13:00:00"))
    since = NOW - timedelta(days=7)  # 2026/01/13 12:00 in Japan

    page, token = q_client(fake).list_changed(since, None, 100)

    assert token is None and [b["OrderNo"] for b in page] == ["252"]


def test_pages_hold_at_most_the_limit_and_go_on_after_the_last_number_taken(fake):
    for no in (305, 301, 304, 302, 303):
        fake.put_order("qoo10", row(no))
    pages, tokens = drain(q_client(fake), NOW - timedelta(days=7), limit=2)

    assert [[b["OrderNo"] for b in p] for p in pages] == [["301", "302"], ["303", "304"], ["305"]]
    assert tokens[-1] is None and all(isinstance(t, str) and t for t in tokens[:-1])


def test_an_order_that_moved_between_statuses_within_a_page_is_one_bundle(fake):
    fake.put_order("qoo10", row(401, status="2"))
    c = q_client(fake)
    original = c._listed

    def moving(position):  # the order shows in status 2 and again in 3, as if it moved mid-sweep
        if not position.claim and position.status == "3":
            return orders.group_rows([row(401, status="3")])
        return original(position)

    c._listed = moving
    page, token = c.list_changed(NOW - timedelta(days=7), None, 100)
    assert token is None and [b["OrderNo"] for b in page] == ["401"]
    assert orders.normalize(page[0]).awaiting_shipment is True and len(page[0]["rows"]) == 2


def test_a_page_token_the_client_did_not_make_is_an_http_error(fake):
    forged = base64.urlsafe_b64encode(json.dumps({"v": 99}).encode()).decode()
    for token in ("not-a-token", forged):
        with pytest.raises(MarketplaceError) as err:
            q_client(fake).list_changed(NOW, token, 10)
        assert err.value.kind == "http_error"
    assert fake.calls("qoo10") == []


def test_a_pulled_order_that_does_not_map_names_qoo10s_field(fake):
    fake.put_order("qoo10", row(501, OrderQty="many"))
    c = q_client(fake)
    page, _ = c.list_changed(NOW - timedelta(days=7), None, 100)
    with pytest.raises(MalformedPayload) as err:
        c.to_change(page[0])
    assert err.value.field == "rows[0].OrderQty"


# ---------------------------------------------------------------------- shipping and cancel
def test_fulfill_sends_setsendinginfo_with_the_carrier_name_and_the_order_shows_shipped(fake, sleeps):
    fake.put_order("qoo10", row(601, status="3"))
    c = q_client(fake)

    c.fulfill_order("601", "yamato", "4455-6677-8899")

    [call] = fake.calls("qoo10")
    assert call["path"] == "/ShippingBasic.SetSendingInfo"
    assert form_of(call) == {
        "OrderNo": "601",
        "ShippingCorp": "ヤマト運輸",
        "TrackingNo": "4455-6677-8899",
        "returnType": "json",
    }
    assert [(f["order_no"], f["carrier"], f["tracking_number"]) for f in fake.fulfillments("qoo10")] == [
        ("601", "ヤマト運輸", "4455-6677-8899")
    ]
    change = c.fetch_order("601")
    assert change.awaiting_shipment is False and change.marketplace_updated_at == NOW  # ShippingDate, JST


def test_update_tracking_sends_the_same_call_and_the_fake_records_a_change(fake):
    fake.put_order("qoo10", row(602, status="3"))
    c = q_client(fake)
    c.fulfill_order("602", "japan_post", "1111-2222-3333")
    c.update_tracking("602", "japan_post", "4444-5555-6666")

    assert [form_of(x)["TrackingNo"] for x in fake.calls("qoo10")] == ["1111-2222-3333", "4444-5555-6666"]
    assert [t["tracking_number"] for t in fake.tracking_updates("qoo10")] == ["4444-5555-6666"]
    assert fake.tracking_updates("qoo10")[0]["carrier"] == "ゆうパック"
    assert len(fake.fulfillments("qoo10")) == 1


def test_the_origin_country_and_note_are_taken_and_not_sent_setsendinginfo_has_no_field(fake):
    """SetSendingInfo takes OrderNo, ShippingCorp and TrackingNo only (yosida001 qoo10-sdk
    SetSendingInfoRequest.php)."""
    fake.put_order("qoo10", row(604, status="3"))
    c = q_client(fake)
    c.fulfill_order("604", "yamato", "1111-2222-3333", origin_country="CN", note="two boxes from Shenzhen")
    c.update_tracking("604", "yamato", "4444-5555-6666", origin_country="KR", note="relabelled")

    forms = [form_of(x) for x in fake.calls("qoo10")]
    assert [set(f) for f in forms] == [{"OrderNo", "ShippingCorp", "TrackingNo", "returnType"}] * 2
    assert not any(word in str(forms) for word in ("CN", "KR", "Shenzhen", "relabelled"))
    assert [t["tracking_number"] for t in fake.tracking_updates("qoo10")] == ["4444-5555-6666"]


def test_a_refused_send_of_a_tracking_the_order_already_shows_counts_as_done(fake, sleeps):
    fake.put_order("qoo10", row(603, status="4", ShippingDate="2026/01/19 09:00:00", TrackingNo="T-603"))
    qfake.answer_code(fake, -10004, "already shipped")
    q_client(fake).fulfill_order("603", "sagawa", "T-603")  # no error: Qoo10 already has it
    assert [c["path"] for c in fake.calls("qoo10")] == [
        "/ShippingBasic.SetSendingInfo",
        "/ShippingBasic.GetShippingAndClaimInfoByOrderNo_V2",
    ]


def test_cancel_sends_setcancelprocess_by_contrno_with_the_reason_as_seller_memo(fake):
    fake.put_order("qoo10", row(701, status="2"))
    c = q_client(fake)

    c.cancel_order("701", "在庫がありません")

    [call] = fake.calls("qoo10")
    assert call["path"] == "/Claim.SetCancelProcess"
    assert form_of(call) == {
        "ContrNo": "701",
        "CancelReason": "",
        "SellerMemo": "在庫がありません",
        "returnFeeStat": "",
        "returnType": "json",
    }
    assert [(x["order_no"], x["reason"]) for x in fake.cancels("qoo10")] == [("701", "在庫がありません")]
    change = c.fetch_order("701")
    assert change.cancelled_at == NOW and change.topic == "cancelled"


def test_cancel_of_an_order_already_cancelled_is_done_without_a_second_cancel(fake, sleeps):
    fake.put_order("qoo10", row(702, claimStatus="3", requestDate="2026/01/19 09:00:00"))
    q_client(fake).cancel_order("702")
    assert fake.cancels("qoo10") == [] and sleeps == []


def test_cancel_of_a_shipped_order_is_a_409_naming_qoo10s_code(fake, sleeps):
    fake.put_order("qoo10", row(703, status="4", ShippingDate="2026/01/19 09:00:00", TrackingNo="T"))
    with pytest.raises(MarketplaceError) as err:
        q_client(fake).cancel_order("703", "")
    assert (err.value.kind, err.value.status) == ("http_error", 409)
    assert "-10004" in err.value.message and fake.cancels("qoo10") == []


def test_cancel_of_an_unknown_order_is_not_found(fake):
    with pytest.raises(MarketplaceError) as err:
        q_client(fake).cancel_order("999", "")
    assert (err.value.kind, err.value.status) == ("not_found", 404)


# ---------------------------------------------------------------------- ResultCode and HTTP faults
@pytest.mark.parametrize(
    "code, kind, status",
    [
        (-10000, "http_error", 401),  # check the key
        (-90004, "http_error", 401),  # the key expired
        (-10001, "http_error", 401),  # a search's "no such seller"
        (-90001, "http_error", None),  # no such API
        (-12345, "http_error", None),
    ],
)
def test_a_non_zero_result_code_on_a_read_is_an_error_naming_it_and_not_retried(
    fake, sleeps, code, kind, status
):
    fake.put_order("qoo10", row(801))
    qfake.answer_code(fake, code, "refused by the fake")
    with pytest.raises(MarketplaceError) as err:
        q_client(fake).fetch_order("801")
    assert (err.value.kind, err.value.status) == (kind, status)
    assert str(code) in err.value.message and "refused by the fake" in err.value.message
    assert len(fake.calls("qoo10")) == 1 and sleeps == []


def test_a_key_the_fake_refuses_is_401_and_never_shown(fake, sleeps):
    fake.require_token("qoo10", "the-right-key")
    c = q_client(fake, key="a-wrong-key")
    with pytest.raises(MarketplaceError) as err:
        c.list_changed(NOW - timedelta(days=1), None, 10)
    assert (err.value.kind, err.value.status) == ("http_error", 401)
    assert "a-wrong-key" not in err.value.message + repr(c) and sleeps == []


def test_429_with_retry_after_is_waited_for_and_sent_again(fake, sleeps):
    fake.put_order("qoo10", row(901))
    fake.fail("qoo10", "error", count=1, status=429, retry_after=1.5)
    assert q_client(fake).fetch_order("901").marketplace_order_no == "901"
    assert [c["status"] for c in fake.calls("qoo10")] == [429, 200]
    assert sleeps == [1.5]


def test_5xx_every_time_ends_the_sweep_page_as_unavailable(fake, sleeps):
    fake.fail("qoo10", "error", count=-1, status=503, operation="list")
    with pytest.raises(MarketplaceError) as err:
        q_client(fake).list_changed(NOW - timedelta(days=1), None, 10)
    assert (err.value.kind, err.value.status) == ("unavailable", 503)
    assert len(fake.calls("qoo10")) == 3 and sleeps == [0.25, 0.5]


def test_a_send_that_keeps_timing_out_is_a_timeout(fake, sleeps):
    fake.put_order("qoo10", row(902, status="3"))
    fake.fail("qoo10", "timeout", count=-1, delay=1.0, operation="fulfill")
    with pytest.raises(MarketplaceError) as err:
        q_client(fake, timeout=0.1).fulfill_order("902", "dhl", "JD0001")
    assert err.value.kind == "timeout" and len(sleeps) == 2


def test_the_registry_gives_qoo10_this_sweeping_client():
    cls = registry.client_class("qoo10")
    assert cls is Qoo10Client and cls.pull_mode == "sweep" and cls.page_limit == 100


def test_read_orders_reads_each_by_number_and_leaves_out_unknown_ones(fake):
    fake.put_order("qoo10", row(101))
    fake.put_order("qoo10", row(102, claimStatus="1", requestDate="2026/01/19 08:00:00"))
    found = q_client(fake).read_orders(["101", "102", "999"])
    assert [b["OrderNo"] for b in found] == ["101", "102"]
    assert {c["path"] for c in fake.calls("qoo10")} == {"/ShippingBasic.GetShippingAndClaimInfoByOrderNo_V2"}
    assert q_client(fake).to_change(found[1]).claim.state == "open"
