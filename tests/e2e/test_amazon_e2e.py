"""Amazon on the local cloud (docs/pull.md, docs/connectors.md): the demo merchant's Amazon
integration points at the fake marketplace, which speaks the Selling Partner API (LWA tokens,
Restricted Data Tokens, getOrders by LastUpdatedAfter, getOrderItems, confirmShipment, the order
acknowledgement feed; orderhub.marketplaces.amazon.fake).

Shown as a merchant would notice it:
- seller-fulfilled orders placed at Amazon, as Orders v0 `Order`s with their `OrderItem`s, arrive
  through the pull with their number, SKUs, unit prices and the address read with a Restricted
  Data Token; Amazon's paid orders are released at once to `processing` (Amazon's "new"), a COD
  order waits out its hold, an order Amazon shows `Pending` waits in pending until Amazon shows
  it `Unshipped`; Amazon-fulfilled and older orders are not read;
- a changed address, a buyer's cancel request (a cancel claim: on hold) and Amazon's cancel
  arrive on a later run;
- the merchant's fulfillment and tracking change reach Amazon as confirmShipment with Amazon's
  carrier codes, and a cancel (reflect on) as the acknowledgement feed that cancels the order;
- Amazon answering 503 on getOrders shows as a failing pull that a later run recovers from;
- Amazon's push path, which is not HTTPS: an ORDER_CHANGE notification sent to
  AmazonNotificationsQueue (as Amazon's SQS destination would) brings the order in with no pull
  run; a notification for a seller no merchant connected is not dropped (it ends whole in
  AmazonNotificationsDLQ), an Amazon-fulfilled one is ignored without a call to Amazon; a change
  both notified and pulled is one delivery (`pull:amazon:<no>:<stamp>`), the pull's copy a
  duplicate of it."""

from __future__ import annotations

import itertools
import json
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest

from orderhub.marketplaces import client as marketplace_client
from tests.support.cloud_fixtures import reflecting_cancels
from tests.unit.test_amazon_connector import address, line

pytestmark = [pytest.mark.e2e, pytest.mark.slowest(22), pytest.mark.usefixtures("fake")]

MARKETPLACE = "amazon"
SELLER = "ADEMOSELLER"  # the demo merchant's seller_id (localcloud/seed.py)
JP = "A1VC38T7YXB528"  # Amazon.co.jp, the integration's default amazon_marketplace_id
_serial = itertools.count(1)


def pull(api, on: bool = True) -> None:
    put = api.call("PUT", f"/integrations/{MARKETPLACE}", {"pull": on, "pull_backfill_days": 1})
    assert put.status == 200, put
    assert put.json["pull"] is on


