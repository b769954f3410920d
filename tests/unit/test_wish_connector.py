"""Wish's connector (orderhub.marketplaces.wish): the client against the fake's Wish Marketplace API
v3 over real HTTP, its faults, the carrier names, and the mapping of what the pull reads."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from localcloud.fake_marketplace import FakeMarketplace
from orderhub.domain import actions, ingest
from orderhub.kernel import clock
from orderhub.kernel.errors import MalformedPayload
from orderhub.marketplaces import client as mc
from orderhub.marketplaces import registry
from orderhub.marketplaces.client import MarketplaceError
from orderhub.marketplaces.wish import carriers
from orderhub.marketplaces.wish import client as wish_client_module
from orderhub.marketplaces.wish import fake as wish_fake
from orderhub.marketplaces.wish import webhook as wish
from orderhub.marketplaces.wish.client import Keyset, WishClient, reset_seconds
from tests.support.outbound import allowing

TOKEN = "wish-access-token-1"
T0 = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)


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
def sleeps(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(mc, "sleep", slept.append)
    return slept


def wish_client(fake, **kw) -> WishClient:
    kw.setdefault("timeout", 0.5)
    base_url = kw.pop("base_url", fake.base_url("wish"))
    return WishClient("wish", base_url, kw.pop("token", TOKEN), **kw)


def at(minutes: float = 0) -> str:
    return clock.iso(T0 + timedelta(minutes=minutes))


def order(
    oid: str, updated: float = 0, *, state: str = "APPROVED", released: float | None = None, **extra
) -> dict:
    """A Wish v3 Order (Marketplace API 3.0.65 `Order` schema): one product variation."""
    released_at = at(updated if released is None else released)
    obj = {
        "id": oid,
        "transaction_id": "6f00000000000000000000aa",
        "state": state,
        "released_at": released_at,
        "updated_at": at(updated),
        "product_information": {
            "id": "6f0000000000000000000001",
            "variation_id": "6f0000000000000000000002",
            "sku": "MUG-KUTANI-BLUE",
            "name": "Kutani porcelain mug",
            "color": "Blue",
            "size": "M",
        },
        "order_payment": {
            "general_payment_details": {
                "product_quantity": 3,
                "product_price": {"amount": 18.5, "currency_code": "USD"},
                "payment_total": {"amount": 47.25, "currency_code": "USD"},
            }
        },
        "full_address": {
            "shipping_detail": {
                "name": "Alex Kim",
                "street_address1": "500 Market St",
                "city": "San Francisco",
                "state": "CA",
                "zipcode": "94105",
                "country_code": "US",
                "phone_number": {"country_code": "1", "number": "4155550100"},
            }
        },
        "fulfillment_records": [{"event_type": "ORDER_RELEASED", "event_time": released_at}],
        "tracking_information": [],
        "refunds": [],
    }
    obj.update(extra)
    return obj


def puts(fake) -> list[dict]:
    return [c for c in fake.calls("wish") if c["method"] == "PUT"]


def read_all(fake, c: WishClient, since: datetime, limit: int) -> tuple[list[str], list[dict]]:
    """Every page of the pull: the ids in the order they came, and the list queries sent."""
    ids: list[str] = []
    token = None
    for _ in range(100):
        page, token = c.list_changed(since, token, limit)
        assert len(page) <= limit
        ids += [o["id"] for o in page]
        if token is None:
            break
    else:
        raise AssertionError("the pull never ended")
    return ids, [x["query"] for x in fake.calls("wish") if x["operation"] == "list"]


# ---------------------------------------------------------------------- the pull
def test_list_asks_wish_for_changes_since_oldest_first_with_the_bearer_token(fake):
    fake.put_order("wish", order("a3", updated=30))
    fake.put_order("wish", order("a1", updated=10))
    fake.put_order("wish", order("a0", updated=-5))  # changed before `since`
    fake.put_order("wish", order("a2", updated=20))

    page, token = wish_client(fake).list_changed(T0 + timedelta(microseconds=1500), None, 100)

    assert [o["id"] for o in page] == ["a1", "a2", "a3"] and token is None
    [call] = fake.calls("wish")
    assert call["path"] == "/api/v3/orders" and call["operation"] == "list"
    assert call["query"] == {
        "updated_at_min": "2026-01-06T02:00:00.001Z",
        "sort_by": "updated_at.asc",
        "limit": "100",
    }
    assert call["headers"]["authorization"] == f"Bearer {TOKEN}"


def test_list_pages_through_ties_on_updated_at_without_a_gap_or_a_repeat(fake):
    """Seven orders share one updated_at; pages of three move the bound only past what was read."""
    for i in range(7):
        fake.put_order("wish", order(f"t{i}", updated=10))
    for i in range(2):
        fake.put_order("wish", order(f"e{i}", updated=5))
    for i in range(3):
        fake.put_order("wish", order(f"l{i}", updated=20 + i))
    ids, queries = read_all(fake, wish_client(fake), T0, 3)

    assert sorted(ids) == sorted(f"{p}{i}" for p, n in (("t", 7), ("e", 2), ("l", 3)) for i in range(n))
    assert len(ids) == len(set(ids)) == 12
    updated = [fake.get_order("wish", i)["updated_at"] for i in ids]
    assert updated == sorted(updated)  # oldest change first, across pages
    assert all(q["updated_at_min"] in (at(0), at(5), at(10), at(20), at(21), at(22)) for q in queries)
    assert all(int(q["limit"]) <= 3 + 7 for q in queries)  # at most the page and the tie read again


def test_an_order_changed_while_paging_comes_again_with_its_new_change(fake):
    for i in range(4):
        fake.put_order("wish", order(f"o{i}", updated=i))
    c = wish_client(fake)
    first, token = c.list_changed(T0, None, 2)
    assert [o["id"] for o in first] == ["o0", "o1"]
    fake.update_order("wish", "o0", updated_at=at(30), state="SHIPPED")

    rest, token = c.list_changed(T0, token, 10)

    assert [o["id"] for o in rest] == ["o2", "o3", "o0"] and token is None
    assert rest[-1]["state"] == "SHIPPED"


def test_a_tie_larger_than_a_request_is_read_by_released_at(fake):
    c = wish_client(fake)
    c.max_limit = 4
    for i in range(6):
        fake.put_order("wish", order(f"t{i}", updated=10, released=i))
    fake.put_order("wish", order("later", updated=11))
    fake.put_order("wish", order("before", updated=9))

    ids, queries = read_all(fake, c, T0, 2)

    assert set(ids) == {"before", "later", *(f"t{i}" for i in range(6))}  # no gap
    assert ids[0] == "before" and ids[-1] == "later"
    tie = [q for q in queries if q.get("updated_at_max")]
    assert tie and all(
        q["updated_at_min"] == q["updated_at_max"] == at(10) and q["sort_by"] == "released_at.asc"
        for q in tie
    )
    assert queries[-1]["updated_at_min"] == "2026-01-06T02:10:00.001Z"  # on after the tie
    assert all(int(q["limit"]) <= 4 for q in queries)


def test_a_tie_wish_cannot_page_past_is_an_http_error(fake):
    c = wish_client(fake)
    c.max_limit = 2
    for i in range(3):
        fake.put_order("wish", order(f"t{i}", updated=10, released=1))
    token = None
    with pytest.raises(MarketplaceError) as err:
        for _ in range(10):
            _page, token = c.list_changed(T0, token, 1)
    assert err.value.kind == "http_error" and "share updated_at" in err.value.message


def test_the_page_token_round_trips_and_names_its_bound():
    keys = Keyset("updated_at", "2026-01-06T02:10:00.000Z", ("a", "b"))
    assert Keyset.decode(keys.encode()) == keys
    raw = json.loads(base64.urlsafe_b64decode(keys.encode() + "=="))
    assert raw == {"k": "updated_at", "b": "2026-01-06T02:10:00.000Z", "s": ["a", "b"], "w": None}


@pytest.mark.parametrize(
    "token", ["not-base64!", "eyJrIjoibm8ifQ", Keyset("updated_at", "yesterday").encode()]
)
def test_a_page_token_this_client_did_not_write_is_an_http_error_sending_nothing(fake, token):
    """The pull drops a stored page token a 4xx refuses and lists again from its cursor."""
    with pytest.raises(MarketplaceError) as err:
        wish_client(fake).list_changed(T0, token, 10)
    assert err.value.kind == "http_error" and fake.calls("wish") == []


def test_a_limit_outside_wishs_bounds_is_brought_inside(fake):
    wish_client(fake).list_changed(T0, None, 5000)
    assert fake.calls("wish")[-1]["query"]["limit"] == "500"


# ---------------------------------------------------------------------- one order
def test_fetch_reads_the_v3_order_and_normalizes_it_like_the_webhook(fake):
    raw = order("65f0aa0000000000000000a1", updated=3, released=1)
    fake.put_order("wish", raw)

    change = wish_client(fake).fetch_order(raw["id"])

    assert change == wish.normalize_order(raw, "updated")
    assert change.items[0].quantity == 3 and change.total == pytest.approx(47.25)
    [call] = fake.calls("wish")
    assert call["path"] == f"/api/v3/orders/{raw['id']}" and call["method"] == "GET"


def test_a_base_url_that_already_names_api_v3_is_not_doubled(fake):
    fake.put_order("wish", order("o1"))
    c = wish_client(fake, base_url=fake.base_url("wish") + "/api/v3/")
    assert c.fetch_order("o1").marketplace_order_no == "o1"
    assert fake.calls("wish")[0]["path"] == "/api/v3/orders/o1"


def test_an_unknown_order_is_not_found(fake, sleeps):
    with pytest.raises(MarketplaceError) as err:
        wish_client(fake).fetch_order("nope")
    assert (err.value.kind, err.value.status) == ("not_found", 404) and sleeps == []


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("status", [200, 400])
def test_an_error_code_in_wishs_envelope_is_an_http_error_naming_it(fake, sleeps, status):
    fake.put_order("wish", order("o1"))
    wish_fake.answer_code(fake, 1008, "We could not find an order for id: 'o1'", status=status)
    with pytest.raises(MarketplaceError) as err:
        wish_client(fake).fetch_order("o1")
    assert (err.value.kind, err.value.status) == ("http_error", status)
    assert "Wish code 1008" in err.value.message and "could not find" in err.value.message
    assert len(fake.calls("wish")) == 1 and sleeps == []


def test_an_answer_that_is_not_the_envelope_is_an_http_error(fake):
    c = wish_client(fake)
    with pytest.raises(MarketplaceError) as err:
        c._data("GET", "orders", 200, [{"id": "o1"}])
    assert err.value.kind == "http_error" and "envelope" in err.value.message
    assert c._data("GET", "orders", 200, {"code": 0, "message": "", "data": []}) == []


def test_a_refused_token_is_an_http_error_not_retried(fake, sleeps):
    fake.put_order("wish", order("o1"))
    fake.require_token("wish", "the-right-one")
    with pytest.raises(MarketplaceError) as err:
        wish_client(fake, token="an-expired-one").fetch_order("o1")
    assert (err.value.kind, err.value.status) == ("http_error", 401)
    assert len(fake.calls("wish")) == 1 and sleeps == []
    assert wish_client(fake, token="the-right-one").fetch_order("o1")


def test_429_waits_until_wishs_rate_limit_resets(fake, sleeps):
    clock.freeze(datetime(2026, 1, 7, tzinfo=UTC))
    fake.put_order("wish", order("o1"))
    wish_fake.throttle(fake, count=1, reset_in=1.5)
    assert wish_client(fake).fetch_order("o1").marketplace_order_no == "o1"
    assert [c["status"] for c in fake.calls("wish")] == [429, 200] and sleeps == [1.5]

    wish_fake.throttle(fake, count=1, reset_in=60)  # longer than the base waits
    wish_client(fake).fetch_order("o1")
    assert sleeps[-1] == mc.MAX_RETRY_AFTER


def test_429_every_time_is_unavailable(fake, sleeps):
    fake.put_order("wish", order("o1"))
    wish_fake.throttle(fake, count=-1, reset_in=0.5)
    with pytest.raises(MarketplaceError) as err:
        wish_client(fake).fetch_order("o1")
    assert (err.value.kind, err.value.status) == ("unavailable", 429) and len(sleeps) == 2


def test_the_reset_header_is_read_in_each_form_wish_might_send():
    now = datetime(2026, 1, 7, tzinfo=UTC)
    assert reset_seconds("2026-01-07T00:00:03.500Z", now) == 3.5
    assert reset_seconds("2026-01-06T23:59:00Z", now) == 0.0  # already past
    assert reset_seconds("12", now) == 12.0
    assert reset_seconds(str(int(now.timestamp()) + 7), now) == 7.0  # an epoch time
    assert reset_seconds(str(int(now.timestamp() * 1000) + 2000), now) == 2.0  # epoch milliseconds
    assert reset_seconds("soon", now) is None and reset_seconds(None, now) is None
    c = WishClient("wish", "https://merchant.wish.com", TOKEN)
    assert c.retry_after({"Retry-After": "4"}) == 4.0  # without Wish's header


def test_5xx_on_a_read_is_retried_with_backoff(fake, sleeps):
    fake.put_order("wish", order("o1"))
    fake.fail("wish", "error", count=2, operation="fetch", status=503)
    assert wish_client(fake).fetch_order("o1").marketplace_order_no == "o1"
    assert [c["status"] for c in fake.calls("wish")] == [503, 503, 200] and sleeps == [0.25, 0.5]


# ---------------------------------------------------------------------- shipping
def test_fulfill_puts_the_tracking_with_wishs_provider_name_and_origin_country(fake, sleeps):
    fake.put_order("wish", order("o1"))

    wish_client(fake).fulfill_order("o1", "japan_post", "AB123456789JP")

    [put] = fake.calls("wish")  # one call: the PUT
    assert (put["method"], put["path"], put["operation"]) == ("PUT", "/api/v3/orders/o1/tracking", "tracking")
    assert put["body"] == {
        "tracking_number": "AB123456789JP",
        "shipping_provider": "JapanPost",
        "origin_country": "JP",
    }
    assert [(f["order_no"], f["carrier"], f["tracking_number"]) for f in fake.fulfillments("wish")] == [
        ("o1", "JapanPost", "AB123456789JP")
    ]
    shipped = wish_client(fake).fetch_order("o1")
    assert shipped.awaiting_shipment is False and shipped.cancelled_at is None and sleeps == []


def test_the_origin_country_is_the_shipments_else_the_integrations_setting(fake):
    fake.put_order("wish", order("o1"))
    fake.put_order("wish", order("o2"))
    c = wish_client(fake, settings={"origin_country": "cn"})
    c.fulfill_order("o1", "dhl", "JD0001")
    c.fulfill_order("o2", "dhl", "JD0002", origin_country="kr")
    assert [p["body"]["origin_country"] for p in puts(fake)] == ["CN", "KR"]


def test_the_shipments_note_goes_to_wish_as_ship_note_with_its_origin(fake, sleeps):
    """UpdateTracking {tracking_number, shipping_provider, origin_country, ship_note} (spec 3.0.65)."""
    fake.put_order("wish", order("o1"))

    wish_client(fake).fulfill_order("o1", "dhl", "JD0001", origin_country="cn", note="  2 boxes, Shenzhen  ")

    [put] = puts(fake)
    assert put["body"] == {
        "tracking_number": "JD0001",
        "shipping_provider": "DHL",
        "origin_country": "CN",
        "ship_note": "2 boxes, Shenzhen",
    }
    [sent] = fake.fulfillments("wish")
    assert (sent["origin_country"], sent["ship_note"]) == ("CN", "2 boxes, Shenzhen")
    [shown] = fake.get_order("wish", "o1")["tracking_information"]
    assert (shown["origin_country"], shown["ship_note"]) == ("CN", "2 boxes, Shenzhen") and sleeps == []


@pytest.mark.parametrize("note", [None, "", "   "])
def test_no_note_sends_no_ship_note_wish_takes_none_empty(fake, note):
    fake.put_order("wish", order("o1"))
    wish_client(fake).fulfill_order("o1", "dhl", "JD0001", note=note)
    assert "ship_note" not in puts(fake)[0]["body"]
    assert fake.fulfillments("wish")[0]["ship_note"] is None


def test_wishs_note_limit_is_orderhubs_so_the_api_refuses_first_and_the_client_only_guards(fake):
    """orderhub's API refuses a note over actions.MAX_NOTE_CHARS (400, field note) before anything
    is stored, so a note Wish would refuse never reaches the client; the cut is a guard only."""
    assert (
        actions.MAX_NOTE_CHARS
        <= wish_client_module.SHIP_NOTE_MAX_CHARS
        == wish_fake.SHIP_NOTE_MAX_CHARS
        == 500
    )
    fake.put_order("wish", order("o1"))
    wish_client(fake).fulfill_order("o1", "dhl", "JD0001", note="x" * 600)
    assert puts(fake)[0]["body"]["ship_note"] == "x" * 500


@pytest.mark.parametrize("ship_note", ["", "y" * 501, 7])
def test_the_fake_refuses_a_ship_note_wish_would_refuse(fake, ship_note):
    fake.put_order("wish", order("o1"))
    body = {
        "tracking_number": "JD0001",
        "shipping_provider": "DHL",
        "origin_country": "JP",
        "ship_note": ship_note,
    }
    with pytest.raises(MarketplaceError) as err:
        wish_client(fake).request("PUT", "/api/v3/orders/o1/tracking", body=body)
    assert err.value.status == 400 and "ship_note" in err.value.message
    assert fake.fulfillments("wish") == [] and fake.get_order("wish", "o1")["state"] == "APPROVED"


def test_a_change_of_the_note_or_origin_alone_is_sent_with_the_same_number(fake, sleeps):
    fake.put_order("wish", order("o1"))
    c = wish_client(fake)
    c.fulfill_order("o1", "dhl", "JD0001", origin_country="JP", note="first")

    c.update_tracking("o1", "dhl", "JD0001", origin_country="JP", note="second")
    c.update_tracking("o1", "dhl", "JD0001", origin_country="CN", note="second")

    assert [(p["body"]["origin_country"], p["body"]["ship_note"]) for p in puts(fake)] == [
        ("JP", "first"),
        ("JP", "second"),
        ("CN", "second"),
    ]
    changes = [
        (t["tracking_number"], t["origin_country"], t["ship_note"]) for t in fake.tracking_updates("wish")
    ]
    assert changes == [("JD0001", "JP", "second"), ("JD0001", "CN", "second")]
    [shown] = fake.get_order("wish", "o1")["tracking_information"]  # the same parcel: one set
    assert (shown["origin_country"], shown["ship_note"]) == ("CN", "second")

    before = len(fake.calls("wish"))
    c.update_tracking("o1", "dhl", "JD0001", origin_country="CN", note="second")  # already so
    c.update_tracking("o1", "dhl", "JD0001", origin_country="CN")  # a cleared note: Wish takes none
    assert [x["method"] for x in fake.calls("wish")[before:]] == ["GET", "GET"] and sleeps == []


def test_the_tracking_number_goes_to_wish_without_separators(fake):
    fake.put_order("wish", order("o1"))
    wish_client(fake).fulfill_order("o1", "yamato", "4444-5555 6666")
    assert puts(fake)[0]["body"]["tracking_number"] == "444455556666"
    assert [f["tracking_number"] for f in fake.fulfillments("wish")] == ["444455556666"]


def test_update_tracking_changes_it_once_and_not_again_when_wish_shows_it(fake, sleeps):
    fake.put_order("wish", order("o1"))
    c = wish_client(fake)
    c.fulfill_order("o1", "japan_post", "AB123456789JP")

    c.update_tracking("o1", "yamato", "444455556666")

    [update] = fake.tracking_updates("wish")
    assert (update["carrier"], update["tracking_number"]) == ("YamatoTransport", "444455556666")
    shown = fake.get_order("wish", "o1")["tracking_information"]
    assert [t["tracking_number"] for t in shown] == ["444455556666", "AB123456789JP"]  # newest first
    assert len(fake.fulfillments("wish")) == 1

    before = len(fake.calls("wish"))
    c.update_tracking("o1", "yamato", "444455556666")  # already so: read, nothing sent
    assert [x["method"] for x in fake.calls("wish")[before:]] == ["GET"]
    assert len(fake.tracking_updates("wish")) == 1 and sleeps == []


def test_a_put_whose_answer_is_lost_is_read_back_and_not_sent_again(fake, sleeps):
    fake.put_order("wish", order("o1"))
    wish_fake.lose_answers(fake, count=1, delay=1.0)

    wish_client(fake, timeout=0.15).fulfill_order("o1", "sagawa", "400000000001")

    assert [(x["method"], x["operation"]) for x in fake.calls("wish")] == [
        ("PUT", "tracking"),
        ("GET", "fetch"),
    ]
    assert [f["carrier"] for f in fake.fulfillments("wish")] == ["SagawaExpress"] and sleeps == []


def test_a_put_that_timed_out_before_wish_applied_it_is_sent_again_after_the_read(fake, sleeps):
    fake.put_order("wish", order("o1"))
    fake.fail("wish", "timeout", count=1, operation="tracking", delay=1.0)

    wish_client(fake, timeout=0.15).fulfill_order("o1", "ups", "1Z999AA10123456784")

    assert [x["method"] for x in fake.calls("wish")] == ["PUT", "GET", "PUT"]
    assert len(fake.fulfillments("wish")) == 1 and sleeps == [0.25]


def test_a_put_that_timed_out_is_not_sent_again_when_the_order_cannot_be_read(fake, sleeps):
    fake.put_order("wish", order("o1"))
    fake.fail("wish", "timeout", count=1, operation="tracking", delay=1.0)
    wish_fake.answer_code(fake, 5000, "internal error", status=200)  # the read after it fails

    with pytest.raises(MarketplaceError) as err:
        wish_client(fake, timeout=0.15).fulfill_order("o1", "ups", "1Z999AA10123456784")

    assert err.value.kind == "timeout"
    assert len(puts(fake)) == 1 and fake.fulfillments("wish") == [] and sleeps == []


def test_a_refusal_of_a_change_wish_already_shows_counts_as_done(fake, sleeps):
    shipped = {"tracking_number": "JD0001", "shipping_provider": {"name": "DHL"}, "origin_country": "JP"}
    fake.put_order("wish", order("o1", state="SHIPPED", tracking_information=[shipped]))
    wish_fake.answer_code(fake, 1000, "The order has already been shipped", status=400)
    wish_client(fake).fulfill_order("o1", "dhl", "JD0001")
    assert [x["method"] for x in fake.calls("wish")] == ["PUT", "GET"] and sleeps == []

    wish_fake.answer_code(fake, 1000, "The order has already been shipped", status=400)
    with pytest.raises(MarketplaceError) as err:  # another tracking: the refusal stands, not resent
        wish_client(fake).fulfill_order("o1", "dhl", "JD0002")
    assert (err.value.kind, err.value.status) == ("http_error", 400) and len(puts(fake)) == 2


@pytest.mark.parametrize("failure", ["timeout", "refusal"])
def test_a_tracking_update_wish_shows_under_way_counts_only_after_a_timeout(fake, sleeps, failure):
    """Wish applies PUTs asynchronously (processing_source / processing_status)."""
    busy = {"processing_source": "UPDATE_TRACKING", "processing_status": "IN_PROGRESS"}
    fake.put_order("wish", order("o1", **busy))
    if failure == "timeout":
        # the read-back after the timeout must not time out too on a busy machine (it took 357 ms once)
        fake.fail("wish", "timeout", count=1, operation="tracking", delay=3.0)
        wish_client(fake, timeout=0.6).fulfill_order("o1", "usps", "9400111899223847182933")
    else:
        wish_fake.answer_code(fake, 1000, "The order is being updated", status=400)
        with pytest.raises(MarketplaceError) as err:
            wish_client(fake, timeout=0.15).fulfill_order("o1", "usps", "9400111899223847182933")
        assert err.value.status == 400
    assert [x["method"] for x in fake.calls("wish")] == ["PUT", "GET"] and sleeps == []


def test_a_429_on_a_put_is_sent_again_after_the_wait_without_a_read(fake, sleeps):
    clock.freeze(datetime(2026, 1, 7, tzinfo=UTC))
    fake.put_order("wish", order("o1"))
    wish_fake.throttle(fake, count=1, reset_in=1.0)
    wish_client(fake).fulfill_order("o1", "fedex", "7777")
    assert [(x["method"], x["status"]) for x in fake.calls("wish")] == [("PUT", 429), ("PUT", 200)]
    assert sleeps == [1.0]


def test_shipping_a_refunded_order_is_refused(fake, sleeps):
    fake.put_order("wish", order("o1", state="REFUNDED"))
    with pytest.raises(MarketplaceError) as err:
        wish_client(fake).fulfill_order("o1", "dhl", "JD0001")
    assert (err.value.kind, err.value.status) == ("http_error", 400)
    assert len(puts(fake)) == 1 and sleeps == []


# ---------------------------------------------------------------------- cancel = refund
def test_cancel_refunds_with_a_reason_wish_offers_now(fake, sleeps):
    fake.put_order("wish", order("o1"))

    wish_client(fake).cancel_order("o1", "out of stock at the warehouse")

    calls = [(x["method"], x["path"]) for x in fake.calls("wish")]
    assert calls == [
        ("GET", "/api/v3/orders/o1"),
        ("GET", "/api/v3/orders/o1/refund_reasons"),
        ("PUT", "/api/v3/orders/o1/refund"),
    ]
    assert puts(fake)[0]["body"] == {
        "refund_reason": "UNABLE_TO_SHIP",
        "refund_reason_note": "out of stock at the warehouse",
    }
    assert [(c["order_no"], c["reason"]) for c in fake.cancels("wish")] == [("o1", "UNABLE_TO_SHIP")]
    change = wish_client(fake).fetch_order("o1")
    assert change.refunded is True and change.cancelled_at is not None and sleeps == []


def test_cancel_takes_the_next_preferred_reason_and_sends_no_empty_note(fake):
    fake.put_order("wish", order("o1"))
    wish_fake.offer_refund_reasons(fake, "o1", ["ITEM_IS_DAMAGED", "MERCHANT_OUT_OF_STOCK"])
    wish_client(fake).cancel_order("o1", "")
    assert puts(fake)[0]["body"] == {"refund_reason": "MERCHANT_OUT_OF_STOCK"}


def test_cancel_when_wish_offers_no_reason_orderhub_sends_is_refused_before_any_put(fake):
    fake.put_order("wish", order("o1", state="SHIPPED"))
    with pytest.raises(MarketplaceError) as err:
        wish_client(fake).cancel_order("o1", "")
    assert err.value.kind == "http_error" and "ITEM_RETURNED_TO_SENDER" in err.value.message
    assert puts(fake) == [] and fake.get_order("wish", "o1")["state"] == "SHIPPED"


@pytest.mark.parametrize("state", ["REFUNDED", "DECLINED"])
def test_cancel_of_an_order_wish_already_closed_sends_nothing(fake, state):
    fake.put_order("wish", order("o1", state=state))
    wish_client(fake).cancel_order("o1", "again")
    assert [x["method"] for x in fake.calls("wish")] == ["GET"] and fake.cancels("wish") == []


def test_a_refund_whose_answer_is_lost_is_read_back_and_not_sent_again(fake, sleeps):
    fake.put_order("wish", order("o1"))
    wish_fake.lose_answers(fake, count=1, delay=1.0)
    wish_client(fake, timeout=0.15).cancel_order("o1", "")
    assert len(puts(fake)) == 1 and len(fake.cancels("wish")) == 1 and sleeps == []
    assert fake.get_order("wish", "o1")["state"] == "REFUNDED"


# ---------------------------------------------------------------------- carriers
WISH_NAMES = [
    ("japan_post", "JapanPost"),
    ("yamato", "YamatoTransport"),
    ("sagawa", "SagawaExpress"),
    ("ups", "UPS"),
    ("fedex", "FedEx"),
    ("dhl", "DHL"),
    ("usps", "USPS"),
    ("other", "Other"),
]


def test_every_orderhub_carrier_code_has_a_wish_provider_name():
    assert dict(WISH_NAMES) == carriers.WISH_SHIPPING_PROVIDERS
    assert set(carriers.WISH_SHIPPING_PROVIDERS) == set(mc.CARRIER_CODES)


@pytest.mark.parametrize(
    ("code", "name"), [*WISH_NAMES, ("YAMATO", "YamatoTransport"), ("PostNL", "PostNL"), ("", "")]
)
def test_the_client_names_the_carrier_as_wish_does(code, name):
    assert WishClient("wish", "https://merchant.wish.com", TOKEN).carrier_name(code) == name


def test_the_fakes_carrier_list_holds_every_name_orderhub_sends(fake):
    status, parsed = wish_client(fake).request("GET", "/api/v3/orders/shipping_carriers")
    listed = {c["name"] for c in parsed["data"]}
    assert status == 200 and set(carriers.WISH_SHIPPING_PROVIDERS.values()) <= listed
    assert carriers.same_provider("Japan Post", "JapanPost") and not carriers.same_provider("UPS", "USPS")


# ---------------------------------------------------------------------- mapping what the pull reads
def test_a_re_release_after_shipping_maps_to_an_order_awaiting_shipment_again(fake):
    shipped = {"tracking_number": "AB123456789JP", "shipping_provider": {"name": "JapanPost"}}
    fake.put_order("wish", order("o1", updated=10, state="SHIPPED", tracking_information=[shipped]))
    c = wish_client(fake)
    [first], _ = c.list_changed(T0, None, 10)
    before = c.to_change(first)
    assert before.awaiting_shipment is False

    records = [
        {"event_type": "ORDER_RELEASED", "event_time": at(0)},
        {"event_type": "MARK_SHIPPED", "event_time": at(5)},
        {"event_type": "TRACKING_CANCELLED", "event_time": at(50)},
        {"event_type": "ORDER_RE_RELEASED", "event_time": at(60)},
    ]
    fake.update_order(
        "wish", "o1", state="APPROVED", released_at=at(60), updated_at=at(60), fulfillment_records=records
    )
    [again], _ = c.list_changed(T0 + timedelta(minutes=30), None, 10)
    after = c.to_change(again)

    assert (after.topic, after.awaiting_shipment, after.cancelled_at, after.refunded) == (
        "updated",
        True,
        None,
        False,
    )
    assert after.payment.paid_at == T0 + timedelta(minutes=60)
    held = {
        "tracking": {"number": "AB123456789JP"},
        "payment": {"paid_at": clock.iso(before.payment.paid_at)},
    }
    assert ingest.released_again(held, after)  # the domain re-releases it (seed 004)


def test_a_re_release_after_a_refund_is_open_again_whatever_the_past_refunds(fake):
    refund = {"refund_time": at(20), "refund_reason": "UNABLE_TO_SHIP", "refund_source": "MERCHANT"}
    refunded = order("o1", updated=20, state="REFUNDED", refunds=[refund])
    assert wish_client(fake).to_change(refunded).cancelled_at == T0 + timedelta(minutes=20)

    again = order("o1", updated=40, released=40, state="APPROVED", refunds=[refund])
    change = wish_client(fake).to_change(again)
    assert (change.cancelled_at, change.refunded, change.awaiting_shipment) == (None, False, True)


def test_a_pulled_order_that_does_not_map_names_wishs_field(fake):
    broken = order("o1")
    del broken["full_address"]["shipping_detail"]["country_code"]
    with pytest.raises(MalformedPayload) as err:
        wish_client(fake).to_change(broken)
    assert err.value.field == "full_address.shipping_detail.country_code"


def test_the_registry_gives_wish_this_client():
    assert registry.client_class("wish") is WishClient
    assert WishClient.pull_mode == "updated_since" and hasattr(WishClient, "list_changed")
