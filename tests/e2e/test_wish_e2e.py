"""Wish through the pull on the local cloud (docs/pull.md, docs/connectors.md): the demo merchant's
Wish integration points at the fake's Wish Merchant API v3 (orderhub.marketplaces.wish.fake), the
scheduled PullFunction reads `GET /api/v3/orders?updated_at_min=...` into the ingest path, and the
merchant's own actions reach Wish in its protocol.

What a merchant would notice: Wish orders (v3 `Order` objects) arrive with their number, SKU,
recipient and no payment hold (Wish clears the payment before it releases an order); an address
change and a refund made at Wish arrive on a later run; a refund after the merchant shipped closes
the order; an order Wish releases again after shipping (the carrier cancelled the tracking: SHIPPED
then APPROVED with a later `released_at`, docs/fulfillment.md "Re-release") goes back to
unfulfilled and can be shipped again; fulfill, tracking change and cancel (with
reflect_cancel_to_marketplace on, as seeded) reach Wish as `PUT /tracking` with Wish's provider
names and `PUT /refund` with a reason Wish offers; a Wish list answering 503 shows as a failing
pull, which recovers. Wish's order object carries no buyer cancel request or return claim (a
return arrives as a refund), so there is no claim to hold on. Wish's own webhooks are in
test_ingestion_e2e.py.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from orderhub.kernel import clock
from orderhub.marketplaces import client as marketplace_client
from tests.unit.test_wish_connector import order as wish_order_object

pytestmark = [pytest.mark.e2e, pytest.mark.slowest(17), pytest.mark.usefixtures("fake")]

MARKETPLACE = "wish"
_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def pull_on(api):
    put = api.call("PUT", f"/integrations/{MARKETPLACE}", {"pull": True, "pull_backfill_days": 1})
    assert put.status == 200, put


def stamp(minutes_ago: float = 0) -> str:
    """Wish's time format (to the millisecond, Z), `minutes_ago` before now."""
    return clock.iso(datetime.now(UTC) - timedelta(minutes=minutes_ago))


def new_id() -> str:
    """A Wish order id (24 hex digits), unique in this module."""
    return f"65e2e{next(_ids):019x}"


def wish_order(oid: str, *, released_ago: float = 0, updated_ago: float = 0, **extra) -> dict:
    """A v3 Order the fake serves: the unit tests' builder, with times relative to now (the pull
    reads from its cursor less 5 minutes: an order changed now is always read)."""
    released = stamp(released_ago)
    times = {
        "released_at": released,
        "updated_at": stamp(updated_ago),
        "fulfillment_records": [{"event_type": "ORDER_RELEASED", "event_time": released}],
    }
    return wish_order_object(oid, **{**times, **extra})


def pull(cloud) -> dict:
    result = cloud.fire("PullFunction")
    assert result["failed"] == 0, result
    cloud.drain(timeout=10)
    return result


def found(api, oid: str) -> dict:
    """The order orderhub holds for a Wish order id, with its history."""
    [listed] = api.get(f"/orders?q={oid}&include_deleted=true").json["orders"]
    assert (listed["marketplace"], listed["marketplace_order_no"]) == (MARKETPLACE, oid)
    return api.get(f"/orders/{listed['order_id']}").json


def actions(order: dict) -> list[str]:
    return [h["action"] for h in order["history"]]


def pulled(api, cloud, fake, *orders: dict) -> list[dict]:
    """Put orders at the fake Wish, run the pull, and return them as orderhub holds them."""
    for o in orders:
        fake.put_order(MARKETPLACE, o)
    assert pull(cloud)["queued"] == len(orders)
    return [found(api, o["id"]) for o in orders]


