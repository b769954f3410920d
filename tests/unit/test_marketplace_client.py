"""The outbound marketplace client against the fake marketplace (real sockets, in-process)."""

from __future__ import annotations

import json
import logging
import socket
import urllib.error
import urllib.request

import pytest

from localcloud.fake_marketplace import FakeMarketplace
from orderhub.domain.settings import defaults
from orderhub.marketplaces import client as mc
from orderhub.marketplaces import registry
from orderhub.marketplaces.amazon.client import AmazonClient
from orderhub.marketplaces.client import MarketplaceError
from orderhub.marketplaces.generic.client import GenericClient
from orderhub.marketplaces.qoo10.client import Qoo10Client
from orderhub.marketplaces.rakuten.client import RakutenClient
from orderhub.marketplaces.shopify import client as shopify_client
from orderhub.marketplaces.shopify import webhook as shopify
from orderhub.marketplaces.shopify.client import ShopifyClient
from orderhub.marketplaces.wish import webhook as wish
from orderhub.marketplaces.wish.client import WishClient
from orderhub.merchants import profiles
from tests.support.http import load_event
from tests.support.outbound import allowing

TOKEN = "shpat_secret_token_123"


@pytest.fixture(scope="module")
def fake():
    with FakeMarketplace() as f, allowing(f.url):
        yield f


@pytest.fixture(autouse=True)
def clean(fake):
    fake.reset()
    yield


@pytest.fixture
def sleeps(monkeypatch):
    """Pauses between attempts are recorded, not slept."""
    slept: list[float] = []
    monkeypatch.setattr(mc, "sleep", slept.append)
    return slept


def client(fake, marketplace="shopify", **kw) -> mc.MarketplaceClient:
    kw.setdefault("timeout", 1.0)
    cls = registry.client_class(marketplace)
    return cls(marketplace, fake.base_url(marketplace), kw.pop("token", TOKEN), **kw)


def shopify_order(no: int = 1001, **overrides) -> dict:
    order = load_event("shopify/orders_create.json")
    order.update({"id": 5712345670000 + no, "order_number": no, "name": f"#{no}"}, **overrides)
    return order


def generic_order(no: str = "R-1", **overrides) -> dict:
    order = load_event("generic/order_created.json")["order"]
    order.update({"order_no": no}, **overrides)
    return order


# ---------------------------------------------------------------------- fetch
def test_shopify_fetch_normalizes_like_the_webhook_and_sends_the_token(fake, sleeps):
    order = shopify_order(1001)
    fake.put_order("shopify", order)
    fake.put_order("shopify", shopify_order(10011))  # a longer number must not match

    change = client(fake).fetch_order("1001")

    assert change == shopify.normalize_order(json.loads(json.dumps(order)), "updated")
    assert change.marketplace_order_no == "1001" and change.topic == "updated"
    [call] = fake.calls("shopify")
    assert call["method"] == "GET" and call["path"] == "/admin/api/2024-10/orders.json"
    assert call["query"] == {"name": "1001", "status": "any"}
    assert call["token"] == TOKEN
    assert sleeps == []


def test_shopify_fetch_of_an_unknown_number_is_not_found(fake):
    fake.put_order("shopify", shopify_order(1001))
    with pytest.raises(MarketplaceError) as err:
        client(fake).fetch_order("2002")
    assert err.value.kind == "not_found" and err.value.marketplace == "shopify"


def test_wish_fetch_uses_the_protocol_and_the_wish_adapter(fake):
    """Wish's own API (Marketplace API v3, tests/unit/test_wish_connector.py) and the webhook's mapping."""
    order = load_event("wish/order_created.json")
    no = fake.put_order("wish", order)
    change = client(fake, "wish", token="wish-token").fetch_order(no)
    assert isinstance(client(fake, "wish"), WishClient)
    assert change.marketplace == "wish" and change.marketplace_order_no == no
    assert change.recipient == wish.normalize_order(order, "updated").recipient
    [call] = fake.calls("wish")
    assert call["path"] == f"/api/v3/orders/{no}"
    assert call["headers"]["authorization"] == "Bearer wish-token"


def test_generic_fetch_reads_the_generic_order_object(fake):
    fake.put_order("ecforce", generic_order("381234-20260108-0012345678"))
    change = client(fake, "ecforce", token="rk").fetch_order("381234-20260108-0012345678")
    assert change.marketplace == "ecforce" and change.topic == "updated"
    assert change.payment.method == "konbini" and change.recipient.city == "名古屋市中区"
    assert fake.calls("ecforce")[0]["token"] == "rk"


def test_a_cancelled_order_is_fetched_with_its_cancel_time(fake):
    fake.put_order("ecforce", generic_order("R-9", cancelled_at="2026-01-09T09:00:00+09:00"))
    change = client(fake, "ecforce").fetch_order("R-9")
    assert change.topic == "updated" and change.cancelled_at is not None


