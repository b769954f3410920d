"""Rakuten's connector (orderhub.marketplaces.rakuten): the OrderModel mapping's contract on
payloads built from RakutenPayOrderAPI's published fields, the carrier codes, and the client
against the fake marketplace over real HTTP (sweep, ESA auth, shipping, cancel, faults)."""

from __future__ import annotations

import base64
import copy
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from localcloud.fake_marketplace import FakeMarketplace
from orderhub.kernel import clock
from orderhub.kernel.errors import MalformedPayload
from orderhub.marketplaces import registry
from orderhub.marketplaces.client import CARRIER_CODES, MarketplaceError
from orderhub.marketplaces.rakuten import carriers
from orderhub.marketplaces.rakuten import client as rakuten_client
from orderhub.marketplaces.rakuten import fake as rakuten_fake
from orderhub.marketplaces.rakuten.client import RakutenClient
from orderhub.marketplaces.rakuten.orders import jst_text, normalize_order
from tests.support.outbound import allowing

SECRET, LICENSE = "SP123456_secret", "SL123456_license"
ESA = base64.b64encode(f"{SECRET}:{LICENSE}".encode()).decode()
NO = "123456-20260301-0000000101"


def jst(text: str) -> str:
    """'2026-03-01 08:30:00' (Japan time) -> Rakuten's '2026-03-01T08:30:00+0900'."""
    return text.replace(" ", "T") + "+0900"


def rakuten_order(number: str = NO, **overrides) -> dict:
    """A getOrder OrderModel (version 7), from RakutenPayOrderAPI's published field names."""
    order = {
        "orderNumber": number,
        "orderProgress": 300,
        "subStatusId": None,
        "orderDatetime": jst("2026-03-01 08:30:00"),
        "shopOrderCfmDatetime": jst("2026-03-01 09:00:00"),
        "orderFixDatetime": jst("2026-03-01 09:10:00"),
        "shippingInstDatetime": jst("2026-03-01 09:15:00"),
        "shippingCmplRptDatetime": None,
        "goodsPrice": 5300,
        "postagePrice": 600,
        "deliveryPrice": 0,
        "totalPrice": 5900,
        "requestPrice": 5600,
        "couponAllTotalPrice": 300,
        "OrdererModel": {"prefecture": "大阪府", "emailAddress": "abc123@pc.fw.rakuten.ne.jp"},
        "SettlementModel": {"settlementMethodCode": 1, "settlementMethod": "クレジットカード"},
        "DeliveryModel": {"deliveryName": "宅配便", "deliveryClass": 0},
        "PackageModelList": [
            {
                "basketId": 9501048,
                "postagePrice": 600,
                "totalPrice": 5900,
                "defaultDeliveryCompanyCode": "1001",
                "SenderModel": {
                    "zipCode1": "530",
                    "zipCode2": "0001",
                    "prefecture": "大阪府",
                    "city": "大阪市北区",
                    "subAddress": "梅田1-2-3 梅田ビル401",
                    "familyName": "山田",
                    "firstName": "花子",
                    "familyNameKana": "ヤマダ",
                    "firstNameKana": "ハナコ",
                    "phoneNumber1": "06",
                    "phoneNumber2": "1234",
                    "phoneNumber3": "5678",
                },
                "ItemModelList": [
                    {
                        "itemDetailId": 9501048,
                        "itemName": "Tシャツ",
                        "itemId": 10000004,
                        "itemNumber": "c3ps390",
                        "manageNumber": "c3ps390",
                        "price": 1200,
                        "priceTaxIncl": 1320,
                        "units": 2,
                        "SkuModelList": [
                            {
                                "variantId": "11",
                                "merchantDefinedSkuId": "c3ps390M090",
                                "skuInfo": "サイズ:M\nカラー:ブラック",
                            }
                        ],
                    },
                    {
                        "itemDetailId": 9501049,
                        "itemName": "スニーカー",
                        "itemId": 10000006,
                        "itemNumber": "s1gr050",
                        "manageNumber": "s1gr050",
                        "price": 2660,
                        "units": 1,
                        "SkuModelList": [],
                    },
                ],
                "ShippingModelList": [],
            }
        ],
        "ChangeReasonModelList": [],
    }
    order.update(copy.deepcopy(overrides))
    return order