# ---------------------------------------------------------------------- orders in
def test_wish_orders_arrive_through_the_pull_released_at_once(api, cloud, fake):
    status = api.get(f"/integrations/{MARKETPLACE}").json
    assert status["pull"] is True and status["pull_status"]["state"] == "waiting"
    mug, cup, old = new_id(), new_id(), new_id()
    fake.put_order(MARKETPLACE, wish_order(mug, released_ago=40, updated_ago=3))
    address = {
        "name": "Jane Doe",
        "street_address1": "123 Main St",
        "street_address2": "Apt 4B",
        "street_address3": "Rear door",
        "city": "Springfield",
        "state": "IL",
        "zipcode": "62701",
        "country_code": "us",
        "phone_number": "+1 217 555 0123",
    }
    product = {
        "id": "6f01",
        "variation_id": "6f02",
        "sku": "CUP-ARITA-01",
        "name": "Tea cup",
        "color": "Indigo",
    }
    fake.put_order(
        MARKETPLACE,
        wish_order(
            cup,
            released_ago=20,
            updated_ago=2,
            full_address={"shipping_detail": address},
            product_information=product,
        ),
    )
    fake.put_order(MARKETPLACE, wish_order(old, released_ago=3 * 24 * 60, updated_ago=3 * 24 * 60))

    first = cloud.fire("PullFunction")
    assert (first["integrations"], first["queued"], first["failed"]) == (1, 2, 0), first
    cloud.drain(timeout=10)

    # Wish was asked in its own protocol: changes since the back-fill window, oldest first
    [listing] = [c for c in fake.calls(MARKETPLACE) if c["operation"] == "list"]
    assert listing["path"] == "/api/v3/orders" and listing["query"]["sort_by"] == "updated_at.asc"
    since = clock.parse_iso(listing["query"]["updated_at_min"])
    assert timedelta(hours=23) < datetime.now(UTC) - since < timedelta(hours=25)
    assert listing["headers"]["authorization"].startswith("Bearer tok_")

    m = found(api, mug)
    assert (m["origin"], m["status"], m["shipment_stage"]) == ("api", "new", "none")
    [item] = m["items"]
    assert (item["sku"], item["title"], item["quantity"]) == (
        "MUG-KUTANI-BLUE",
        "Kutani porcelain mug (Blue / M)",
        3,
    )
    assert float(item["price"]) == 18.5
    assert (m["currency"], float(m["total"])) == ("USD", 47.25)
    assert m["recipient"]["name"] == "Alex Kim" and m["recipient"]["postal_code"] == "94105"
    assert (m["recipient"]["country"], m["recipient"]["phone"]) == ("US", "+1 4155550100")
    # no payment hold: Wish releases an order once its payment cleared
    assert m["payment"]["method"] == "marketplace"
    assert m["released_at"] and m["deadline_at"] and m["days_remaining"] == 5
    assert m["placed_at"] == m["payment"]["paid_at"]
    assert clock.parse_iso(m["payment"]["paid_at"]) < datetime.now(UTC) - timedelta(minutes=39)

    c = found(api, cup)
    assert [i["sku"] for i in c["items"]] == ["CUP-ARITA-01"] and c["items"][0]["title"] == "Tea cup (Indigo)"
    assert c["recipient"]["address2"] == "Apt 4B, Rear door" and c["recipient"]["country"] == "US"
    assert (c["recipient"]["region"], c["recipient"]["phone"]) == ("IL", "+1 217 555 0123")
    assert api.get(f"/orders?q={old}&include_deleted=true").json["orders"] == []  # before the window

    status = api.get(f"/integrations/{MARKETPLACE}").json["pull_status"]
    assert status["state"] == "ok" and status["failures"] == 0
    assert status["cursor"] == fake.get_order(MARKETPLACE, cup)["updated_at"]

    # nothing new: one call to Wish, nothing queued or written again
    calls, before = len(fake.calls(MARKETPLACE)), cloud.table_items()
    quiet = pull(cloud)
    assert (quiet["queued"], quiet["already_queued"]) == (0, 2), quiet  # the overlap reads both
    assert len(fake.calls(MARKETPLACE)) == calls + 1
    assert cloud.table_items() == before