def test_an_order_that_does_not_parse_is_an_http_error_naming_the_field(fake, sleeps):
    broken = generic_order("R-2")
    del broken["recipient"]
    fake.put_order("ecforce", broken)
    with pytest.raises(MarketplaceError) as err:
        client(fake, "ecforce").fetch_order("R-2")
    assert err.value.kind == "http_error" and err.value.status == 200
    assert "recipient" in err.value.message
    assert len(fake.calls("ecforce")) == 1 and sleeps == []


# ---------------------------------------------------------------------- retries and errors
def test_5xx_is_retried_with_backoff_then_succeeds(fake, sleeps):
    fake.put_order("shopify", shopify_order(1001))
    fake.fail("shopify", "error", count=2, status=503)
    assert client(fake).fetch_order("1001").marketplace_order_no == "1001"
    assert [c["status"] for c in fake.calls("shopify")] == [503, 503, 200]
    assert sleeps == [0.25, 0.5]


def test_5xx_every_time_is_unavailable_after_three_attempts(fake, sleeps):
    fake.put_order("shopify", shopify_order(1001))
    fake.fail("shopify", "error", count=-1)
    with pytest.raises(MarketplaceError) as err:
        client(fake).fetch_order("1001")
    assert (err.value.kind, err.value.status) == ("unavailable", 500)
    assert len(fake.calls("shopify")) == 3 and len(sleeps) == 2


def test_timeouts_are_retried_and_reported_as_timeout(fake, sleeps):
    fake.put_order("ecforce", generic_order("R-1"))
    fake.fail("ecforce", "timeout", count=-1, delay=2.0)
    with pytest.raises(MarketplaceError) as err:
        client(fake, "ecforce", timeout=0.2).fetch_order("R-1")
    assert err.value.kind == "timeout" and err.value.status is None
    assert len(fake.calls("ecforce")) == 3 and len(sleeps) == 2


def test_a_timeout_then_an_answer_succeeds(fake, sleeps):
    fake.put_order("ecforce", generic_order("R-1"))
    fake.fail("ecforce", "timeout", count=1, delay=2.0)
    assert client(fake, "ecforce", timeout=0.2).fetch_order("R-1").marketplace_order_no == "R-1"
    assert len(fake.calls("ecforce")) == 2 and len(sleeps) == 1


def test_404_is_not_found_and_not_retried(fake, sleeps):
    fake.put_order("ecforce", generic_order("R-1"))
    fake.fail("ecforce", "not_found", count=-1)
    with pytest.raises(MarketplaceError) as err:
        client(fake, "ecforce").fetch_order("R-1")
    assert (err.value.kind, err.value.status) == ("not_found", 404)
    assert len(fake.calls("ecforce")) == 1 and sleeps == []


def test_a_refused_token_is_an_http_error_and_not_retried(fake, sleeps):
    fake.put_order("shopify", shopify_order(1001))
    fake.require_token("shopify", "the-right-one")
    with pytest.raises(MarketplaceError) as err:
        client(fake, token="a-wrong-one").fetch_order("1001")
    assert (err.value.kind, err.value.status) == ("http_error", 401)
    assert len(fake.calls("shopify")) == 1 and sleeps == []
    assert client(fake, token="the-right-one").fetch_order("1001")


def test_no_token_is_refused_by_the_fake(fake):
    fake.put_order("ecforce", generic_order("R-1"))
    with pytest.raises(MarketplaceError) as err:
        client(fake, "ecforce", token="").fetch_order("R-1")
    assert err.value.status == 401


def test_nobody_listening_is_unavailable_after_three_attempts(sleeps):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gone = GenericClient("ecforce", f"http://127.0.0.1:{port}/ecforce", TOKEN, timeout=0.5)
    with allowing(f"http://127.0.0.1:{port}"), pytest.raises(MarketplaceError) as err:
        gone.fetch_order("R-1")
    assert err.value.kind == "unavailable" and err.value.status is None
    assert len(sleeps) == 2


def test_an_injected_sleep_wins_over_the_module_one(fake, sleeps):
    mine: list[float] = []
    fake.put_order("ecforce", generic_order("R-1"))
    fake.fail("ecforce", "error", count=1)
    client(fake, "ecforce", sleep=mine.append, backoff=0.01).fetch_order("R-1")
    assert mine == [0.01] and sleeps == []