def cancel_entry(change_type: int, at: str, reason: int = 1, change_id: int = 1) -> dict:
    return {
        "changeId": change_id,
        "changeType": change_type,
        "changeTypeDetail": None,
        "changeReason": 1,
        "changeReasonDetail": reason,
        "changeApplyDatetime": jst(at),
        "changeFixDatetime": None,
        "changeCmplDatetime": None,
    }


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def package(order: dict) -> dict:
    return order["PackageModelList"][0]


# ====================================================================== the mapping
def test_an_order_maps_japan_times_to_utc_and_its_items_and_recipient():
    change = normalize_order(rakuten_order())

    assert (change.marketplace, change.marketplace_order_no, change.topic) == ("rakuten", NO, "updated")
    assert change.placed_at == utc("2026-02-28 23:30:00")  # 08:30 JST is the day before in UTC
    assert change.currency == "JPY" and change.total == Decimal(5600)  # requestPrice: what the buyer pays
    first, second = change.items
    assert (first.sku, first.title, first.quantity, first.price) == (
        "c3ps390M090",
        "Tシャツ (サイズ:M / カラー:ブラック)",
        2,
        Decimal(1320),  # the tax-included unit price
    )
    assert (second.sku, second.price) == ("s1gr050", Decimal(2660))  # no SKU: itemNumber, price
    r = change.recipient
    assert (r.name, r.postal_code, r.region, r.city, r.address1, r.country, r.phone) == (
        "山田 花子",
        "530-0001",
        "大阪府",
        "大阪市北区",
        "梅田1-2-3 梅田ビル401",
        "JP",
        "06-1234-5678",
    )
    assert r.email == ""  # the orderer's masked relay address is not the recipient's


@pytest.mark.parametrize(
    ("state", "topic", "awaiting", "claim"),
    [
        (100, "updated", True, None),
        (200, "updated", True, None),
        (300, "updated", True, None),
        (400, "updated", True, None),
        (500, "updated", False, None),
        (700, "updated", False, None),
        (800, "updated", None, ("open", "cancel", "キャンセル確定待ち")),
        (900, "cancelled", None, None),
    ],
)
def test_order_progress_sets_topic_shipment_and_claim(state, topic, awaiting, claim):
    change = normalize_order(rakuten_order(orderProgress=state))
    assert (change.topic, change.awaiting_shipment) == (topic, awaiting)
    assert (
        None if change.claim is None else (change.claim.state, change.claim.kind, change.claim.reason)
    ) == claim
    assert (change.cancelled_at is not None) == (state == 900)
    assert change.refunded is False


def test_a_cancel_is_dated_by_its_confirmation_and_a_shipped_one_is_refunded():
    entry = {
        **cancel_entry(2, "2026-03-02 10:00:00"),
        "changeFixDatetime": jst("2026-03-02 11:00:00"),
        "changeCmplDatetime": jst("2026-03-02 12:00:00"),
    }
    unshipped = normalize_order(rakuten_order(orderProgress=900, ChangeReasonModelList=[entry]))
    assert unshipped.cancelled_at == utc("2026-03-02 03:00:00") and unshipped.refunded is False

    returned = normalize_order(
        rakuten_order(
            orderProgress=900,
            shippingCmplRptDatetime=jst("2026-03-01 18:00:00"),
            ChangeReasonModelList=[entry],
        )
    )
    assert returned.refunded is True and returned.awaiting_shipment is False


def test_a_shipping_report_means_shipped_at_any_progress():
    change = normalize_order(
        rakuten_order(orderProgress=800, shippingCmplRptDatetime=jst("2026-03-01 18:00:00"))
    )
    assert change.awaiting_shipment is False and change.claim.state == "open"


def test_a_cancel_request_opens_a_claim_and_its_withdrawal_closes_it():
    applied = cancel_entry(0, "2026-03-01 12:00:00", reason=1, change_id=7)
    opened = normalize_order(rakuten_order(ChangeReasonModelList=[applied]))
    assert (opened.claim.state, opened.claim.kind, opened.claim.reason) == ("open", "cancel", "キャンセル")

    withdrawn = cancel_entry(3, "2026-03-01 15:00:00", reason=1, change_id=8)
    closed = normalize_order(
        rakuten_order(ChangeReasonModelList=[withdrawn, applied])
    )  # any order in the list
    assert (closed.claim.state, closed.claim.kind) == ("closed", "cancel")
    assert closed.marketplace_updated_at == utc("2026-03-01 06:00:00")  # the withdrawal moved the stamp

    again = cancel_entry(0, "2026-03-01 16:00:00", change_id=9)
    assert (
        normalize_order(rakuten_order(ChangeReasonModelList=[applied, withdrawn, again])).claim.state
        == "open"
    )