def amazon_time(minutes_ago: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp(amazon: str) -> str:
    """orderhub's form of an Amazon time (the delivery id's change stamp)."""
    return amazon.replace("Z", ".000Z")


def lines(n: int, *, priced: bool = True) -> list[dict]:
    """Order n's OrderItems: MUG-<n> x2 for 6000 (the line's price) and PLATE-<n> x1 for 2500;
    without ItemPrice while Amazon shows the order Pending (getOrderItems gives no pricing then)."""
    return [
        line(f"{n:07d}0000001", f"MUG-{n}", 2, "6000.00" if priced else None),
        line(f"{n:07d}0000002", f"PLATE-{n}", 1, "2500.00" if priced else None),
    ]


def serial(no: str) -> int:
    return int(no.split("-")[1])


def placed(
    fake,
    minutes_ago: int = 120,
    *,
    status: str = "Unshipped",
    updated_ago: int = 3,
    priced: bool = True,
    without: tuple[str, ...] = (),
    **extra,
) -> str:
    """A seller-fulfilled order placed at Amazon `minutes_ago` and last changed `updated_ago`
    minutes ago (inside the pull's 5-minute overlap of a cursor earlier tests moved to now): the
    Order with its OrderItems under "OrderItems", as the fake stores it: `lines`, paid through
    Amazon, to 山田 太郎 in Tokyo; `extra` over it, the fields `without` left out. Its AmazonOrderId."""
    n = next(_serial)
    no = f"249-{n:07d}-{n:07d}"
    order = {
        "AmazonOrderId": no,
        "PurchaseDate": amazon_time(minutes_ago),
        "LastUpdateDate": amazon_time(updated_ago),
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
        "OrderItems": lines(n, priced=priced),
        **extra,
    }
    return fake.put_order(MARKETPLACE, {k: v for k, v in order.items() if k not in without})


def run_pull(cloud) -> dict:
    result = cloud.fire("PullFunction")
    assert result["failed"] == 0, result
    cloud.drain(timeout=10)
    return result


def listed(api, no: str) -> list[dict]:
    return api.get(f"/orders?q={no}&include_deleted=true").json["orders"]


def order_of(api, no: str) -> dict:
    [found] = listed(api, no)
    full = api.get(f"/orders/{found['order_id']}")
    assert full.status == 200, full
    return full.json


def actions(order: dict) -> list[str]:
    return [h["action"] for h in order["history"]]


def notification(
    no: str, *, seller: str = SELLER, status: str = "Unshipped", fulfillment: str = "MFN"
) -> str:
    """An ORDER_CHANGE notification as Amazon puts it on an SQS destination
    (OrderChangeNotification.json), the body of one message."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps(
        {
            "NotificationVersion": "1.0",
            "NotificationType": "ORDER_CHANGE",
            "PayloadVersion": "1.0",
            "EventTime": now,
            "Payload": {
                "OrderChangeNotification": {
                    "NotificationLevel": "OrderLevel",
                    "SellerId": seller,
                    "AmazonOrderId": no,
                    "OrderChangeType": "OrderStatusChange",
                    "OrderChangeTrigger": {"TimeOfOrderChange": now, "ChangeReason": "Order status changed"},
                    "Summary": {
                        "MarketplaceId": JP,
                        "OrderStatus": status,
                        "FulfillmentType": fulfillment,
                        "OrderItems": [],
                    },
                }
            },
            "NotificationMetadata": {
                "ApplicationId": "amzn1.sellerapps.app.orderhub-e2e",
                "SubscriptionId": "sub-e2e",
                "PublishTime": now,
                "NotificationId": f"n-{no}-{fulfillment}-{seller}",
            },
        }
    )


def queue_url(cloud, logical_id: str) -> str:
    sqs = cloud.client("sqs")
    return sqs.get_queue_url(QueueName=cloud.physical_name(logical_id))["QueueUrl"]


def notify(cloud, body: str) -> None:
    """Send one notification to AmazonNotificationsQueue, as Amazon's SQS destination does."""
    cloud.client("sqs").send_message(QueueUrl=queue_url(cloud, "AmazonNotificationsQueue"), MessageBody=body)


def amazon_reads(fake, no: str) -> list[dict]:
    """The fake's getOrder / getOrderItems calls for one order."""
    return [c for c in fake.calls(MARKETPLACE) if c["path"].startswith(f"/orders/v0/orders/{no}")]


def delivery(api, delivery_id: str) -> dict:
    found = api.get(f"/webhook-deliveries/pull/{urllib.parse.quote(delivery_id, safe='')}")
    assert found.status == 200, found
    return found.json


# ====================================================================== pull
def test_orders_placed_at_amazon_arrive_through_the_pull_released_or_held_as_amazon_shows_them(
    api, cloud, fake
):
    pull(api)
    paid = placed(fake, 120, updated_ago=120)  # Unshipped: Amazon authorized the payment
    cod = placed(fake, 5, PaymentMethod="COD")  # cash on delivery: the hold window applies
    waiting = placed(  # Pending: not paid yet; Amazon shows no address, total or prices yet
        fake, 90, status="Pending", priced=False, without=("OrderTotal", "ShippingAddress")
    )
    by_amazon = placed(fake, 60, FulfillmentChannel="AFN")  # Amazon ships it: not orderhub's
    old = placed(fake, 3 * 24 * 60, updated_ago=3 * 24 * 60)  # before the one-day back-fill
    # (this is the module's first pull run: it reads from the back-fill window, later ones from
    # the cursor)

    first = run_pull(cloud)
    assert (first["integrations"], first["queued"], first["quarantined"]) == (1, 3, 0), first
    order = order_of(api, paid)
    assert (order["marketplace"], order["marketplace_order_no"], order["origin"]) == (
        MARKETPLACE,
        paid,
        "api",
    )
    assert order["status"] == "processing" and order["released_at"]  # Amazon's "new" is processing
    n = serial(paid)
    assert [(i["sku"], i["title"], i["quantity"], i["price"]) for i in order["items"]] == [
        (f"MUG-{n}", f"MUG-{n} title", 2, "3000.00"),  # ItemPrice is the line's: 6000 for 2
        (f"PLATE-{n}", f"PLATE-{n} title", 1, "2500.00"),
    ]
    recipient = order["recipient"]  # name, street and phone: read with a Restricted Data Token
    assert (recipient["name"], recipient["address1"], recipient["address2"], recipient["phone"]) == (
        "山田 太郎",
        "丸の内1-1-1",
        "丸の内ビル 10F",
        "03-1234-5678",
    )
    assert (recipient["city"], recipient["region"], recipient["postal_code"], recipient["country"]) == (
        "千代田区",
        "東京都",
        "100-0001",
        "JP",
    )
    assert (order["payment"]["method"], order["currency"], order["total"]) == (
        "marketplace",
        "JPY",
        "8500.00",
    )
    stamped = stamp(fake.get_order(MARKETPLACE, paid)["LastUpdateDate"])
    assert order["history"][0]["delivery_id"] == f"pull:{MARKETPLACE}:{paid}:{stamped}"

    held = order_of(api, cod)
    assert (held["status"], held["payment"]["method"], held["payment"]["paid_at"]) == ("pending", "cod", None)
    unpaid = order_of(api, waiting)
    assert unpaid["status"] == "pending" and unpaid["payment"]["paid_at"] is None
    assert [i["price"] for i in unpaid["items"]] == ["0", "0"]
    assert listed(api, by_amazon) == [] and listed(api, old) == []
    [listing] = [c for c in fake.calls(MARKETPLACE) if c["operation"] == "list"]
    assert listing["query"]["FulfillmentChannels"] == "MFN"
    status = api.get(f"/integrations/{MARKETPLACE}").json["pull_status"]
    assert status["state"] == "ok" and status["cursor"] and status["failures"] == 0

    # Amazon authorizes the payment: Unshipped, now with the address, the total and the prices
    fake.update_order(
        MARKETPLACE,
        waiting,
        OrderStatus="Unshipped",
        LastUpdateDate=amazon_time(),
        OrderTotal={"CurrencyCode": "JPY", "Amount": "8500.00"},
        ShippingAddress=address(City="港区"),
        OrderItems=lines(serial(waiting)),
    )
    assert run_pull(cloud)["queued"] == 1
    released = order_of(api, waiting)
    assert released["status"] == "processing" and released["released_at"] and released["payment"]["paid_at"]
    assert released["recipient"]["city"] == "港区"
    assert [i["price"] for i in released["items"]] == ["3000.00", "2500.00"]
    assert order_of(api, cod)["status"] == "pending"  # still in its hold window


def test_an_address_change_a_buyers_cancel_request_and_amazons_cancel_arrive_on_a_later_run(api, cloud, fake):
    pull(api)
    moved, asked, cancelled = (placed(fake, 120) for _ in range(3))
    assert run_pull(cloud)["queued"] == 3
    assert {order_of(api, no)["status"] for no in (moved, asked, cancelled)} == {"processing"}

    # two minutes ago: the buyer moved, another asked to cancel, Amazon cancelled the third
    fake.update_order(
        MARKETPLACE,
        moved,
        LastUpdateDate=amazon_time(2),
        ShippingAddress=address(
            AddressLine1="芝公園4-2-8", AddressLine2="", City="港区", PostalCode="105-0011"
        ),
    )
    requested = lines(serial(asked))
    requested[0]["BuyerRequestedCancel"] = {
        "IsBuyerRequestedCancel": "true",
        "BuyerCancelReason": "Found cheaper somewhere else.",
    }
    requested[1]["BuyerRequestedCancel"] = {"IsBuyerRequestedCancel": "false", "BuyerCancelReason": ""}
    fake.update_order(MARKETPLACE, asked, LastUpdateDate=amazon_time(2), OrderItems=requested)
    fake.update_order(MARKETPLACE, cancelled, OrderStatus="Canceled", LastUpdateDate=amazon_time(2))
    assert run_pull(cloud)["queued"] == 3

    changed = order_of(api, moved)
    assert changed["status"] == "processing"
    moved_to = changed["recipient"]
    assert (moved_to["address1"], moved_to["city"], moved_to["postal_code"]) == (
        "芝公園4-2-8",
        "港区",
        "105-0011",
    )
    claim = order_of(api, asked)
    assert claim["status"] == "on_hold" and actions(claim)[-1] == "claim_opened"
    assert (claim["claim"]["state"], claim["claim"]["kind"], claim["claim"]["reason"]) == (
        "open",
        "cancel",
        "Found cheaper somewhere else.",
    )
    gone = order_of(api, cancelled)
    assert gone["status"] == "cancelled" and gone["cancel_reason"] == "marketplace_cancelled"
    assert actions(gone)[-1] == "cancelled"

    # Amazon grants the buyer's request: the held order is cancelled
    fake.update_order(MARKETPLACE, asked, OrderStatus="Canceled", LastUpdateDate=amazon_time())
    assert run_pull(cloud)["queued"] == 1
    granted = order_of(api, asked)
    assert granted["status"] == "cancelled" and actions(granted)[-1] == "cancelled"


def test_the_merchants_fulfillment_tracking_change_and_cancel_reach_amazon(api, cloud, fake):
    pull(api)
    shipped, dropped, kept = (placed(fake, 120) for _ in range(3))
    run_pull(cloud)
    order = order_of(api, shipped)
    assert order["status"] == "processing"

    ship = {"carrier": "yamato", "tracking_number": "123412341234", "origin_country": "JP"}
    done = api.call("POST", f"/orders/{order['order_id']}/fulfill", ship)
    assert done.status == 200 and done.json["status"] == "shipped", done
    cloud.drain(timeout=10)
    [sent] = fake.fulfillments(MARKETPLACE)  # confirmShipment, Amazon's carrierCode
    assert (sent["order_no"], sent["carrier"], sent["tracking_number"], sent["package"]) == (
        shipped,
        "YamatoTransport",
        "123412341234",
        "1",
    )
    at_amazon = fake.get_order(MARKETPLACE, shipped)
    assert at_amazon["OrderStatus"] == "Shipped"
    assert [i["QuantityShipped"] for i in at_amazon["OrderItems"]] == [2, 1]
    reflected = order_of(api, shipped)
    assert actions(reflected)[-1] == "fulfillment_reflected" and "mall_reflect_error" not in reflected["tags"]

    moved = api.call(
        "PUT",
        f"/orders/{order['order_id']}/tracking",
        {"carrier": "sagawa", "tracking_number": "123456789012"},
    )
    assert moved.status == 200, moved
    cloud.drain(timeout=10)
    [update] = fake.tracking_updates(MARKETPLACE)  # the same package confirmed again
    assert (update["order_no"], update["carrier"], update["tracking_number"], update["package"]) == (
        shipped,
        "SagawaExpress",
        "123456789012",
        "1",
    )
    assert len(fake.fulfillments(MARKETPLACE)) == 1

    # reflect off (the seeded default for Amazon): the cancel stays in orderhub
    kept_id = order_of(api, kept)["order_id"]
    off = api.call("POST", f"/orders/{kept_id}/cancel", {"reason": "out of stock"})
    assert off.status == 200 and off.json["status"] == "cancelled", off
    cloud.drain(timeout=10)
    assert fake.cancels(MARKETPLACE) == []
    assert fake.get_order(MARKETPLACE, kept)["OrderStatus"] == "Unshipped"

    with reflecting_cancels(api, MARKETPLACE):
        dropped_id = order_of(api, dropped)["order_id"]
        cancel = api.call("POST", f"/orders/{dropped_id}/cancel", {"reason": "out of stock"})
        assert cancel.status == 200 and cancel.json["status"] == "cancelled", cancel
        cloud.drain(timeout=10)
    [asked] = fake.cancels(MARKETPLACE)  # the order acknowledgement feed, StatusCode Failure
    n = serial(dropped)
    assert (asked["order_no"], asked["reason"], asked["merchant"]) == (dropped, "NoInventory", SELLER)
    assert asked["item_codes"] == [f"{n:07d}0000001", f"{n:07d}0000002"]
    assert fake.get_order(MARKETPLACE, dropped)["OrderStatus"] == "Canceled"
    after = order_of(api, dropped)
    assert actions(after)[-1] == "reflected" and "mall_reflect_error" not in after["tags"]

    # the next run reads back what the merchant did at Amazon: nothing moves
    assert run_pull(cloud)["queued"] == 2
    assert order_of(api, shipped)["status"] == "shipped"
    assert order_of(api, shipped)["tracking"]["tracking_number"] == "123456789012"
    assert order_of(api, dropped)["status"] == "cancelled"


def test_amazon_answering_503_on_getorders_fails_the_pull_and_a_later_run_recovers(
    api, cloud, fake, monkeypatch
):
    # the run's handler runs in this process: its backoff pauses are skipped
    # (tests/e2e/test_pull_e2e.py waits them out for real)
    monkeypatch.setattr(marketplace_client, "sleep", lambda seconds: None)
    pull(api)
    fake.fail(MARKETPLACE, "error", count=-1, status=503, operation="list")
    for _ in range(3):  # FAILING_AFTER runs in a row
        result = cloud.fire("PullFunction")
        assert (result["failed"], result["queued"]) == (1, 0), result
    status = api.get(f"/integrations/{MARKETPLACE}").json["pull_status"]
    assert (status["state"], status["failures"]) == ("failing", 3) and status["failing_since"]
    assert (status["last_error"]["kind"], status["last_error"]["status"]) == ("unavailable", 503)
    assert not [c for c in fake.calls(MARKETPLACE) if c["operation"] == "fetch"]

    fake.reset()
    back = placed(fake, 120)
    assert run_pull(cloud)["queued"] == 1
    assert order_of(api, back)["status"] == "processing"
    status = api.get(f"/integrations/{MARKETPLACE}").json["pull_status"]
    assert status["state"] == "ok" and status["failures"] == 0 and status["last_error"] is None


# ====================================================================== notifications (SQS)
def test_an_order_change_notification_brings_the_order_in_with_no_pull_run(api, cloud, fake):
    pull(api, on=False)  # only the notification can bring these in
    notified = placed(fake, 30)
    by_amazon = placed(fake, 30, status="Shipped", FulfillmentChannel="AFN")
    # another seller's order (on Amazon.com: the demo's pull, which lists Amazon.co.jp, never reads it)
    elsewhere = placed(fake, 30, MarketplaceId="ATVPDKIKX0DER")
    stranger = notification(elsewhere, seller="AUNCONNECTEDSELLER")
    notify(cloud, notification(notified))
    notify(cloud, notification(by_amazon, status="Shipped", fulfillment="AFN"))
    notify(cloud, stranger)
    cloud.drain(timeout=20)  # the stranger's is delivered again until SQS dead-letters it

    order = order_of(api, notified)
    assert (order["marketplace"], order["origin"], order["status"]) == (MARKETPLACE, "api", "processing")
    assert order["recipient"]["name"] == "山田 太郎" and len(order["items"]) == 2
    delivery_id = (
        f"pull:{MARKETPLACE}:{notified}:{stamp(fake.get_order(MARKETPLACE, notified)['LastUpdateDate'])}"
    )
    assert [h.get("delivery_id") for h in order["history"]] == [delivery_id]
    assert delivery(api, delivery_id)["outcome"] == "applied"
    assert not [c for c in fake.calls(MARKETPLACE) if c["operation"] == "list"]  # no pull ran
    assert amazon_reads(fake, notified)  # getOrder and getOrderItems

    # Amazon-fulfilled: ignored, not even fetched
    assert listed(api, by_amazon) == [] and amazon_reads(fake, by_amazon) == []
    # a seller no merchant connected: not applied, not fetched, kept whole in the DLQ
    assert listed(api, elsewhere) == [] and amazon_reads(fake, elsewhere) == []
    sqs = cloud.client("sqs")

    def dead_lettered() -> list[dict]:  # SQS moves it on the receive after its fifth
        return sqs.receive_message(
            QueueUrl=queue_url(cloud, "AmazonNotificationsDLQ"),
            MaxNumberOfMessages=10,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])

    dead = api.wait_for(dead_lettered, timeout=20)
    assert [m["Body"] for m in dead] == [stranger]
    # delivered to the function maxReceiveCount (5) times before SQS moved it
    assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= 5, dead

    # the pull reads the same change: the same delivery, a duplicate of the notified one
    pull(api)
    assert run_pull(cloud)["queued"] == 1
    record = delivery(api, delivery_id)
    assert record["outcome"] == "applied" and record["duplicates"] == 1, record
    again = order_of(api, notified)
    assert again["version"] == order["version"]
    assert [h.get("delivery_id") for h in again["history"]] == [delivery_id]