def test_the_token_is_never_shown_or_logged(fake, sleeps, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    fake.put_order("shopify", shopify_order(1001))
    fake.fail("shopify", "error", count=-1)
    c = client(fake)
    with pytest.raises(MarketplaceError) as err:
        c.fetch_order("1001")
    out = capsys.readouterr()
    for text in (repr(c), str(err.value), err.value.message, json.dumps(err.value.to_dict()), caplog.text):
        assert TOKEN not in text
    assert TOKEN not in out.out + out.err


def test_a_query_is_never_logged_it_may_carry_a_credential(fake, sleeps, caplog):
    """A pre-signed URL (Amazon's feed document upload) carries its signature in the query."""
    caplog.set_level(logging.DEBUG)
    fake.put_order("ecforce", generic_order("R-1"))
    fake.fail("ecforce", "error", count=1)
    c = client(fake, "ecforce")
    c.request("GET", "/orders/R-1?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=deadbeef")
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("orderhub", "service_undefined")]
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert "/orders/R-1" in text  # the failed attempt and the answer were logged
    assert "AKIAEXAMPLE" not in text and "deadbeef" not in text


# ---------------------------------------------------------------------- cancel and fulfill
def test_shopify_cancel_posts_to_the_order_id_and_is_not_repeated(fake, sleeps):
    order = shopify_order(1001)
    fake.put_order("shopify", order)
    c = client(fake)
    c.cancel_order("1001", "customer changed their mind")
    [cancel] = fake.cancels("shopify")
    assert cancel["order_no"] == "1001" and cancel["order_id"] == order["id"]
    post = [x for x in fake.calls("shopify") if x["method"] == "POST"]
    assert post[0]["path"] == f"/admin/api/2024-10/orders/{order['id']}/cancel.json"
    assert post[0]["body"] == {"reason": "other", "email": False}
    assert fake.get_order("shopify", "1001")["cancelled_at"]

    c.cancel_order("1001", "again")  # already cancelled: fetched, nothing posted
    assert len(fake.cancels("shopify")) == 1
    assert [x["method"] for x in fake.calls("shopify")][-1] == "GET"


def test_shopify_cancel_accepts_a_422_when_the_order_is_cancelled_after_all(fake, monkeypatch):
    order = shopify_order(1001)
    fake.put_order("shopify", order)
    c = client(fake)
    real = c.request

    def lost_answer(method, path, **kw):
        if method == "POST":
            real(method, path, **kw)  # the shop cancels; the answer is "lost", the retry gets 422
            raise MarketplaceError("http_error", 422, "already cancelled", marketplace="shopify")
        return real(method, path, **kw)

    monkeypatch.setattr(c, "request", lost_answer)
    c.cancel_order("1001", "")
    assert len(fake.cancels("shopify")) == 1


def test_generic_cancel_retries_with_one_idempotency_key(fake, sleeps):
    fake.put_order("ecforce", generic_order("R-1"))
    fake.fail("ecforce", "error", count=1, operation="cancel")
    client(fake, "ecforce").cancel_order("R-1", "out of stock")
    posts = [c for c in fake.calls("ecforce") if c["method"] == "POST"]
    assert [p["status"] for p in posts] == [500, 200]
    assert posts[0]["idempotency_key"] and posts[0]["idempotency_key"] == posts[1]["idempotency_key"]
    assert posts[1]["path"] == "/orders/R-1/cancel" and posts[1]["body"] == {"reason": "out of stock"}
    assert [c["reason"] for c in fake.cancels("ecforce")] == ["out of stock"]
    assert client(fake, "ecforce").fetch_order("R-1").cancelled_at is not None


def test_wish_cancel_refunds_the_order(fake):
    no = fake.put_order("wish", load_event("wish/order_created.json"))
    client(fake, "wish").cancel_order(no, "")
    assert fake.get_order("wish", no)["state"] == "REFUNDED"
    assert [(c["order_no"], c["reason"]) for c in fake.cancels("wish")] == [(no, "UNABLE_TO_SHIP")]
    assert client(fake, "wish").fetch_order(no).cancelled_at is not None


def test_cancel_of_an_unknown_order_is_not_found(fake):
    with pytest.raises(MarketplaceError) as err:
        client(fake, "ecforce").cancel_order("nope", "")
    assert err.value.kind == "not_found"


def test_fulfill_sends_carrier_and_tracking(fake):
    fake.put_order("shopify", shopify_order(1001))
    fake.put_order("ecforce", generic_order("Q-1"))
    client(fake).fulfill_order("1001", "Yamato", "1234-5678-9012")
    client(fake, "ecforce").fulfill_order("Q-1", "Sagawa", "400000000001")
    assert [
        (f["marketplace"], f["order_no"], f["carrier"], f["tracking_number"]) for f in fake.fulfillments()
    ] == [
        ("shopify", "1001", "Yamato", "1234-5678-9012"),
        ("ecforce", "Q-1", "Sagawa", "400000000001"),
    ]
    assert fake.get_order("shopify", "1001")["fulfillment_status"] == "fulfilled"
    with pytest.raises(MarketplaceError) as err:  # nothing open any more
        client(fake).fulfill_order("1001", "Yamato", "1234-5678-9012")
    assert err.value.kind == "http_error"