def test_a_return_reason_is_a_return_claim_and_an_order_change_is_no_claim():
    returned = cancel_entry(0, "2026-03-05 12:00:00", reason=2)
    change = normalize_order(rakuten_order(orderProgress=500, ChangeReasonModelList=[returned]))
    assert (change.claim.state, change.claim.kind, change.claim.reason) == ("open", "return", "受取後の返品")

    amount_changed = cancel_entry(4, "2026-03-01 12:00:00", reason=10)  # 変更申請
    assert normalize_order(rakuten_order(ChangeReasonModelList=[amount_changed])).claim is None


def test_the_change_stamp_is_the_newest_time_the_order_shows():
    base = normalize_order(rakuten_order())
    assert base.marketplace_updated_at == utc("2026-03-01 00:15:00")  # shippingInstDatetime

    reported = normalize_order(
        rakuten_order(orderProgress=500, shippingCmplRptDatetime=jst("2026-03-02 17:00:00"))
    )
    assert reported.marketplace_updated_at == utc("2026-03-02 08:00:00")

    shipped_later = rakuten_order(orderProgress=500, shippingCmplRptDatetime=jst("2026-03-02 17:00:00"))
    package(shipped_later)["ShippingModelList"] = [
        {
            "shippingDetailId": 1,
            "shippingNumber": "1234",
            "deliveryCompany": "1001",
            "shippingDate": "2026-03-04",
        }
    ]
    assert normalize_order(shipped_later).marketplace_updated_at == utc(
        "2026-03-03 15:00:00"
    )  # 03-04 00:00 JST

    ahead = rakuten_order()
    tomorrow = (clock.now() + timedelta(days=3)).date().isoformat()
    package(ahead)["ShippingModelList"] = [{"shippingDetailId": 2, "shippingDate": tomorrow}]
    assert normalize_order(ahead).marketplace_updated_at == base.marketplace_updated_at  # not an event yet


def test_offsets_written_with_a_colon_are_read_too():
    change = normalize_order(rakuten_order(orderDatetime="2026-03-01T08:30:00+09:00"))
    assert change.placed_at == utc("2026-02-28 23:30:00")


@pytest.mark.parametrize(
    ("settlement", "method", "paid"),
    [
        ({"settlementMethodCode": 1, "settlementMethod": "クレジットカード"}, "card", True),
        ({"settlementMethodCode": 2, "settlementMethod": "代金引換"}, "cod", False),
        ({"settlementMethodCode": 9}, "bank_transfer", True),
        ({"settlementMethodCode": 13}, "konbini", True),
        ({"settlementMethodCode": 14}, "konbini", True),
        ({"settlementMethodCode": 21}, "marketplace", True),
        ({"settlementMethodCode": 99}, "other", True),  # a code Rakuten adds later: held, not refused
        ({"settlementMethod": "代金引換"}, "cod", False),  # an older answer names it only
        ({"settlementMethod": "銀行振込"}, "bank_transfer", True),
        ({"settlementMethod": "セブンイレブン（前払）"}, "konbini", True),
        ({"settlementMethod": "楽天バンク決済"}, "card", True),
    ],
)
def test_settlement_methods(settlement, method, paid):
    change = normalize_order(rakuten_order(SettlementModel=settlement))
    assert change.payment.method == method
    assert change.payment.paid_at == (utc("2026-03-01 00:15:00") if paid else None)


def test_a_prepaid_order_is_unpaid_until_rakuten_instructs_shipping():
    waiting = rakuten_order(
        orderProgress=100, shippingInstDatetime=None, SettlementModel={"settlementMethodCode": 9}
    )
    assert normalize_order(waiting).payment.paid_at is None


def test_an_undetermined_amount_has_no_total():
    assert normalize_order(rakuten_order(requestPrice=-9999)).total is None


def test_the_sku_falls_back_to_variant_then_item_then_manage_number():
    order = rakuten_order()
    first, second = package(order)["ItemModelList"]
    first["SkuModelList"][0]["merchantDefinedSkuId"] = ""
    second["itemNumber"] = None
    skus = [i.sku for i in normalize_order(order).items]
    assert skus == ["11", "s1gr050"]  # variantId; manageNumber


def two_packages() -> dict:
    order = rakuten_order()
    order["PackageModelList"].append({**copy.deepcopy(package(order)), "basketId": 9501049})
    return order