def test_an_address_change_and_a_refund_at_wish_arrive_on_a_later_run(api, cloud, fake):
    moved_id, refunded_id = new_id(), new_id()
    moved, refunded = pulled(api, cloud, fake, wish_order(moved_id), wish_order(refunded_id))
    assert moved["status"] == refunded["status"] == "new"

    order = fake.get_order(MARKETPLACE, moved_id)
    detail = {
        **order["full_address"]["shipping_detail"],
        "street_address1": "1 Ferry Building",
        "zipcode": "94111",
    }
    fake.update_order(MARKETPLACE, moved_id, full_address={"shipping_detail": detail}, updated_at=stamp())
    refund = {"refund_time": stamp(), "refund_reason": "CUSTOMER_CANCELLED", "refund_source": "CUSTOMER"}
    fake.update_order(MARKETPLACE, refunded_id, state="REFUNDED", refunds=[refund], updated_at=stamp())
    assert pull(cloud)["queued"] == 2

    moved = found(api, moved_id)
    assert (moved["recipient"]["address1"], moved["recipient"]["postal_code"]) == (
        "1 Ferry Building",
        "94111",
    )
    assert moved["status"] == "new" and actions(moved)[-1] == "updated"
    refunded = found(api, refunded_id)
    assert refunded["status"] == "cancelled" and refunded["cancel_reason"] == "marketplace_cancelled"
    assert refunded["cancelled_at"] == refund["refund_time"]
    assert actions(refunded)[-1] == "cancelled"
    assert fake.cancels(MARKETPLACE) == []  # Wish's own refund is not sent back to Wish


# ---------------------------------------------------------------------- the merchant's actions out
def test_fulfill_tracking_change_and_cancel_reach_wish_in_its_protocol(api, cloud, fake):
    shipped_id, cancelled_id = new_id(), new_id()
    shipped, cancelled = pulled(api, cloud, fake, wish_order(shipped_id), wish_order(cancelled_id))

    def told(what):
        return cloud.metrics("ReflectSucceeded", marketplace=MARKETPLACE, what=what)

    before = {w: told(w) for w in ("fulfillment", "tracking", "cancel")}
    body = {"carrier": "japan_post", "tracking_number": "ej 123-456-789 jp", "origin_country": "cn"}
    resp = api.call("POST", f"/orders/{shipped['order_id']}/fulfill", body)
    assert resp.status == 200, resp
    assert resp.json["status"] == "shipped" and resp.json["tags"] == []
    [sent] = fake.fulfillments(MARKETPLACE)
    assert (sent["order_no"], sent["carrier"], sent["tracking_number"]) == (
        shipped_id,
        "JapanPost",
        "EJ123456789JP",
    )
    [put] = [c for c in fake.calls(MARKETPLACE) if c["method"] == "PUT"]
    assert put["path"] == f"/api/v3/orders/{shipped_id}/tracking" and put["body"]["origin_country"] == "CN"
    assert fake.get_order(MARKETPLACE, shipped_id)["state"] == "SHIPPED"
    assert actions(found(api, shipped_id))[-1] == "fulfillment_reflected"

    change = {"carrier": "yamato", "tracking_number": "1111-2222-3333"}
    resp = api.call("PUT", f"/orders/{shipped['order_id']}/tracking", change)
    assert resp.status == 200, resp
    assert resp.json["tracking"]["tracking_number"] == "111122223333" and resp.json["tags"] == []
    [moved] = fake.tracking_updates(MARKETPLACE)
    assert (moved["order_no"], moved["carrier"], moved["tracking_number"]) == (
        shipped_id,
        "YamatoTransport",
        "111122223333",
    )
    assert len(fake.fulfillments(MARKETPLACE)) == 1
    # counted by what was told: the tracking change as such, as a failure and a retry name it
    assert (told("fulfillment"), told("tracking")) == (before["fulfillment"] + 1, before["tracking"] + 1)

    resp = api.call("POST", f"/orders/{cancelled['order_id']}/cancel", {"reason": "out of stock"})
    assert resp.status == 200, resp
    assert resp.json["status"] == "cancelled" and resp.json["tags"] == []
    [refund] = fake.cancels(MARKETPLACE)
    assert (refund["order_no"], refund["reason"], refund["note"]) == (
        cancelled_id,
        "UNABLE_TO_SHIP",
        "out of stock",
    )
    assert fake.get_order(MARKETPLACE, cancelled_id)["state"] == "REFUNDED"
    assert [(h["actor"], h["action"]) for h in found(api, cancelled_id)["history"]][-2:] == [
        ("merchant", "cancelled"),
        ("system", "reflected"),
    ]

    # the next run reads both back from Wish (SHIPPED, REFUNDED): what the merchant did stands
    pull(cloud)
    again = found(api, shipped_id)
    assert again["status"] == "shipped" and again["tracking"]["tracking_number"] == "111122223333"
    assert again["tracking"]["carrier"] == "yamato"
    assert found(api, cancelled_id)["status"] == "cancelled"
    assert len(fake.fulfillments(MARKETPLACE)) == 1 and len(fake.cancels(MARKETPLACE)) == 1