# ---------------------------------------------------------------------- carrier names and tracking
SHOPIFY_NAMES = [
    ("japan_post", "Japan Post (JA)"),
    ("yamato", "Yamato (JA)"),
    ("sagawa", "Sagawa (JA)"),
    ("ups", "UPS"),
    ("fedex", "FedEx"),
    ("dhl", "DHL Express"),
    ("usps", "USPS"),
    ("other", "Other"),
]


def test_every_carrier_code_has_a_shopify_name():
    assert dict(SHOPIFY_NAMES) == shopify_client.SHOPIFY_TRACKING_COMPANIES
    assert set(shopify_client.SHOPIFY_TRACKING_COMPANIES) == set(mc.CARRIER_CODES)


@pytest.mark.parametrize(("code", "name"), [*SHOPIFY_NAMES, ("Seino", "Seino"), ("", "")])
def test_shopify_fulfillment_sends_shopifys_company_name(fake, code, name):
    fake.put_order("shopify", shopify_order(1001))
    client(fake).fulfill_order("1001", code, "1234-5678-9012")
    [post] = [c for c in fake.calls("shopify") if c["method"] == "POST"]
    assert post["body"]["fulfillment"]["tracking_info"] == {"company": name, "number": "1234-5678-9012"}
    assert [f["carrier"] for f in fake.fulfillments("shopify")] == [name]
    assert client(fake).carrier_name(code) == name


@pytest.mark.parametrize("notify", [True, False])
def test_shopify_notifies_the_buyer_as_the_integration_says(fake, notify):
    """notify_customer: on by default (as a fulfillment made in Shopify's admin), off on request."""
    fake.put_order("shopify", shopify_order(1001))
    settings = {**defaults("shopify"), **({} if notify else {"notify_customer": False})}
    c = client(fake, settings=settings)
    c.fulfill_order("1001", "yamato", "1234-5678-9012")
    c.update_tracking("1001", "sagawa", "400000000001")
    posts = [x["body"]["fulfillment"] for x in fake.calls("shopify") if x["method"] == "POST"]
    assert [p["notify_customer"] for p in posts] == [notify, notify]


@pytest.mark.parametrize("marketplace", ["ecforce", "generic"])
def test_the_protocol_sends_the_carrier_code_as_is(fake, marketplace):
    no = fake.put_order(marketplace, generic_order("R-1"))
    c = client(fake, marketplace)
    c.fulfill_order(no, "japan_post", "AB123456789JP")
    c.update_tracking(no, "yamato", "1111-2222-3333")
    assert [f["carrier"] for f in fake.fulfillments(marketplace)] == ["japan_post"]
    assert [t["carrier"] for t in fake.tracking_updates(marketplace)] == ["yamato"]
    assert c.carrier_name("japan_post") == "japan_post"


# ---------------------------------------------------------------------- origin country and note
@pytest.mark.parametrize("marketplace", ["ecforce", "generic"])
def test_the_protocol_carries_the_origin_country_and_the_note(fake, marketplace):
    no = fake.put_order(marketplace, generic_order("R-1"))
    c = client(fake, marketplace)
    c.fulfill_order(no, "yamato", "1111-2222-3333", origin_country="cn", note="  2 boxes  ")
    c.update_tracking(no, "sagawa", "400000000001", origin_country="KR", note="re-labelled")
    bodies = [x["body"] for x in fake.calls(marketplace) if x["method"] in ("POST", "PUT")]
    assert bodies == [
        {"carrier": "yamato", "tracking_number": "1111-2222-3333", "origin_country": "CN", "note": "2 boxes"},
        {
            "carrier": "sagawa",
            "tracking_number": "400000000001",
            "origin_country": "KR",
            "note": "re-labelled",
        },
    ]
    [shipped] = fake.fulfillments(marketplace)
    [changed] = fake.tracking_updates(marketplace)
    assert (shipped["origin_country"], shipped["note"]) == ("CN", "2 boxes")
    assert (changed["origin_country"], changed["note"]) == ("KR", "re-labelled")