def bad_units() -> dict:
    order = rakuten_order()
    package(order)["ItemModelList"][1]["units"] = 0
    return order


def bad_change_time() -> dict:
    return rakuten_order(
        ChangeReasonModelList=[{**cancel_entry(0, "x"), "changeApplyDatetime": "2026/03/01 12:00"}]
    )


def no_sku() -> dict:
    order = rakuten_order()
    item = package(order)["ItemModelList"][1]
    item["itemNumber"] = item["manageNumber"] = None
    return order


@pytest.mark.parametrize(
    ("order", "field"),
    [
        (rakuten_order(orderNumber=None), "orderNumber"),
        (rakuten_order(orderProgress=150), "orderProgress"),
        (rakuten_order(orderDatetime="2026-03-01T08:30:00"), "orderDatetime"),  # no offset
        (bad_units(), "PackageModelList[0].ItemModelList[1].units"),
        (bad_change_time(), "ChangeReasonModelList[0].changeApplyDatetime"),
        (no_sku(), "PackageModelList[0].ItemModelList[1].manageNumber"),
        (
            rakuten_order(SettlementModel={"settlementMethodCode": "card"}),
            "SettlementModel.settlementMethodCode",
        ),
        (rakuten_order(PackageModelList=[]), "PackageModelList"),
        (two_packages(), "PackageModelList"),
    ],
)
def test_a_malformed_order_names_rakutens_field(order, field):
    with pytest.raises(MalformedPayload) as err:
        normalize_order(order)
    assert err.value.field == field


def test_several_packages_are_refused_saying_why():
    with pytest.raises(MalformedPayload) as err:
        normalize_order(two_packages())
    assert "9501048, 9501049" in err.value.message and "one recipient" in err.value.message


# ====================================================================== carrier codes
def test_every_orderhub_carrier_has_a_rakuten_delivery_company_code():
    assert set(carriers.RAKUTEN_DELIVERY_COMPANIES) == set(CARRIER_CODES)
    assert {c: carriers.delivery_company(c) for c in CARRIER_CODES} == {
        "japan_post": "1003",
        "yamato": "1001",
        "sagawa": "1002",
        "ups": "1020",
        "fedex": "1019",
        "dhl": "1018",
        "usps": "1024",
        "other": "1000",
    }
    assert all(code in carriers.DELIVERY_COMPANIES for code in carriers.RAKUTEN_DELIVERY_COMPANIES.values())


def test_rakutens_own_codes_pass_and_anything_else_is_other():
    assert carriers.delivery_company("1017") == "1017"  # EMS, chosen by the merchant
    assert carriers.delivery_company("Yamato") == "1001"
    assert carriers.delivery_company("クロネコ") == "1000"


# ====================================================================== the client, against the fake
@pytest.fixture(scope="module")
def fake():
    with FakeMarketplace() as f, allowing(f.url):
        yield f


@pytest.fixture(autouse=True)
def clean(fake):
    fake.reset()
    fake.require_token("rakuten", ESA)
    yield
    clock.freeze(None)


@pytest.fixture
def slept():
    return []


def client(fake, slept=None, **kw) -> RakutenClient:
    kw.setdefault("timeout", 1.0)
    kw.setdefault("credentials", {"service_secret": SECRET, "license_key": LICENSE})
    cls = registry.client_class("rakuten")
    return cls(
        "rakuten", fake.base_url("rakuten"), "", sleep=(slept if slept is not None else []).append, **kw
    )


def calls(fake, method: str | None = None) -> list[dict]:
    return [c for c in fake.calls("rakuten") if method is None or c["path"].endswith(f"/{method}")]


def put(fake, number: str, ordered: datetime, **overrides) -> str:
    return fake.put_order("rakuten", rakuten_order(number, orderDatetime=jst_text(ordered), **overrides))


def test_the_client_is_registered_for_rakuten_and_sweeps():
    assert registry.client_class("rakuten") is RakutenClient
    assert (RakutenClient.pull_mode, RakutenClient.page_limit) == ("sweep", 100)


def test_calls_carry_the_esa_header_and_a_wrong_key_is_refused(fake):
    fake.put_order("rakuten", rakuten_order())
    assert client(fake).fetch_order(NO).marketplace_order_no == NO
    [call] = calls(fake)
    assert call["headers"]["authorization"] == f"ESA {ESA}"
    assert call["path"] == "/order/getOrder" and call["body"] == {"orderNumberList": [NO], "version": 7}

    wrong = client(fake, credentials={"service_secret": SECRET, "license_key": "expired"})
    with pytest.raises(MarketplaceError) as err:
        wrong.fetch_order(NO)
    assert (err.value.kind, err.value.status) == ("http_error", 401)


