"""Rakuten on the local cloud (docs/pull.md, docs/connectors.md): the demo merchant's Rakuten
integration points at the fake marketplace, which speaks RakutenPayOrderAPI (searchOrder,
getOrder, updateOrderShipping, cancelOrder; orderhub.marketplaces.rakuten.fake). Orders placed
at Rakuten, as getOrder OrderModels, arrive through the sweep with their number, SKUs, recipient
and payment hold; a dated change at Rakuten (payment cleared, a recipient change, a buyer's
cancel or return request, Rakuten's cancel) arrives on a later run; the merchant's fulfillment,
tracking change and cancel reach Rakuten as its own deliveryCompany codes and cancelOrder; and a
Rakuten that answers 503 on searchOrder shows as a failing pull that recovers."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from orderhub.marketplaces import client as marketplace_client
from orderhub.marketplaces.rakuten.fake import sample_order
from orderhub.marketplaces.rakuten.orders import JST, jst_text
from tests.support.cloud_fixtures import reflecting_cancels

MARKETPLACE = "rakuten"
SHOP = "398291"  # Rakuten's order numbers start with the shop's number
_serial = itertools.count(1)

pytestmark = [pytest.mark.e2e, pytest.mark.slowest(16), pytest.mark.usefixtures("fake")]


@pytest.fixture(autouse=True)
def pull_on(api):
    put = api.call("PUT", f"/integrations/{MARKETPLACE}", {"pull": True, "pull_backfill_days": 1})
    assert put.status == 200, put
    assert put.json["pull"] is True


def jst_ago(minutes: int = 0) -> str:
    return jst_text(datetime.now(UTC) - timedelta(minutes=minutes))


def placed(fake, minutes_ago: int, **overrides) -> str:
    """An order placed at Rakuten `minutes_ago` (the fake's OrderModel: 300 発送待ち, card, one
    item TS-001-M to 楽天 太郎 in Tokyo), with `overrides`; its order number."""
    ordered = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    number = f"{SHOP}-{ordered.astimezone(JST):%Y%m%d}-{next(_serial):010d}"
    return fake.put_order(MARKETPLACE, sample_order(number, ordered, **overrides))


def sweep(cloud) -> dict:
    result = cloud.fire("PullFunction")
    assert result["failed"] == 0, result
    cloud.drain(timeout=10)
    return result


def order_of(api, no: str) -> dict:
    [listed] = api.get(f"/orders?q={no}&include_deleted=true").json["orders"]
    full = api.get(f"/orders/{listed['order_id']}")
    assert full.status == 200, full
    return full.json


def actions(order: dict) -> list[str]:
    return [h["action"] for h in order["history"]]


def change_entry(change_type: int, reason: int | None, minutes_ago: int = 0, change_id: int = 1) -> dict:
    """A ChangeReasonModelList entry dated `minutes_ago` (Japan time). A sweep sees a change only
    when it moves the order's newest date, so each step of a test dates its change apart."""
    at = jst_text(datetime.now(UTC) - timedelta(minutes=minutes_ago))
    return {
        "changeId": change_id,
        "changeType": change_type,
        "changeTypeDetail": None,
        "changeReason": 1,
        "changeReasonDetail": reason,
        "changeApplyDatetime": at,
        "changeFixDatetime": at if change_type in (1, 2, 5, 6) else None,
        "changeCmplDatetime": at if change_type in (2, 6) else None,
    }


def test_orders_placed_at_rakuten_arrive_through_the_sweep_with_their_payment_hold(api, cloud, fake):
    paid = placed(fake, 120)  # card, the 60-minute hold window is over: released at once
    held = placed(fake, 5)  # card, still in the hold window
    transfer = placed(  # bank transfer, not paid yet: Rakuten has not instructed shipping
        fake,
        90,
        orderProgress=100,
        shippingInstDatetime=None,
        SettlementModel={"settlementMethodCode": 9, "settlementMethod": "銀行振込"},
    )
    old = placed(fake, 3 * 24 * 60)  # before the one-day sweep window

    first = sweep(cloud)
    assert (first["integrations"], first["queued"], first["quarantined"]) == (1, 3, 0), first
    order = order_of(api, paid)
    assert (order["marketplace"], order["marketplace_order_no"], order["origin"]) == (
        MARKETPLACE,
        paid,
        "api",
    )
    assert order["status"] == "new" and order["released_at"]
    assert [(i["sku"], i["title"], i["quantity"], i["price"]) for i in order["items"]] == [
        ("TS-001-M", "Tシャツ (サイズ:M)", 1, "3300")
    ]
    recipient = order["recipient"]
    assert (recipient["name"], recipient["postal_code"], recipient["region"], recipient["city"]) == (
        "楽天 太郎",
        "100-0001",
        "東京都",
        "千代田区",
    )
    assert (recipient["address1"], recipient["country"], recipient["phone"]) == (
        "千代田1-1",
        "JP",
        "03-1234-5678",
    )
    assert (order["payment"]["method"], order["currency"], order["total"]) == ("card", "JPY", "3300")
    assert order["history"][0]["delivery_id"].startswith(f"pull:{MARKETPLACE}:{paid}:")
    assert order_of(api, held)["status"] == "pending"
    unpaid = order_of(api, transfer)
    assert unpaid["status"] == "pending" and unpaid["payment"]["method"] == "bank_transfer"
    assert unpaid["payment"]["paid_at"] is None
    assert api.get(f"/orders?q={old}&include_deleted=true").json["orders"] == []
    search, get = fake.calls(MARKETPLACE)  # one searchOrder by order date, one getOrder for the three
    assert (search["path"], search["status"], get["path"], get["status"]) == (
        "/order/searchOrder",
        200,
        "/order/getOrder",
        200,
    )
    assert search["headers"]["authorization"].startswith("ESA ") and search["body"]["dateType"] == 1
    assert sorted(get["body"]["orderNumberList"]) == sorted([paid, held, transfer])
    status = api.get(f"/integrations/{MARKETPLACE}").json["pull_status"]
    assert status["state"] == "ok" and status["cursor"] and status["failures"] == 0

    # nothing changed at Rakuten: the sweep reads the same orders again and queues none
    before = cloud.table_items()
    quiet = sweep(cloud)
    assert (quiet["queued"], quiet["already_queued"]) == (0, 3), quiet
    assert cloud.table_items() == before

    # Rakuten instructs shipping once the transfer is paid (shippingInstDatetime): released
    fake.update_order(MARKETPLACE, transfer, orderProgress=300, shippingInstDatetime=jst_ago())
    assert sweep(cloud)["queued"] == 1
    released = order_of(api, transfer)
    assert released["status"] == "new" and released["payment"]["paid_at"]