def test_the_protocol_leaves_out_what_the_shipment_has_not_and_keeps_its_idempotency_key(fake):
    fake.put_order("ecforce", generic_order("Q-1"))
    fake.put_order("ecforce", generic_order("Q-2"))
    c = client(fake, "ecforce")
    c.fulfill_order("Q-1", "yamato", "1", origin_country=None, note="  ")
    c.fulfill_order("Q-2", "yamato", "1", origin_country="JP", note="n")
    c.update_tracking("Q-1", "yamato", "2", origin_country="", note=None)
    post, other, put = [x for x in fake.calls("ecforce") if x["method"] in ("POST", "PUT")]
    assert post["body"] == {"carrier": "yamato", "tracking_number": "1"}
    assert put["body"] == {"carrier": "yamato", "tracking_number": "2"}  # a PUT replaces: none now
    # a shipment without them keeps the key it always had; one with them gets its own
    assert post["idempotency_key"] == c._idempotency_key("fulfill", "Q-1", "yamato", "1")
    assert other["idempotency_key"] == c._idempotency_key(
        "fulfill", "Q-2", "yamato", "1", "origin_country=JP", "note=n"
    )
    assert [(f["origin_country"], f["note"]) for f in fake.fulfillments("ecforce")] == [
        (None, None),
        ("JP", "n"),
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [("origin_country", "JPN"), ("origin_country", "日本"), ("note", ""), ("note", "x" * 501)],
)
def test_the_protocol_fake_refuses_a_bad_origin_country_or_note(fake, field, value):
    fake.put_order("ecforce", generic_order("Q-1"))
    body = {"carrier": "yamato", "tracking_number": "1", field: value}
    with pytest.raises(MarketplaceError) as err:
        client(fake, "ecforce").request("POST", "/orders/Q-1/fulfillments", body=body)
    assert err.value.status == 400 and fake.fulfillments("ecforce") == []


def test_shopify_fulfillment_carries_the_origin_address_and_the_note_as_its_message(fake):
    fake.put_order("shopify", shopify_order(1001))
    client(fake).fulfill_order("1001", "yamato", "1234-5678-9012", origin_country="jp", note=" left Osaka ")
    [post] = [c for c in fake.calls("shopify") if c["method"] == "POST"]
    assert post["body"]["fulfillment"]["origin_address"] == {"country_code": "JP"}
    assert post["body"]["fulfillment"]["message"] == "left Osaka"
    [sent] = fake.fulfillments("shopify")
    assert (sent["origin_country"], sent["note"]) == ("JP", "left Osaka")
    [kept] = fake.get_order("shopify", "1001")["fulfillments"]
    assert kept["origin_address"] == {"country_code": "JP"}


def test_shopify_fulfillment_without_origin_or_note_sends_neither(fake):
    fake.put_order("shopify", shopify_order(1001))
    client(fake).fulfill_order("1001", "yamato", "1234-5678-9012", origin_country=None, note="")
    [post] = [c for c in fake.calls("shopify") if c["method"] == "POST"]
    assert set(post["body"]["fulfillment"]) == {
        "line_items_by_fulfillment_order",
        "tracking_info",
        "notify_customer",
    }
    assert (fake.fulfillments("shopify")[0]["origin_country"], fake.fulfillments("shopify")[0]["note"]) == (
        None,
        None,
    )


def test_shopify_tracking_change_sends_no_origin_or_note_its_endpoint_takes_none(fake):
    """update_tracking.json takes tracking_info and notify_customer only; an order with no
    fulfillment in effect is fulfilled instead, and that carries both."""
    fake.put_order("shopify", shopify_order(1001))
    fake.put_order("shopify", shopify_order(1002))
    c = client(fake)
    c.fulfill_order("1001", "yamato", "1234-5678-9012")
    c.update_tracking("1001", "sagawa", "400000000001", origin_country="CN", note="moved")
    c.update_tracking("1002", "sagawa", "400000000002", origin_country="CN", note="moved")

    update = [x for x in fake.calls("shopify") if x["path"].endswith("/update_tracking.json")]
    assert [set(x["body"]["fulfillment"]) for x in update] == [{"tracking_info", "notify_customer"}]
    assert [(t["origin_country"], t["note"]) for t in fake.tracking_updates("shopify")] == [(None, None)]
    fulfilled = [(f["order_no"], f["origin_country"], f["note"]) for f in fake.fulfillments("shopify")]
    assert fulfilled == [("1001", None, None), ("1002", "CN", "moved")]


def test_the_shopify_fake_refuses_an_origin_address_without_a_country(fake):
    fake.put_order("shopify", shopify_order(1001))
    c = client(fake)
    body = {
        "fulfillment": {
            "line_items_by_fulfillment_order": [{"fulfillment_order_id": (5712345670000 + 1001) * 10 + 1}],
            "origin_address": {"city": "Osaka"},
        }
    }
    with pytest.raises(MarketplaceError) as err:
        c.request("POST", "/admin/api/2024-10/fulfillments.json", body=body)
    assert err.value.status == 400 and fake.fulfillments("shopify") == []