def test_no_credentials_sends_nothing(fake):
    with pytest.raises(MarketplaceError) as err:
        client(fake, credentials={}).fetch_order(NO)
    assert err.value.kind == "http_error" and "service_secret" in err.value.message
    assert calls(fake) == []


def test_an_unknown_order_is_not_found(fake):
    with pytest.raises(MarketplaceError) as err:
        client(fake).fetch_order("123456-20260301-9999999999")
    assert err.value.kind == "not_found" and err.value.status == 200
    assert "123456-20260301-9999999999" in err.value.message
    assert "存在しません" in err.value.message  # what Rakuten said of that number


def test_an_error_message_in_a_200_answer_names_rakutens_code(fake, monkeypatch):
    refused = {
        "MessageModelList": [
            {"messageType": "ERROR", "messageCode": "ORDER_EXT_API_GET_ORDER_ERROR_009", "message": "version"}
        ]
    }
    monkeypatch.setattr(rakuten_fake, "_get", lambda fake, body: (200, refused, {}))
    with pytest.raises(MarketplaceError) as err:
        client(fake).fetch_order(NO)
    assert err.value.kind == "http_error" and "ORDER_EXT_API_GET_ORDER_ERROR_009" in err.value.message


def sweep(
    fake, since: datetime, limit: int, fresh_client_per_page: bool = False
) -> tuple[list[list[str]], list]:
    c = client(fake)
    pages, tokens, token = [], [], None
    while True:
        if fresh_client_per_page:
            c = client(fake)
        orders, token = c.list_changed(since, token, limit)
        pages.append([o["orderNumber"] for o in orders])
        tokens.append(token)
        if not token:
            return pages, tokens


@pytest.mark.parametrize("fresh", [False, True], ids=["one client", "resumed by a new client"])
def test_the_sweep_reads_two_63_day_windows_page_by_page(fake, monkeypatch, fresh):
    monkeypatch.setattr(rakuten_client, "SEARCH_PAGE", 2)  # search pages of 2 (Rakuten: up to 1,000)
    now = clock.now()
    put(fake, "R-OLD", now - timedelta(days=200))  # before `since`
    for i, days in enumerate((90, 89, 88)):
        put(fake, f"R-A{i}", now - timedelta(days=days))
    put(fake, "R-B0", now - timedelta(days=10), orderProgress=100)
    put(fake, "R-B1", now - timedelta(days=5), orderProgress=500)
    put(fake, "R-B2", now - timedelta(days=2), orderProgress=900)  # cancelled orders are swept too

    pages, tokens = sweep(fake, now - timedelta(days=100), limit=2, fresh_client_per_page=fresh)

    assert pages == [["R-A0", "R-A1"], ["R-A2"], ["R-B0", "R-B1"], ["R-B2"]]
    assert all(isinstance(t, str) for t in tokens[:-1]) and tokens[-1] is None
    searches = [c["body"] for c in calls(fake, "searchOrder")]
    windows = {(b["startDatetime"], b["endDatetime"]) for b in searches}
    assert len(windows) == 2
    for start, end in windows:
        span = datetime.fromisoformat(end) - datetime.fromisoformat(start)
        assert start.endswith("+0900") and end.endswith("+0900") and span <= timedelta(days=63)
    first = min(windows)
    assert datetime.fromisoformat(first[0]) == (now - timedelta(days=100)).replace(microsecond=0)
    assert all(b["dateType"] == 1 and b["orderProgressList"] == list(range(100, 1000, 100)) for b in searches)
    assert all(
        b["PaginationRequestModel"]["SortModelList"] == [{"sortColumn": 1, "sortDirection": 1}]
        for b in searches
    )
    assert [b["PaginationRequestModel"]["requestPage"] for b in searches] == [
        1,
        2,
        1,
        2,
    ]  # one search per page
    gets = [c["body"] for c in calls(fake, "getOrder")]
    assert [len(b["orderNumberList"]) for b in gets] == [2, 1, 2, 1] and {b["version"] for b in gets} == {7}


def test_one_search_page_feeds_several_get_order_calls(fake):
    now = clock.now()
    for i in range(5):
        put(fake, f"R-{i}", now - timedelta(hours=10 - i))
    pages, _tokens = sweep(fake, now - timedelta(days=1), limit=2)
    assert pages == [["R-0", "R-1"], ["R-2", "R-3"], ["R-4"]]
    assert len(calls(fake, "searchOrder")) == 1 and len(calls(fake, "getOrder")) == 3