def test_changes_and_cancels_at_rakuten_arrive_on_a_later_sweep(api, cloud, fake):
    moved, asked, returned, cancelled = (placed(fake, 120) for _ in range(4))
    assert sweep(cloud)["queued"] == 4
    assert order_of(api, asked)["status"] == "new"
    shipped_id = order_of(api, returned)["order_id"]
    ship = {"carrier": "yamato", "tracking_number": "123412341234"}
    assert api.call("POST", f"/orders/{shipped_id}/fulfill", ship).status == 200
    cloud.drain(timeout=10)
    # Rakuten now shows it 500 発送済; its shipping report dated back so that the changes below,
    # dated two minutes ago, are the order's newest dates (what a sweep goes by)
    assert fake.get_order(MARKETPLACE, returned)["orderProgress"] == 500
    fake.update_order(MARKETPLACE, returned, shippingCmplRptDatetime=jst_ago(30))
    sweep(cloud)

    # an edit Rakuten stamps no date on is not seen by the sweep (docs/pull.md, "Sweep")
    packages = fake.get_order(MARKETPLACE, moved)["PackageModelList"]
    sender = packages[0]["SenderModel"]
    packages[0]["SenderModel"] = {**sender, "city": "港区", "subAddress": "芝公園4-2-8"}
    fake.update_order(MARKETPLACE, moved, PackageModelList=packages)
    assert sweep(cloud)["queued"] == 0
    assert order_of(api, moved)["recipient"]["city"] == "千代田区"

    # the same edit confirmed as a change (changeType 5 変更確定, dated): the recipient moves
    fake.update_order(MARKETPLACE, moved, ChangeReasonModelList=[change_entry(5, None, 2)])
    # the buyer asks to cancel (800 キャンセル確定待ち, changeType 0 キャンセル申請, reason 1 キャンセル)
    fake.update_order(MARKETPLACE, asked, orderProgress=800, ChangeReasonModelList=[change_entry(0, 1, 2)])
    # the buyer returns a shipped order (changeType 0, reason 2 受取後の返品)
    fake.update_order(MARKETPLACE, returned, ChangeReasonModelList=[change_entry(0, 2, 2)])
    # Rakuten cancels an order (900 キャンセル確定, changeType 2 キャンセル完了)
    fake.update_order(
        MARKETPLACE, cancelled, orderProgress=900, ChangeReasonModelList=[change_entry(2, 10, 2)]
    )
    assert sweep(cloud)["queued"] == 4

    changed = order_of(api, moved)
    assert (changed["recipient"]["city"], changed["recipient"]["address1"]) == ("港区", "芝公園4-2-8")
    assert changed["status"] == "new"

    claim = order_of(api, asked)
    assert claim["status"] == "on_hold" and actions(claim)[-1] == "claim_opened"
    assert claim["claim"]["held"] is True
    assert (claim["claim"]["state"], claim["claim"]["kind"], claim["claim"]["reason"]) == (
        "open",
        "cancel",
        "キャンセル",
    )
    back = order_of(api, returned)
    assert back["status"] == "on_hold" and actions(back)[-1] == "claim_opened"
    assert (back["claim"]["kind"], back["claim"]["reason"]) == ("return", "受取後の返品")
    assert back["tracking"]["tracking_number"] == "123412341234"  # held as shipped, tracking kept

    gone = order_of(api, cancelled)
    assert gone["status"] == "cancelled" and gone["cancel_reason"] == "marketplace_cancelled"
    assert actions(gone)[-1] == "cancelled"

    # Rakuten confirms the buyer's cancel (900, changeType 1 キャンセル確定): the held order is cancelled
    fake.update_order(
        MARKETPLACE,
        asked,
        orderProgress=900,
        ChangeReasonModelList=[change_entry(0, 1, 2), change_entry(1, 1, change_id=2)],
    )
    assert sweep(cloud)["queued"] == 1
    confirmed = order_of(api, asked)
    assert confirmed["status"] == "cancelled" and actions(confirmed)[-1] == "cancelled"