def test_reflect_hands_every_client_the_shipments_origin_country_and_note():
    """sync.reflect's call (a fulfillment, a tracking change, a retry of either) passes the
    tracking's origin_country and note as keywords, None when the tracking has none."""
    from orderhub.sync import reflect

    seen: list[tuple] = []

    class Recorder:
        def fulfill_order(self, *args, **kw):
            seen.append(("fulfill", args, kw))

        def update_tracking(self, *args, **kw):
            seen.append(("tracking", args, kw))

    tracking = {"carrier": "yamato", "tracking_number": "1111", "origin_country": "CN", "note": "2 boxes"}
    reflect.fulfillment_call({"marketplace_order_no": "1001", "tracking": tracking})(Recorder())
    bare = {"carrier": "sagawa", "tracking_number": "2222", "origin_country": None, "note": None}
    reflect.fulfillment_call({"marketplace_order_no": "1001", "tracking": bare}, change=True)(Recorder())
    assert seen == [
        ("fulfill", ("1001", "yamato", "1111"), {"origin_country": "CN", "note": "2 boxes"}),
        ("tracking", ("1001", "sagawa", "2222"), {"origin_country": None, "note": None}),
    ]


def test_shopify_update_tracking_changes_the_fulfillment(fake, sleeps):
    order = shopify_order(1001)
    fake.put_order("shopify", order)
    c = client(fake)
    c.fulfill_order("1001", "yamato", "1234-5678-9012")
    [fulfillment] = fake.get_order("shopify", "1001")["fulfillments"]
    before = len(fake.calls("shopify"))

    c.update_tracking("1001", "sagawa", "400000000001")

    calls = fake.calls("shopify")[before:]
    assert [(x["method"], x["path"], x["operation"]) for x in calls] == [
        ("GET", "/admin/api/2024-10/orders.json", "fetch"),
        ("GET", f"/admin/api/2024-10/orders/{order['id']}/fulfillments.json", "tracking"),
        ("POST", f"/admin/api/2024-10/fulfillments/{fulfillment['id']}/update_tracking.json", "tracking"),
    ]
    assert calls[-1]["body"] == {
        "fulfillment": {
            "tracking_info": {"number": "400000000001", "company": "Sagawa (JA)"},
            "notify_customer": True,
        }
    }
    [update] = fake.tracking_updates("shopify")
    assert update["order_no"] == "1001" and update["fulfillment_id"] == fulfillment["id"]
    assert (update["carrier"], update["tracking_number"]) == ("Sagawa (JA)", "400000000001")
    [changed] = fake.get_order("shopify", "1001")["fulfillments"]
    assert (changed["tracking_company"], changed["tracking_number"]) == ("Sagawa (JA)", "400000000001")
    assert len(fake.fulfillments("shopify")) == 1 and sleeps == []

    c.update_tracking("1001", "sagawa", "400000000001")  # already so: read, nothing posted
    assert len(fake.tracking_updates("shopify")) == 1
    assert fake.calls("shopify")[-1]["method"] == "GET"


def test_shopify_update_tracking_picks_the_latest_fulfillment_in_effect(fake):
    def ful(fid, status):
        return {"id": fid, "status": status, "tracking_company": "UPS", "tracking_number": "1Z"}

    fulfillments = [ful(700, "success"), ful(900, "cancelled"), ful(800, "success"), ful(950, "failure")]
    fake.put_order("shopify", shopify_order(1001, fulfillments=fulfillments, fulfillment_status="fulfilled"))
    client(fake).update_tracking("1001", "fedex", "7777")
    [update] = fake.tracking_updates("shopify")
    assert update["fulfillment_id"] == 800 and update["carrier"] == "FedEx"
    by_id = {f["id"]: f["tracking_number"] for f in fake.get_order("shopify", "1001")["fulfillments"]}
    assert by_id == {700: "1Z", 900: "1Z", 800: "7777", 950: "1Z"}


@pytest.mark.parametrize(
    "fulfillments",
    [[], [{"id": 900, "status": "cancelled", "tracking_number": "old"}]],
    ids=["none", "cancelled"],
)
def test_shopify_update_tracking_of_an_unfulfilled_order_fulfills_it(fake, sleeps, fulfillments):
    order = shopify_order(1001, fulfillments=fulfillments)
    fake.put_order("shopify", order)
    client(fake).update_tracking("1001", "japan_post", "AB123456789JP")
    assert fake.tracking_updates("shopify") == []
    [f] = fake.fulfillments("shopify")
    assert (f["order_no"], f["carrier"], f["tracking_number"]) == ("1001", "Japan Post (JA)", "AB123456789JP")
    assert fake.get_order("shopify", "1001")["fulfillment_status"] == "fulfilled"
    ops = [(x["method"], x["operation"]) for x in fake.calls("shopify")]
    assert ops == [("GET", "fetch"), ("GET", "tracking"), ("GET", "fulfill"), ("POST", "fulfill")]