def test_an_empty_sweep_is_one_search_and_no_token(fake):
    assert client(fake).list_changed(clock.now() - timedelta(days=7), None, 100) == ([], None)
    assert [c["operation"] for c in calls(fake)] == ["list"]


def test_a_page_token_that_does_not_parse_is_an_http_error(fake):
    with pytest.raises(MarketplaceError) as err:
        client(fake).list_changed(clock.now(), "not-a-token", 100)
    assert err.value.kind == "http_error" and calls(fake) == []


def test_fulfill_sends_update_order_shipping_and_a_repeat_sends_nothing(fake):
    clock.freeze(datetime(2026, 3, 1, 20, 0, tzinfo=UTC))  # 2026-03-02 05:00 in Japan
    fake.put_order("rakuten", rakuten_order())
    c = client(fake)

    c.fulfill_order(NO, "yamato", "4455-6677-8899")

    [update] = calls(fake, "updateOrderShipping")
    assert update["operation"] == "fulfill"
    assert update["body"] == {
        "orderNumber": NO,
        "BasketidModelList": [
            {
                "basketId": 9501048,
                "ShippingModelList": [
                    {
                        "deliveryCompany": "1001",
                        "shippingNumber": "4455-6677-8899",
                        "shippingDate": "2026-03-02",
                    }
                ],
            }
        ],
    }
    [shipped] = fake.fulfillments("rakuten")
    assert (shipped["order_no"], shipped["carrier"], shipped["tracking_number"]) == (
        NO,
        "1001",
        "4455-6677-8899",
    )
    assert c.fetch_order(NO).awaiting_shipment is False  # Rakuten shows it 発送済 now

    c.fulfill_order(NO, "yamato", "4455-6677-8899")  # a retry of the same shipment
    assert len(calls(fake, "updateOrderShipping")) == 1


def test_update_tracking_changes_the_existing_shipment(fake):
    fake.put_order("rakuten", rakuten_order())
    c = client(fake)
    c.fulfill_order(NO, "sagawa", "1111")
    detail = fake.fulfillments("rakuten")[0]["shipping_detail_id"]

    c.update_tracking(NO, "japan_post", "2222")

    body = calls(fake, "updateOrderShipping")[-1]["body"]
    assert body["BasketidModelList"][0]["ShippingModelList"] == [
        {
            "shippingDetailId": detail,
            "deliveryCompany": "1003",
            "shippingNumber": "2222",
        }  # the ship date stays
    ]
    [changed] = fake.tracking_updates("rakuten")
    assert (changed["carrier"], changed["tracking_number"], changed["shipping_detail_id"]) == (
        "1003",
        "2222",
        detail,
    )
    [shipment] = package(fake.get_order("rakuten", NO))["ShippingModelList"]
    assert (shipment["shippingNumber"], shipment["deliveryCompany"]) == ("2222", "1003")


def test_update_tracking_without_a_shipment_adds_one(fake):
    fake.put_order("rakuten", rakuten_order())
    client(fake).update_tracking(NO, "dhl", "DHL-1")
    [added] = fake.fulfillments("rakuten")
    assert (added["carrier"], added["tracking_number"]) == ("1018", "DHL-1") and fake.tracking_updates(
        "rakuten"
    ) == []


def test_the_origin_country_and_note_are_taken_and_not_sent_rakuten_has_no_field(fake):
    """A ShippingModel is shippingDetailId, shippingNumber, deliveryCompany, shippingDate and
    shippingDeleteFlag (JakeJP Models.cs): nothing else goes to updateOrderShipping."""
    fake.put_order("rakuten", rakuten_order())
    c = client(fake)
    c.fulfill_order(NO, "yamato", "1111", origin_country="CN", note="two boxes from Shenzhen")
    c.update_tracking(NO, "sagawa", "2222", origin_country="KR", note="relabelled")

    bodies = [x["body"] for x in calls(fake, "updateOrderShipping")]
    assert len(bodies) == 2 and all(set(b) == {"orderNumber", "BasketidModelList"} for b in bodies)
    shipments = [s for b in bodies for basket in b["BasketidModelList"] for s in basket["ShippingModelList"]]
    allowed = {"shippingDetailId", "shippingNumber", "deliveryCompany", "shippingDate", "shippingDeleteFlag"}
    assert all(set(s) <= allowed for s in shipments)
    assert not any(word in json.dumps(bodies) for word in ("CN", "KR", "Shenzhen", "relabelled"))
    assert [t["tracking_number"] for t in fake.tracking_updates("rakuten")] == ["2222"]