def test_the_shipments_origin_country_and_note_reach_wish(api, cloud, fake):
    """POST /orders/{id}/fulfill with origin_country and note: Wish receives them as
    `origin_country` and `ship_note` on PUT /tracking; a change of the note alone is sent with the
    same number; a note over orderhub's 500 characters (Wish's own limit) is refused with 400
    naming the field before anything is stored or sent."""
    oid = new_id()
    [order] = pulled(api, cloud, fake, wish_order(oid))
    path = f"/orders/{order['order_id']}"

    too_long = {"carrier": "dhl", "tracking_number": "1234567890", "note": "x" * 501}
    refused = api.call("POST", f"{path}/fulfill", too_long)
    assert refused.status == 400 and refused.json["error"]["field"] == "note", refused
    assert api.get(path).json["tracking"] is None and not [
        c for c in fake.calls(MARKETPLACE) if c["method"] == "PUT"
    ]

    body = {
        "carrier": "dhl",
        "tracking_number": "1234567890",
        "origin_country": "cn",
        "note": "2 boxes, Shenzhen",
    }
    resp = api.call("POST", f"{path}/fulfill", body)
    assert resp.status == 200 and resp.json["tags"] == [], resp
    [sent] = fake.fulfillments(MARKETPLACE)
    assert (sent["order_no"], sent["tracking_number"], sent["origin_country"], sent["ship_note"]) == (
        oid,
        "1234567890",
        "CN",
        "2 boxes, Shenzhen",
    )
    [shown] = fake.get_order(MARKETPLACE, oid)["tracking_information"]
    assert (shown["origin_country"], shown["ship_note"]) == ("CN", "2 boxes, Shenzhen")

    resp = api.call("PUT", f"{path}/tracking", {**body, "note": "3 boxes, Shenzhen"})
    assert resp.status == 200 and resp.json["tags"] == [], resp
    [changed] = fake.tracking_updates(MARKETPLACE)
    assert (changed["tracking_number"], changed["origin_country"], changed["ship_note"]) == (
        "1234567890",
        "CN",
        "3 boxes, Shenzhen",
    )
    assert actions(found(api, oid))[-2:] == ["tracking_changed", "fulfillment_reflected"]


def test_a_refund_at_wish_after_the_merchant_shipped_closes_the_order(api, cloud, fake):
    oid = new_id()
    [order] = pulled(api, cloud, fake, wish_order(oid))
    body = {"carrier": "dhl", "tracking_number": "1234567890"}
    assert api.call("POST", f"/orders/{order['order_id']}/fulfill", body).status == 200
    assert fake.fulfillments(MARKETPLACE)[0]["carrier"] == "DHL"

    refund = {"refund_time": stamp(), "refund_reason": "ITEM_IS_DAMAGED", "refund_source": "CUSTOMER"}
    fake.update_order(MARKETPLACE, oid, state="REFUNDED", refunds=[refund], updated_at=stamp())
    pull(cloud)
    closed = found(api, oid)
    assert closed["status"] == "closed" and actions(closed)[-1] == "closed"
    assert closed["tracking"]["tracking_number"] == "1234567890"


