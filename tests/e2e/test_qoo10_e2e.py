"""Qoo10 on the local cloud, end to end: the merchant turns pull on and orderhub sweeps the fake's
Qoo10 QAPI (GetClaimInfo_V3 and GetShippingInfo_v3 over Japan-day windows, a claimed order read
whole with GetShippingAndClaimInfoByOrderNo_V2). Orders made at the fake in Qoo10's own row
format arrive with their OrderNo, SKU, recipient and payment hold; a payment, a buyer's cancel
request and a settled cancel at Qoo10 reach the order on a later run (an undated address change
waits for a refresh); the merchant's fulfill, tracking change and cancel reach Qoo10 as
SetSendingInfo (Qoo10's carrier names) and SetCancelProcess; a Qoo10 answering 503 to its
searches shows as a failing pull that recovers."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from orderhub.marketplaces import client as marketplace_client
from orderhub.marketplaces.qoo10 import orders as qorders
from tests.unit.test_qoo10_connector import form_of, row

pytestmark = [pytest.mark.e2e, pytest.mark.slowest(14), pytest.mark.usefixtures("fake")]
MARKETPLACE = "qoo10"
_numbers = itertools.count(1062428001)


@pytest.fixture(autouse=True)
def pulling(api):
    put = api.call("PUT", f"/integrations/{MARKETPLACE}", {"pull": True, "pull_backfill_days": 1})
    assert put.status == 200, put
    yield
    off = {"pull": False, "reflect_cancel_to_marketplace": False}
    assert api.call("PUT", f"/integrations/{MARKETPLACE}", off).status == 200


def jst(minutes_ago: float = 0) -> str:
    """A moment as Qoo10 writes it (Japan time, no offset): "2026/11/27 10:00:00"."""
    return qorders.jst_text(datetime.now(UTC) - timedelta(minutes=minutes_ago))


def later(seconds: int) -> str:
    """A Qoo10 date a few seconds ahead: after the date the fake wrote a moment ago (Qoo10 dates
    to the second, and an unchanged date is not a change to the sweep)."""
    return qorders.jst_text(datetime.now(UTC) + timedelta(seconds=seconds))


def qoo10_order(fake, minutes_ago: int, *, paid: bool = True, **fields) -> str:
    """One Qoo10 order line (a flat row named as GetShippingInfo_v3 names it) placed `minutes_ago`,
    stored at the fake; its OrderNo."""
    no = next(_numbers)
    at = jst(minutes_ago)
    fields.setdefault("PaymentDate", at if paid else "")
    fake.put_order(MARKETPLACE, row(no, ordered=at, **fields))
    return str(no)


def listed(api, no: str) -> list[dict]:
    return api.get(f"/orders?q={no}&include_deleted=true").json["orders"]


def the_order(api, no: str) -> dict:
    [found] = listed(api, no)
    return api.get(f"/orders/{found['order_id']}").json


def pull(cloud) -> dict:
    result = cloud.fire("PullFunction")
    cloud.drain(timeout=10)
    return result


def methods(fake) -> set[str]:
    return {c["path"].lstrip("/") for c in fake.calls(MARKETPLACE)}


def test_orders_made_at_qoo10_arrive_with_their_line_recipient_and_payment_hold(api, cloud, fake):
    paid_card = qoo10_order(fake, 120)  # its 60-minute hold is over: released at once
    fresh_card = qoo10_order(fake, 10)  # still in its hold window
    konbini = qoo10_order(fake, 30, paid=False, PaymentMethod="コンビニ決済")  # waits for payment
    old = qoo10_order(fake, 3 * 24 * 60)  # before the one-day back-fill window

    first = pull(cloud)
    assert (first["integrations"], first["queued"], first["failed"]) == (1, 3, 0), first
    assert listed(api, old) == []

    order = the_order(api, paid_card)
    assert (order["marketplace"], order["marketplace_order_no"], order["origin"]) == (
        MARKETPLACE,
        paid_card,
        "api",
    )
    [item] = order["items"]
    assert (item["sku"], item["title"], item["quantity"]) == ("MUG-01:BLUE", "九谷焼マグ (色:青)", 2)
    r = order["recipient"]
    assert (r["name"], r["postal_code"], r["country"]) == ("山田 花子", "920-0981", "JP")
    assert r["address1"] == "石川県金沢市片町1-2-3 片町ハイツ201"
    assert order["payment"]["method"] == "card"
    # released with Qoo10's auto-confirm (processing) and a deadline
    assert order["status"] == "processing" and order["deadline_at"], order

    held = the_order(api, fresh_card)
    assert held["status"] == "pending" and held["hold_release_at"] and not held.get("deadline_at")
    waiting = the_order(api, konbini)
    assert waiting["status"] == "pending" and waiting["payment"]["method"] == "konbini"
    assert waiting["payment"]["paid_at"] is None

    # Qoo10's protocol: form-encoded QAPI methods with the seller's certification key
    assert methods(fake) == {
        "ShippingBasic.GetClaimInfo_V3",
        "ShippingBasic.GetShippingInfo_v3",
    }
    for call in fake.calls(MARKETPLACE):
        assert call["headers"]["giosiscertificationkey"].startswith("tok_")
        assert call["headers"]["qapiversion"] == "1.0"
    statuses = sorted(
        form_of(c)["ShippingStatus"]
        for c in fake.calls(MARKETPLACE)
        if c["path"] == "/ShippingBasic.GetShippingInfo_v3"
    )
    assert statuses == ["1", "2", "3", "4", "5"]
    status = api.get(f"/integrations/{MARKETPLACE}").json["pull_status"]
    assert status["state"] == "ok" and status["cursor"] and status["failures"] == 0

    # a sweep with nothing new reads the same orders again and queues and writes nothing
    before = cloud.table_items()
    quiet = pull(cloud)
    assert (quiet["queued"], quiet["already_queued"], quiet["failed"]) == (0, 3, 0), quiet
    assert cloud.table_items() == before


def test_payment_claim_and_cancel_at_qoo10_reach_the_order_on_later_runs(api, cloud, fake):
    konbini = qoo10_order(fake, 60, paid=False, PaymentMethod="コンビニ決済")
    claimed = qoo10_order(fake, 120)
    cancelled = qoo10_order(fake, 120)
    moved = qoo10_order(fake, 120)
    assert pull(cloud)["queued"] == 4
    assert the_order(api, konbini)["status"] == "pending"
    assert the_order(api, claimed)["status"] == "processing"

    # the buyer pays at the konbini and Qoo10 also shows a new delivery address (dated by the
    # payment); the buyer of another order asks to cancel it (a claim, dated by its request)
    fake.update_order(MARKETPLACE, konbini, PaymentDate=jst(), ShippingAddress="東京都渋谷区神南1-2-3")
    fake.update_order(MARKETPLACE, claimed, claimStatus="1", requestDate=jst(2), reason="注文間違い")
    # Qoo10 settled a third order's cancel
    fake.update_order(MARKETPLACE, cancelled, claimStatus="3", requestDate=jst(5), cancelRefundDate=jst(1))
    second = pull(cloud)
    assert (second["queued"], second["failed"]) == (3, 0), second
    assert "ShippingBasic.GetShippingAndClaimInfoByOrderNo_V2" in methods(fake)  # claims read whole

    paid = the_order(api, konbini)
    assert paid["status"] == "processing" and paid["payment"]["paid_at"], paid
    assert paid["recipient"]["address1"] == "東京都渋谷区神南1-2-3"

    on_hold = the_order(api, claimed)
    assert on_hold["status"] == "on_hold", on_hold
    assert (on_hold["claim"]["state"], on_hold["claim"]["kind"]) == ("open", "cancel")
    assert on_hold["claim"]["reason"] == "注文間違い"
    assert on_hold["history"][-1]["action"] == "claim_opened"

    gone = the_order(api, cancelled)
    assert gone["status"] == "cancelled", gone
    assert gone["history"][-1]["action"] == "cancelled"

    # Qoo10 then grants the buyer's cancel request: the held order is cancelled
    fake.update_order(MARKETPLACE, claimed, claimStatus="3", cancelRefundDate=jst())
    assert pull(cloud)["queued"] == 1
    assert the_order(api, claimed)["status"] == "cancelled"

    # an address change Qoo10 does not date is not seen by the sweep (docs/pull.md) ...
    fake.update_order(MARKETPLACE, moved, ShippingAddress="大阪府大阪市北区梅田1-1-1", ZipCode="530-0001")
    quiet = pull(cloud)
    assert (quiet["queued"], quiet["failed"]) == (0, 0), quiet
    assert the_order(api, moved)["recipient"]["postal_code"] == "920-0981"
    # ... but a refresh reads the order whole (GetShippingAndClaimInfoByOrderNo_V2) and takes it
    refreshed = api.call("POST", f"/orders/{the_order(api, moved)['order_id']}/refresh")
    assert refreshed.status == 200, refreshed
    assert refreshed.json["recipient"]["address1"] == "大阪府大阪市北区梅田1-1-1"
    assert refreshed.json["recipient"]["postal_code"] == "530-0001"


def test_fulfill_tracking_change_and_cancel_reach_qoo10_in_its_protocol(api, cloud, fake):
    shipped_no = qoo10_order(fake, 120)
    kept_no = qoo10_order(fake, 120)
    cancelled_no = qoo10_order(fake, 120)
    assert pull(cloud)["queued"] == 3
    oid = the_order(api, shipped_no)["order_id"]

    body = {"carrier": "yamato", "tracking_number": "1234-5678-9012"}
    shipped = api.call("POST", f"/orders/{oid}/fulfill", body)
    assert shipped.status == 200 and shipped.json["status"] == "shipped", shipped
    cloud.drain(timeout=10)
    [sent] = fake.fulfillments(MARKETPLACE)
    assert (sent["order_no"], sent["carrier"], sent["tracking_number"]) == (
        shipped_no,
        "ヤマト運輸",
        "123456789012",
    )
    [call] = [c for c in fake.calls(MARKETPLACE) if c["path"] == "/ShippingBasic.SetSendingInfo"]
    assert form_of(call) == {
        "OrderNo": shipped_no,
        "ShippingCorp": "ヤマト運輸",
        "TrackingNo": "123456789012",
        "returnType": "json",
    }
    at_qoo10 = fake.get_order(MARKETPLACE, shipped_no)
    assert (at_qoo10["ShippingStatus"], at_qoo10["TrackingNo"]) == ("4", "123456789012")
    assert "fulfillment_reflected" in [h["action"] for h in api.get(f"/orders/{oid}").json["history"]]

    change = {"carrier": "japan_post", "tracking_number": "EJ123456789JP"}
    changed = api.call("PUT", f"/orders/{oid}/tracking", change)
    assert changed.status == 200, changed
    cloud.drain(timeout=10)
    [update] = fake.tracking_updates(MARKETPLACE)
    assert (update["order_no"], update["carrier"], update["tracking_number"]) == (
        shipped_no,
        "ゆうパック",
        "EJ123456789JP",
    )
    assert len(fake.fulfillments(MARKETPLACE)) == 1

    # reading Qoo10's shipped row back does not undo the merchant's shipment
    assert pull(cloud)["failed"] == 0
    after = the_order(api, shipped_no)
    assert after["status"] == "shipped" and after["tracking"]["tracking_number"] == "EJ123456789JP"

    # the buyer asks Qoo10 for a return (a claim: on hold), then Qoo10 refunds it (closed)
    fake.update_order(MARKETPLACE, shipped_no, claimStatus="4", requestDate=later(1), reason="破損")
    assert pull(cloud)["queued"] == 1
    returning = the_order(api, shipped_no)
    assert returning["status"] == "on_hold", returning
    assert (returning["claim"]["state"], returning["claim"]["kind"]) == ("open", "return")
    fake.update_order(MARKETPLACE, shipped_no, claimStatus="6", cancelRefundDate=later(2))
    assert pull(cloud)["queued"] == 1
    closed = the_order(api, shipped_no)
    assert (closed["status"], closed["close_reason"]) == ("closed", "refunded"), closed

    # reflect_cancel_to_marketplace off (the seeded default for Qoo10): Qoo10 is not told
    kept = the_order(api, kept_no)
    resp = api.call("POST", f"/orders/{kept['order_id']}/cancel", {"reason": "在庫切れ"})
    assert resp.status == 200 and resp.json["status"] == "cancelled", resp
    assert fake.cancels(MARKETPLACE) == []

    # on: the merchant's cancel is sent as SetCancelProcess (ContrNo = the OrderNo)
    on = api.call("PUT", f"/integrations/{MARKETPLACE}", {"reflect_cancel_to_marketplace": True})
    assert on.status == 200 and on.json["reflect_cancel_to_marketplace"] is True
    target = the_order(api, cancelled_no)
    resp = api.call("POST", f"/orders/{target['order_id']}/cancel", {"reason": "在庫切れ"})
    assert resp.status == 200 and resp.json["status"] == "cancelled", resp
    assert "mall_reflect_error" not in resp.json["tags"]
    [sent_cancel] = fake.cancels(MARKETPLACE)
    assert (sent_cancel["order_no"], sent_cancel["reason"]) == (cancelled_no, "在庫切れ")  # SellerMemo
    assert fake.get_order(MARKETPLACE, cancelled_no)["claimStatus"] == "3"
    history = api.get(f"/orders/{target['order_id']}").json["history"]
    assert [h["action"] for h in history][-2:] == ["cancelled", "reflected"]

    # the next sweep reads the cancel back from Qoo10: the order stays cancelled, nothing fails
    echo = pull(cloud)
    assert echo["failed"] == 0 and echo["queued"] >= 1, echo
    assert the_order(api, cancelled_no)["status"] == "cancelled"


def test_qoo10_answering_503_to_its_searches_fails_the_pull_until_it_recovers(api, cloud, fake, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(marketplace_client, "sleep", slept.append)  # the run's handler is in-process
    fake.fail(MARKETPLACE, "error", count=-1, status=503, operation="list")
    for _ in range(3):
        result = cloud.fire("PullFunction")
        assert (result["integrations"], result["failed"], result["queued"]) == (1, 1, 0), result
    # each run tried its first search 3 times, backing off, then gave up
    assert [c["path"] for c in fake.calls(MARKETPLACE)] == ["/ShippingBasic.GetClaimInfo_V3"] * 9
    assert slept == [0.25, 0.5] * 3
    status = api.get(f"/integrations/{MARKETPLACE}").json["pull_status"]
    assert status["state"] == "failing" and status["failures"] == 3, status
    assert status["last_error"]["kind"] == "unavailable" and status["last_error"]["status"] == 503
    assert status["failing_since"]

    fake.reset()
    back = qoo10_order(fake, 120)
    result = pull(cloud)
    assert (result["failed"], result["queued"]) == (0, 1), result
    assert len(listed(api, back)) == 1
    status = api.get(f"/integrations/{MARKETPLACE}").json["pull_status"]
    assert status["state"] == "ok" and status["failures"] == 0