def test_shipping_a_cancelled_order_is_refused_before_sending(fake):
    fake.put_order("rakuten", rakuten_order(orderProgress=900))
    with pytest.raises(MarketplaceError) as err:
        client(fake).fulfill_order(NO, "yamato", "1")
    assert err.value.kind == "http_error" and "900" in err.value.message
    assert calls(fake, "updateOrderShipping") == []


def test_cancel_sends_cancel_order_and_the_order_is_cancelled(fake):
    fake.put_order("rakuten", rakuten_order(orderProgress=300))
    c = client(fake)

    c.cancel_order(NO, "out of stock")

    [cancel] = calls(fake, "cancelOrder")
    assert cancel["operation"] == "cancel"
    assert cancel["body"] == {"orderNumber": NO, "inventoryRestoreType": 0, "changeReasonDetailApply": 10}
    assert [x["order_no"] for x in fake.cancels("rakuten")] == [NO]
    change = c.fetch_order(NO)
    assert change.topic == "cancelled" and change.cancelled_at is not None

    c.cancel_order(NO)  # already cancelled: nothing to send
    assert len(calls(fake, "cancelOrder")) == 1


@pytest.mark.parametrize("state", [400, 500, 700])
def test_cancel_past_300_is_refused_with_no_call(fake, state):
    fake.put_order("rakuten", rakuten_order(orderProgress=state))
    with pytest.raises(MarketplaceError) as err:
        client(fake).cancel_order(NO)
    assert (err.value.kind, err.value.status) == ("http_error", None)
    assert f"at {state}" in err.value.message and "100/200/300" in err.value.message
    assert calls(fake, "cancelOrder") == [] and fake.cancels("rakuten") == []