def test_generic_update_tracking_puts_with_one_idempotency_key_per_call(fake, sleeps):
    fake.put_order("ecforce", generic_order("Q-1"))
    fake.fail("ecforce", "error", count=1, operation="tracking", status=503)
    c = client(fake, "ecforce")
    c.update_tracking("Q-1", "sagawa", "400000000001")
    puts = [x for x in fake.calls("ecforce") if x["method"] == "PUT"]
    assert [p["status"] for p in puts] == [503, 200] and sleeps == [0.25]
    assert puts[0]["path"] == "/orders/Q-1/fulfillments/tracking" and puts[0]["operation"] == "tracking"
    assert puts[1]["body"] == {"carrier": "sagawa", "tracking_number": "400000000001"}
    assert puts[0]["idempotency_key"] and puts[0]["idempotency_key"] == puts[1]["idempotency_key"]
    updates = [(t["order_no"], t["carrier"], t["tracking_number"]) for t in fake.tracking_updates("ecforce")]
    assert updates == [("Q-1", "sagawa", "400000000001")]

    # back and forth: every change is a new call with its own key, so none is taken for a repeat
    c.update_tracking("Q-1", "yamato", "1111")
    c.update_tracking("Q-1", "sagawa", "400000000001")
    keys = [x["idempotency_key"] for x in fake.calls("ecforce") if x["method"] == "PUT"]
    assert len(set(keys)) == 3
    assert [t["carrier"] for t in fake.tracking_updates("ecforce")] == ["sagawa", "yamato", "sagawa"]


def test_shopify_update_tracking_failing_every_time_is_unavailable(fake, sleeps):
    fake.put_order("shopify", shopify_order(1001))
    client(fake).fulfill_order("1001", "yamato", "1")
    fake.fail("shopify", "error", count=-1, operation="tracking", status=503)
    with pytest.raises(MarketplaceError) as err:
        client(fake).update_tracking("1001", "yamato", "2")
    assert (err.value.kind, err.value.status, err.value.marketplace) == ("unavailable", 503, "shopify")
    tracking = [x for x in fake.calls("shopify") if x["operation"] == "tracking"]
    assert [x["status"] for x in tracking] == [503, 503, 503] and len(sleeps) == 2
    assert fake.tracking_updates("shopify") == []


def test_shopify_update_tracking_post_failing_is_retried_then_unavailable(fake, sleeps, monkeypatch):
    fake.put_order("shopify", shopify_order(1001))
    client(fake).fulfill_order("1001", "yamato", "1")
    c = client(fake)
    real = c.request

    def fail_posts_from_now(method, path, **kw):
        if method == "POST":
            fake.fail("shopify", "error", count=-1, operation="tracking", status=502)
        return real(method, path, **kw)

    monkeypatch.setattr(c, "request", fail_posts_from_now)
    with pytest.raises(MarketplaceError) as err:
        c.update_tracking("1001", "yamato", "2")
    assert (err.value.kind, err.value.status) == ("unavailable", 502)
    posts = [x for x in fake.calls("shopify") if x["path"].endswith("/update_tracking.json")]
    assert [x["status"] for x in posts] == [502, 502, 502] and len(sleeps) == 2


@pytest.mark.parametrize("marketplace", ["wish", "ecforce"])
def test_protocol_update_tracking_timing_out_every_time_is_a_timeout(fake, sleeps, marketplace):
    order = load_event("wish/order_created.json") if marketplace == "wish" else generic_order("R-1")
    no = fake.put_order(marketplace, order)
    fake.fail(marketplace, "timeout", count=-1, operation="tracking", delay=2.0)
    c = client(fake, marketplace, timeout=0.2)
    assert c.fetch_order(no).marketplace_order_no == no  # only the tracking requests fail
    with pytest.raises(MarketplaceError) as err:
        c.update_tracking(no, "dhl", "JD0000001")
    assert err.value.kind == "timeout" and err.value.marketplace == marketplace
    assert len([x for x in fake.calls(marketplace) if x["method"] == "PUT"]) == 3 and len(sleeps) == 2


def test_protocol_update_tracking_of_a_cancelled_order_is_refused_once(fake, sleeps):
    fake.put_order("ecforce", generic_order("R-9", cancelled_at="2026-01-09T09:00:00+09:00"))
    with pytest.raises(MarketplaceError) as err:
        client(fake, "ecforce").update_tracking("R-9", "yamato", "1")
    assert (err.value.kind, err.value.status) == ("http_error", 409)
    assert len(fake.calls("ecforce")) == 1 and sleeps == []
    with pytest.raises(MarketplaceError) as err:
        client(fake, "ecforce").update_tracking("nope", "yamato", "1")
    assert err.value.kind == "not_found"