def test_the_merchants_fulfillment_tracking_and_cancel_reach_rakuten(api, cloud, fake):
    shipped, dropped, kept = (placed(fake, 120) for _ in range(3))
    sweep(cloud)
    order = order_of(api, shipped)
    assert order["status"] == "new"

    done = api.call(
        "POST",
        f"/orders/{order['order_id']}/fulfill",
        {"carrier": "sagawa", "tracking_number": "123456789012"},
    )
    assert done.status == 200 and done.json["status"] == "shipped", done
    cloud.drain(timeout=10)
    [sent] = fake.fulfillments(MARKETPLACE)
    today = datetime.now(JST).date().isoformat()
    assert (sent["order_no"], sent["carrier"], sent["tracking_number"]) == (shipped, "1002", "123456789012")
    assert (sent["basket_id"], sent["shipping_date"]) == (10000001, today)
    at_rakuten = fake.get_order(MARKETPLACE, shipped)
    assert at_rakuten["orderProgress"] == 500 and at_rakuten["shippingCmplRptDatetime"]
    assert actions(order_of(api, shipped))[-1] == "fulfillment_reflected"

    moved = api.call(
        "PUT",
        f"/orders/{order['order_id']}/tracking",
        {"carrier": "yamato", "tracking_number": "1111-2222-3333"},
    )
    assert moved.status == 200, moved
    cloud.drain(timeout=10)
    [update] = fake.tracking_updates(MARKETPLACE)
    assert (update["order_no"], update["carrier"], update["tracking_number"]) == (
        shipped,
        "1001",
        "111122223333",
    )
    assert update["shipping_detail_id"] == sent["shipping_detail_id"]  # the same shipment, changed
    assert len(fake.fulfillments(MARKETPLACE)) == 1
    [shipment] = fake.get_order(MARKETPLACE, shipped)["PackageModelList"][0]["ShippingModelList"]
    assert (shipment["deliveryCompany"], shipment["deliveryCompanyName"]) == ("1001", "ヤマト運輸")

    # reflect off (the seeded default for Rakuten): the cancel stays in orderhub
    kept_id = order_of(api, kept)["order_id"]
    off = api.call("POST", f"/orders/{kept_id}/cancel", {"reason": "out of stock"})
    assert off.status == 200 and off.json["status"] == "cancelled", off
    assert fake.cancels(MARKETPLACE) == []
    assert fake.get_order(MARKETPLACE, kept)["orderProgress"] == 300

    with reflecting_cancels(api, MARKETPLACE):
        dropped_id = order_of(api, dropped)["order_id"]
        cancel = api.call("POST", f"/orders/{dropped_id}/cancel", {"reason": "out of stock"})
        assert cancel.status == 200 and cancel.json["status"] == "cancelled", cancel
        cloud.drain(timeout=10)
    [asked] = fake.cancels(MARKETPLACE)
    assert (asked["order_no"], asked["reason"], asked["inventory_restore_type"]) == (dropped, 10, 0)
    assert fake.get_order(MARKETPLACE, dropped)["orderProgress"] == 900
    assert actions(order_of(api, dropped))[-1] == "reflected"
    assert "mall_reflect_error" not in order_of(api, dropped)["tags"]


def test_a_rakuten_that_answers_503_on_search_fails_the_pull_and_a_later_run_recovers(
    api, cloud, fake, monkeypatch
):
    # the run's handler runs in this process: its backoff pauses are skipped
    # (tests/e2e/test_pull_e2e.py waits them out for real)
    monkeypatch.setattr(marketplace_client, "sleep", lambda seconds: None)
    fake.fail(MARKETPLACE, "error", count=-1, status=503, operation="list")
    for _ in range(3):
        result = cloud.fire("PullFunction")
        assert (result["failed"], result["queued"]) == (1, 0), result
    status = api.get(f"/integrations/{MARKETPLACE}").json["pull_status"]
    assert status["state"] == "failing" and status["failures"] == 3 and status["failing_since"]
    assert (status["last_error"]["kind"], status["last_error"]["status"]) == ("unavailable", 503)
    # each run tried searchOrder three times (retries with backoff) and asked for no order
    calls = fake.calls(MARKETPLACE)
    assert [(c["path"], c["status"]) for c in calls] == [("/order/searchOrder", 503)] * 9

    fake.reset()
    back = placed(fake, 120)
    assert sweep(cloud)["queued"] == 1
    assert order_of(api, back)["status"] == "new"
    status = api.get(f"/integrations/{MARKETPLACE}").json["pull_status"]
    assert status["state"] == "ok" and status["failures"] == 0 and status["last_error"] is None