def post_raw(fake, method: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{fake.base_url('rakuten')}/order/{method}/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"ESA {ESA}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as resp:  # noqa: S310 the local fake
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_fake_refuses_a_cancel_past_300_and_a_bad_carrier_the_rakuten_way(fake):
    fake.put_order("rakuten", rakuten_order(orderProgress=500))
    status, answer = post_raw(
        fake, "cancelOrder", {"orderNumber": NO, "inventoryRestoreType": 0, "changeReasonDetailApply": 10}
    )
    [message] = answer["MessageModelList"]
    assert status == 400 and message["messageType"] == "ERROR" and message["orderNumber"] == NO
    assert fake.get_order("rakuten", NO)["orderProgress"] == 500 and fake.cancels("rakuten") == []

    shipment = {"deliveryCompany": "佐川急便", "shippingNumber": "1", "shippingDate": "2026/03/01"}
    status, answer = post_raw(
        fake,
        "updateOrderShipping",
        {"orderNumber": NO, "BasketidModelList": [{"basketId": 9501048, "ShippingModelList": [shipment]}]},
    )
    assert status == 400 and {m["message"] for m in answer["MessageModelList"]} == {
        "deliveryCompanyの書式が不正です。",
        "shippingDateの書式が不正です。",
    }
    assert fake.fulfillments("rakuten") == []


# ---------------------------------------------------------------------- faults
def test_429_is_retried_after_retry_after(fake, slept):
    put(fake, "R-1", clock.now() - timedelta(hours=1))
    fake.fail("rakuten", "error", count=1, status=429, retry_after=1, operation="list")
    orders, token = client(fake, slept).list_changed(clock.now() - timedelta(days=1), None, 100)
    assert [o["orderNumber"] for o in orders] == ["R-1"] and token is None
    assert [c["status"] for c in calls(fake, "searchOrder")] == [429, 200] and slept == [1.0]


def test_5xx_every_time_is_unavailable(fake, slept):
    fake.put_order("rakuten", rakuten_order())
    fake.fail("rakuten", "error", count=-1, status=503, operation="fetch")
    with pytest.raises(MarketplaceError) as err:
        client(fake, slept).fetch_order(NO)
    assert (err.value.kind, err.value.status) == ("unavailable", 503)
    assert len(calls(fake, "getOrder")) == 3 and slept == [0.25, 0.5]


def test_a_timeout_is_reported_as_timeout(fake, slept):
    fake.put_order("rakuten", rakuten_order())
    fake.fail("rakuten", "timeout", count=-1, delay=1.0)
    with pytest.raises(MarketplaceError) as err:
        client(fake, slept, timeout=0.2, attempts=2).cancel_order(NO)
    assert err.value.kind == "timeout" and len(calls(fake)) == 2 and fake.cancels("rakuten") == []


def test_a_shipping_update_that_times_out_is_not_sent_again(fake, slept):
    """Rakuten has no idempotency key: a timed-out updateOrderShipping may have been applied,
    so it is not repeated blindly (the next attempt reads the order first)."""
    fake.put_order("rakuten", rakuten_order())
    fake.fail("rakuten", "timeout", count=-1, delay=1.0, operation="fulfill")
    with pytest.raises(MarketplaceError) as err:
        client(fake, slept, timeout=0.2).fulfill_order(NO, "yamato", "1234-5678-9012")
    assert err.value.kind == "timeout"
    assert len(calls(fake, "updateOrderShipping")) == 1


def test_a_refusal_in_a_400_answer_names_rakutens_code(fake, monkeypatch):
    fake.put_order("rakuten", rakuten_order(orderProgress=500))
    c = client(fake)
    real = c._get_orders

    def seen_at_300(numbers):  # the order moved on between the client's read and its cancel
        status, found, said = real(numbers)
        return status, {n: {**o, "orderProgress": 300} for n, o in found.items()}, said

    monkeypatch.setattr(c, "_get_orders", seen_at_300)
    with pytest.raises(MarketplaceError) as err:
        c.cancel_order(NO)
    assert (err.value.kind, err.value.status) == ("http_error", 400)
    assert err.value.message.startswith("Rakuten refused POST /order/cancelOrder/: ")
    assert fake.cancels("rakuten") == []


def test_a_shipping_update_answered_with_a_5xx_is_not_sent_again(fake, slept):
    """The answer was lost after Rakuten applied it (502): sending it again would register a
    second shipment with the same number."""
    fake.put_order("rakuten", rakuten_order())
    fake.fail("rakuten", "error", count=-1, status=502, operation="fulfill")
    with pytest.raises(MarketplaceError) as err:
        client(fake, slept).fulfill_order(NO, "yamato", "1234-5678-9012")
    assert (err.value.kind, err.value.status) == ("unavailable", 502)
    assert len(calls(fake, "updateOrderShipping")) == 1


def test_a_shipping_update_refused_with_429_is_sent_again(fake, slept):
    fake.put_order("rakuten", rakuten_order())
    fake.fail("rakuten", "error", count=1, status=429, operation="fulfill")
    client(fake, slept).fulfill_order(NO, "yamato", "1234-5678-9012")
    assert [c["status"] for c in calls(fake, "updateOrderShipping")] == [429, 200]
    assert len(fake.fulfillments("rakuten")) == 1


@pytest.mark.parametrize("state", [100, 200])
def test_a_card_order_rakuten_has_not_handed_over_waits_then_takes_its_hold(state):
    """At 100 (the shop has not confirmed it in RMS) and 200 (Rakuten is processing it) Rakuten
    takes no shipment: the order waits in pending; at 300 its hold window, long over, releases it."""
    from orderhub.domain.ingest import Create, Update, decide
    from orderhub.domain.settings import Integration

    early = normalize_order(rakuten_order(orderProgress=state, shippingInstDatetime=None))
    assert (early.payment.method, early.payment.paid_at) == ("marketplace", None)
    kw = {"merchant_id": "demo", "order_id": "ord_1", "packing_no": "PK1"}
    now = early.placed_at + timedelta(days=1)
    created = decide(None, early, Integration(), now, **kw)
    assert isinstance(created, Create) and created.order["status"] == "pending"
    assert created.order["hold_release_at"] is None
    handed = normalize_order(rakuten_order())  # 300, card, ship-instruction time set
    assert handed.payment.method == "card"
    d = decide(created.order, handed, Integration(), now)
    assert isinstance(d, Update) and d.order["status"] == "new"


def test_read_orders_reads_by_number_100_at_a_time_and_leaves_out_unknown_ones(fake):
    numbers = [f"123456-20260301-{n:010d}" for n in range(150)]
    for number in numbers:
        fake.put_order("rakuten", rakuten_order(number))
    found = client(fake).read_orders([*numbers, "123456-20260301-9999999999"])
    assert sorted(o["orderNumber"] for o in found) == sorted(numbers)
    assert len(calls(fake, "getOrder")) == 2 and calls(fake, "searchOrder") == []