# ---------------------------------------------------------------------- client_for
@pytest.mark.parametrize(
    ("marketplace", "cls"),
    [
        ("shopify", ShopifyClient),
        ("wish", WishClient),
        ("ecforce", GenericClient),
        ("qoo10", Qoo10Client),
        ("rakuten", RakutenClient),
        ("amazon", AmazonClient),
    ],
)
def test_client_for_picks_the_kind_from_the_profile(monkeypatch, marketplace, cls):
    profile = {
        "integrations": {marketplace: {"api_base_url": "https://api.example.com/x/", "api_token": "t"}}
    }
    monkeypatch.setattr(profiles, "get_profile", lambda m: profile)
    c = registry.client_for("demo", marketplace)
    assert type(c) is cls and c.base_url == "https://api.example.com/x" and c.marketplace == marketplace
    assert c.timeout == 5.0 and c.attempts == 3


@pytest.mark.parametrize(
    "profile",
    [
        None,
        {},
        {"integrations": {"shopify": {"api_token": "t"}}},
        {"integrations": {"shopify": {"api_base_url": ""}}},
    ],
)
def test_no_client_without_a_base_url(monkeypatch, profile):
    monkeypatch.setattr(profiles, "get_profile", lambda m: profile)
    assert registry.client_for("demo", "shopify") is None


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "https://shop..example.com", "https://10.0.0.1", "http://shop.example.com"]
)
def test_a_stored_url_the_rule_refuses_fails_every_call_before_sending(monkeypatch, sleeps, url):
    """docs/sync-flows.md "Outbound URLs": a URL stored before PUT checked it still gets a client,
    so a reflect is tagged and a refresh fails; its calls fail invalid_url with nothing sent."""
    profile = {"integrations": {"shopify": {"api_base_url": url, "api_token": "t"}}}
    monkeypatch.setattr(profiles, "get_profile", lambda m: profile)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("resolved"))
    c = registry.client_for("demo", "shopify")
    with pytest.raises(MarketplaceError) as err:
        c.cancel_order("1001", "")
    assert (err.value.kind, err.value.status) == ("invalid_url", None) and sleeps == []
    assert "api_base_url" in err.value.message


# ---------------------------------------------------------------------- the fake's control API
def _control(fake, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(fake.url + path, data=data, method=method)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.status, json.loads(resp.read())


def test_the_control_api_over_http(fake, sleeps):
    status, put = _control(fake, "POST", "/_control/orders/ecforce", generic_order("R-7"))
    assert status == 201 and put["order_no"] == "R-7"
    assert _control(fake, "GET", "/_control/orders/ecforce/R-7")[1]["order"]["order_no"] == "R-7"
    _control(fake, "POST", "/_control/fail", {"marketplace": "ecforce", "mode": "error", "count": 1})
    assert client(fake, "ecforce").fetch_order("R-7").marketplace_order_no == "R-7"
    calls = _control(fake, "GET", "/_control/calls?marketplace=ecforce")[1]
    assert [c["status"] for c in calls["calls"]] == [500, 200]
    assert calls["cancels"] == [] and calls["fulfillments"] == [] and calls["tracking_updates"] == []
    _control(fake, "POST", "/_control/reset", {})
    assert _control(fake, "GET", "/_control/calls")[1]["calls"] == []
    assert fake.get_order("ecforce", "R-7") is None


def test_the_control_api_fails_and_lists_tracking_updates(fake, sleeps):
    _control(fake, "POST", "/_control/orders/ecforce", generic_order("R-7"))
    fail = {"marketplace": "ecforce", "mode": "error", "count": 1, "operation": "tracking", "status": 503}
    assert _control(fake, "POST", "/_control/fail", fail)[1] == {"ok": True}
    client(fake, "ecforce").fulfill_order("R-7", "yamato", "1")  # another operation: not failed
    client(fake, "ecforce").update_tracking("R-7", "usps", "9400")
    calls = _control(fake, "GET", "/_control/calls?marketplace=ecforce")[1]
    assert [(c["method"], c["status"]) for c in calls["calls"]] == [("POST", 201), ("PUT", 503), ("PUT", 200)]
    assert [(t["carrier"], t["tracking_number"]) for t in calls["tracking_updates"]] == [("usps", "9400")]
    assert [f["carrier"] for f in calls["fulfillments"]] == ["yamato"]
    with pytest.raises(urllib.error.HTTPError) as err:
        _control(fake, "POST", "/_control/fail", {"marketplace": "ecforce", "operation": "track"})
    assert err.value.code == 400 and "tracking" in json.loads(err.value.read())["error"]
    _control(fake, "POST", "/_control/reset", {})
    assert fake.tracking_updates() == []