# ---------------------------------------------------------------------- Wish's re-release
def test_an_order_wish_releases_again_after_shipping_is_unfulfilled_again(api, cloud, fake):
    oid = new_id()
    [order] = pulled(api, cloud, fake, wish_order(oid, released_ago=120, updated_ago=1))
    first_release = order["released_at"]
    body = {"carrier": "japan_post", "tracking_number": "EJ987654321JP"}
    assert api.call("POST", f"/orders/{order['order_id']}/fulfill", body).status == 200
    assert fake.get_order(MARKETPLACE, oid)["state"] == "SHIPPED"

    # Wish still showing the order APPROVED with the release already recorded is no re-release
    fake.update_order(MARKETPLACE, oid, state="APPROVED", updated_at=stamp())
    assert pull(cloud)["queued"] == 1
    held = found(api, oid)
    assert held["status"] == "shipped" and held["tracking"]["tracking_number"] == "EJ987654321JP"
    assert "rereleased" not in actions(held)

    # WishPost cancels the tracking and Wish releases the order again: APPROVED, a later released_at
    released = stamp()
    records = fake.get_order(MARKETPLACE, oid)["fulfillment_records"] + [
        {"event_type": "TRACKING_CANCELLED", "event_time": released},
        {"event_type": "ORDER_RE_RELEASED", "event_time": released},
    ]
    fake.update_order(
        MARKETPLACE,
        oid,
        state="APPROVED",
        released_at=released,
        updated_at=released,
        fulfillment_records=records,
    )
    assert pull(cloud)["queued"] == 1

    again = found(api, oid)
    assert (again["status"], again["shipment_stage"], again["tracking"]) == ("processing", "none", None)
    assert again["previous_tracking"][0]["tracking_number"] == "EJ987654321JP"
    assert actions(again)[-1] == "rereleased"
    assert again["released_at"] > first_release and again["days_remaining"] == 5 and again["deadline_at"]
    assert again["payment"]["paid_at"] == released
    assert api.get("/tracking/EJ987654321JP").json["orders"] == []  # the number is free again

    # a quiet run changes nothing; the merchant ships it again and Wish gets a new shipment
    assert pull(cloud)["queued"] == 0
    assert found(api, oid)["status"] == "processing"
    body = {"carrier": "japan_post", "tracking_number": "EJ555666777JP"}
    resp = api.call("POST", f"/orders/{order['order_id']}/fulfill", body)
    assert resp.status == 200 and resp.json["status"] == "shipped" and resp.json["tags"] == [], resp
    assert [f["tracking_number"] for f in fake.fulfillments(MARKETPLACE)] == [
        "EJ987654321JP",
        "EJ555666777JP",
    ]
    assert fake.get_order(MARKETPLACE, oid)["state"] == "SHIPPED"


# ---------------------------------------------------------------------- a failing Wish
def test_wish_answering_503_on_the_list_shows_a_failing_pull_that_recovers(api, cloud, fake, monkeypatch):
    # the run's handler runs in this process: its backoff pauses are skipped
    # (tests/e2e/test_pull_e2e.py waits them out for real)
    monkeypatch.setattr(marketplace_client, "sleep", lambda seconds: None)
    fake.fail(MARKETPLACE, "error", count=-1, status=503, operation="list")
    for _ in range(3):
        assert cloud.fire("PullFunction")["failed"] == 1
    status = api.get(f"/integrations/{MARKETPLACE}").json["pull_status"]
    assert status["state"] == "failing" and status["failures"] == 3
    assert status["last_error"]["kind"] == "unavailable" and status["last_error"]["status"] == 503
    assert {c["status"] for c in fake.calls(MARKETPLACE)} == {503}

    fake.reset()
    oid = new_id()
    fake.put_order(MARKETPLACE, wish_order(oid))
    assert pull(cloud)["queued"] == 1
    assert found(api, oid)["status"] == "new"
    status = api.get(f"/integrations/{MARKETPLACE}").json["pull_status"]
    assert status["state"] == "ok" and status["failures"] == 0
