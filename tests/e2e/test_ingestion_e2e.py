"""Webhooks travel through the local cloud: HTTP -> receiver -> SQS -> processor -> DynamoDB ->
merchant API, and stream -> EventBridge. Real sockets, signed deliveries."""

from __future__ import annotations

import copy
import itertools
import json
import time
import uuid

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from tests.support.bus import OrderEvents
from tests.support.http import load_event
from tests.support.tables import table_items

pytestmark = [pytest.mark.e2e, pytest.mark.slowest(20)]
_numbers = itertools.count(5001)
_de = TypeDeserializer()


def shopify_order(**overrides) -> dict:
    order = copy.deepcopy(load_event("shopify/orders_create.json"))
    n = next(_numbers)
    order.update({"id": 820982911946150000 + n, "order_number": n, "name": f"#{n}"})
    order.update(overrides)
    return order


def find(api, order_no: str, token=None):
    resp = api.get(f"/orders?q={order_no}", token=token)
    assert resp.status == 200, resp
    return resp.json["orders"]


def created(api, payload, **kw):
    resp = api.post_webhook("shopify", payload, topic="orders/create", **kw)
    assert resp.status == 200, resp
    orders = api.wait_for(lambda: find(api, str(payload["order_number"])), timeout=2.0)
    assert len(orders) == 1
    return orders[0]


def test_shopify_create_is_listed_within_two_seconds(api):
    payload = shopify_order()
    started = time.monotonic()
    order = created(api, payload)
    assert time.monotonic() - started < 2.0
    assert order["marketplace"] == "shopify"
    assert order["marketplace_order_no"] == str(payload["order_number"])
    assert order["origin"] == "api" and order["packing_no"].startswith("PK")
    assert order["recipient"]["country"] == payload["shipping_address"]["country_code"]
    assert order["status"] in ("pending", "new")
    full = api.get(f"/orders/{order['order_id']}")
    assert full.status == 200
    assert [h["action"] for h in full.json["history"]] == ["created"]


def test_same_delivery_twice_leaves_one_order(api, cloud):
    payload = shopify_order()
    delivery = str(uuid.uuid4())
    order = created(api, payload, delivery_id=delivery)
    again = api.post_webhook("shopify", payload, topic="orders/create", delivery_id=delivery)
    assert again.status == 200
    cloud.drain(timeout=10)
    assert len(find(api, str(payload["order_number"]))) == 1
    record = api.get(f"/webhook-deliveries/shopify/{delivery}")
    assert record.status == 200
    assert record.json["outcome"] == "applied" and record.json["duplicates"] == 1
    assert api.get(f"/orders/{order['order_id']}").json["version"] == 0


def test_older_update_changes_nothing_and_cancel_cancels(api, cloud):
    payload = shopify_order(updated_at="2026-11-20T10:00:00+09:00")
    order = created(api, payload)
    counts_before = api.get("/orders/counts").json

    stale = dict(payload, updated_at="2026-11-20T09:00:00+09:00", email="changed@example.com")
    stale["shipping_address"] = dict(payload["shipping_address"], address1="Somewhere else")
    delivery = str(uuid.uuid4())
    assert api.post_webhook("shopify", stale, topic="orders/updated", delivery_id=delivery).status == 200
    cloud.drain(timeout=10)
    after = api.get(f"/orders/{order['order_id']}").json
    assert after["version"] == order["version"]
    assert after["recipient"] == order["recipient"]
    assert after["history"][-1]["action"] == "ignored" and after["history"][-1]["reason"] == "stale"
    assert api.get(f"/webhook-deliveries/shopify/{delivery}").json["reason"] == "stale"

    cancel = dict(
        payload,
        updated_at="2026-11-20T11:00:00+09:00",
        cancelled_at="2026-11-20T11:00:00+09:00",
        cancel_reason="customer",
    )
    assert api.post_webhook("shopify", cancel, topic="orders/cancelled").status == 200
    done = api.wait_for(
        lambda: [o for o in find(api, str(payload["order_number"])) if o["status"] == "cancelled"]
    )
    assert done[0]["cancel_reason"] == "marketplace_cancelled"
    counts = api.get("/orders/counts").json
    assert counts["cancelled"] == counts_before["cancelled"] + 1
    assert counts[order["status"]] == counts_before[order["status"]] - 1
    assert counts["all"] == counts_before["all"]

    # the cancelled number never comes back
    again = dict(payload, updated_at="2026-11-21T11:00:00+09:00", cancelled_at=None)
    assert api.post_webhook("shopify", again, topic="orders/updated").status == 200
    cloud.drain(timeout=10)
    [still] = find(api, str(payload["order_number"]))
    assert still["status"] == "cancelled"


def test_another_merchant_cannot_see_the_order(api, api2):
    order = created(api, shopify_order())
    assert api2.get(f"/orders/{order['order_id']}").status == 404
    assert find(api2, order["marketplace_order_no"]) == []
    assert all(o["merchant_id"] == "demo2" for o in api2.get("/orders?page_size=200").json["orders"])


def test_counts_match_the_lists(api, cloud):
    created(api, shopify_order())
    cloud.drain(timeout=10)
    counts = api.get("/orders/counts").json
    for tab in ("pending", "new", "processing", "shipped", "on_hold", "cancelled", "closed"):
        listed, cursor = 0, None
        while True:
            resp = api.get(f"/orders?status={tab}&page_size=200" + (f"&cursor={cursor}" if cursor else ""))
            listed += len(resp.json["orders"])
            cursor = resp.json["next_cursor"]
            if not cursor:
                break
        assert listed == counts[tab], tab


def test_pagination_walks_every_order_once(api, cloud):
    for _ in range(30):
        api.post_webhook("shopify", shopify_order(), topic="orders/create")
    cloud.drain(timeout=20)
    seen, cursor = [], None
    while True:
        resp = api.get("/orders?page_size=25" + (f"&cursor={cursor}" if cursor else ""))
        assert resp.status == 200, resp
        assert len(resp.json["orders"]) <= 25
        seen += [o["order_id"] for o in resp.json["orders"]]
        cursor = resp.json["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == api.get("/orders/counts").json["all"]
    placed = [o["placed_at"] for o in api.get("/orders?page_size=200").json["orders"]]
    assert placed == sorted(placed, reverse=True)


# ---------------------------------------------------------------- refusals store nothing
def _refused(api, cloud, send, status, field=None):
    before = table_items(cloud)
    resp = send()
    assert resp.status == status, resp
    assert "error" in resp.json or resp.json == {"message": "Unauthorized"}
    if field:
        assert resp.json["error"]["field"] == field, resp.json
    cloud.drain(timeout=10)
    assert table_items(cloud) == before
    return resp


def test_bad_signature_is_401_and_nothing_stored(api, cloud):
    _refused(
        api,
        cloud,
        lambda: api.post_webhook("shopify", shopify_order(), topic="orders/create", secret="not-the-secret"),
        401,
    )


def test_tampered_body_is_401(api, cloud):
    body = json.dumps(shopify_order()).encode()
    from datetime import UTC, datetime

    from scripts.send_webhook import build_request
    from tests.support.http import request

    headers = build_request(
        "shopify",
        body,
        api.merchant["webhook_secrets"]["shopify"],
        "orders/create",
        str(uuid.uuid4()),
        datetime.now(UTC),
    )
    tampered = body.replace(b'"JPY"', b'"USD"')
    _refused(api, cloud, lambda: request("POST", f"{api.base}/webhooks/shopify/demo", tampered, headers), 401)


def test_secret_of_another_merchant_is_401(api, api2, cloud):
    _refused(
        api,
        cloud,
        lambda: api.post_webhook(
            "shopify",
            shopify_order(),
            topic="orders/create",
            secret=api2.merchant["webhook_secrets"]["shopify"],
        ),
        401,
    )


def test_generic_signature_outside_the_window_is_401(api, cloud):
    payload = load_event("generic/order_created.json")
    old = str(int(time.time()) - 301)
    _refused(
        api, cloud, lambda: api.post_webhook("generic", payload, headers={"X-Orderhub-Timestamp": old}), 401
    )


def test_an_unknown_merchant_reads_as_a_wrong_signature_and_an_unknown_marketplace_is_404(api, cloud):
    """The webhook route does not tell which merchant ids exist (docs/reliability.md)."""
    unknown = _refused(
        api,
        cloud,
        lambda: api.post_webhook("shopify", shopify_order(), topic="orders/create", merchant_id="nobody"),
        401,
        "X-Shopify-Hmac-Sha256",
    )
    wrong = _refused(
        api,
        cloud,
        lambda: api.post_webhook("shopify", shopify_order(), topic="orders/create", secret="x" * 32),
        401,
        "X-Shopify-Hmac-Sha256",
    )
    assert unknown.json == wrong.json
    from tests.support.http import request

    _refused(api, cloud, lambda: request("POST", f"{api.base}/webhooks/ebay/demo", b"{}"), 404, "marketplace")


def test_body_over_256_kb_is_413(api, cloud):
    big = shopify_order(note="x" * (256 * 1024))
    _refused(api, cloud, lambda: api.post_webhook("shopify", big, topic="orders/create"), 413, "body")


def test_signed_but_malformed_is_400_and_quarantined(api, cloud):
    bad = shopify_order()
    bad["line_items"][0]["quantity"] = 0
    before = api.get("/quarantine").json["quarantine"]
    resp = api.post_webhook("shopify", bad, topic="orders/create")
    assert resp.status == 400, resp
    assert resp.json["error"]["field"] == "line_items[0].quantity"
    qid = resp.json["error"]["quarantine_id"]
    cloud.drain(timeout=10)
    assert find(api, str(bad["order_number"])) == []
    after = api.get("/quarantine").json["quarantine"]
    assert len(after) == len(before) + 1
    assert after[0]["quarantine_id"] == qid
    assert after[0]["reason"]["field"] == "line_items[0].quantity"
    assert json.loads(after[0]["body"])["order_number"] == bad["order_number"]
    # the other merchant does not see it
    assert qid not in [q["quarantine_id"] for q in api2_quarantine(cloud)]


def api2_quarantine(cloud):
    from tests.support.http import Api

    return Api(cloud.config, "demo2").get("/quarantine").json["quarantine"]


def test_unsigned_merchant_routes_are_401(api):
    assert api.get("/orders", token="").status == 401
    assert api.get("/orders", token="not-a-jwt").status == 401


# ---------------------------------------------------------------- queue and events
def test_poison_message_reaches_the_dlq_while_its_siblings_apply(api, cloud):
    sqs = boto3.client("sqs", endpoint_url=cloud.endpoint_url, region_name="us-east-1")
    queue = cloud.environment["INGEST_QUEUE_URL"]
    dlq = sqs.get_queue_url(QueueName=cloud.physical_name("IngestDLQ"))["QueueUrl"]
    from orderhub.domain.models import Envelope
    from scripts.send_webhook import build_request  # noqa: F401  (same signing as real senders)

    good = []
    from orderhub.marketplaces.registry import get_adapter

    for _ in range(3):
        payload = shopify_order()
        body = json.dumps(payload).encode()
        _, change = get_adapter("shopify").parse(
            {"x-shopify-topic": "orders/create", "x-shopify-webhook-id": str(uuid.uuid4())}, body
        )
        env = Envelope(
            merchant_id="demo",
            adapter="shopify",
            delivery_id=str(uuid.uuid4()),
            received_at=change.placed_at,
            change=change,
        )
        good.append((payload, env.model_dump_json()))
    poison = "this is not an envelope"
    sqs.send_message_batch(
        QueueUrl=queue,
        Entries=[{"Id": "p", "MessageBody": poison}]
        + [{"Id": f"g{i}", "MessageBody": b} for i, (_, b) in enumerate(good)],
    )

    def in_dlq():
        msgs = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        return [m for m in msgs if m["Body"] == poison]

    assert api.wait_for(in_dlq, timeout=30, interval=0.5)
    for payload, _ in good:
        assert len(find(api, str(payload["order_number"]))) == 1


def test_order_events_reach_the_bus(api, cloud):
    bus = OrderEvents(cloud, "e2e-all-orders")
    payload = shopify_order()
    order = created(api, payload)
    cancel = dict(payload, cancelled_at=payload["updated_at"])
    api.post_webhook("shopify", cancel, topic="orders/cancelled")
    cloud.drain(timeout=10)

    seen = []

    def got_all():
        seen[:] = bus.of(order["order_id"])
        kinds = [e["detail-type"] for e in seen]
        return {"OrderCreated", "OrderStatusChanged", "OrderCancelled"} <= set(kinds)

    assert api.wait_for(got_all, timeout=15, interval=0.2)
    created_ev = next(e for e in seen if e["detail-type"] == "OrderCreated")
    assert created_ev["source"] == "orderhub.orders"
    assert created_ev["detail"]["order"]["packing_no"] == order["packing_no"]
    change = next(e for e in seen if e["detail-type"] == "OrderStatusChanged")["detail"]
    assert change["to"] == "cancelled" and change["changed"]["status"]["new"] == "cancelled"


def test_concurrent_writers_lose_no_update(api, cloud):
    """Eight processors apply updates of one order at once (as eight Lambda instances would):
    every update is applied exactly once, and the newest marketplace state wins."""
    import threading
    from datetime import timedelta

    from orderhub.domain.models import Envelope
    from orderhub.kernel import clock
    from orderhub.webhooks import ingest
    from tests.support.factories import change, later

    outcomes, errors = {}, []

    def worker(i):
        env = Envelope(
            merchant_id="demo",
            adapter="shopify",
            delivery_id=f"race-{i}",
            received_at=later(i),
            change=change("RACE-1", "updated", updated_at=later(i) + timedelta(0)),
        )
        try:
            outcomes[i] = ingest.process(env.model_dump_json())
        except Exception as exc:  # reported by the assertion below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    [order] = find(api, "RACE-1")
    applied = [i for i, o in outcomes.items() if o == "applied"]
    assert order["marketplace_updated_at"] == clock.iso(later(7))
    assert sorted(outcomes.values()) == sorted(
        ["applied"] * len(applied) + ["ignored:stale"] * (8 - len(applied))
    )
    for i, outcome in outcomes.items():
        record = api.get(f"/webhook-deliveries/shopify/race-{i}").json
        assert f"{record['outcome']}:{record['reason']}".startswith(outcome), (i, record)
    assert order["version"] == len(applied) - 1


def test_a_delivery_too_big_for_a_queue_message_is_applied_whole_through_s3(api, cloud):
    """A 250 KB generic order (500 lines): its envelope is over SQS's 256 KiB, so it goes to the
    payload bucket and the message points to it (webhooks/payloads.py)."""
    payload = copy.deepcopy(load_event("generic/order_created.json"))
    payload["event_id"] = f"evt_big_{uuid.uuid4().hex}"
    payload["order"]["order_no"] = f"BIG-{uuid.uuid4().hex[:8]}"
    line = {"quantity": 1, "price": "100"}
    payload["order"]["items"] = [dict(line, sku=f"BIG-{n:03d}", title="T" * 440) for n in range(500)]
    body = json.dumps(payload).encode()
    assert 240 * 1024 < len(body) <= 256 * 1024
    assert api.post_webhook("generic", body, topic="created").status == 200
    cloud.drain(timeout=20)
    [order] = find(api, payload["order"]["order_no"])
    assert len(api.get(f"/orders/{order['order_id']}").json["items"]) == 500
    s3 = boto3.client("s3", endpoint_url=cloud.endpoint_url, region_name="us-east-1")
    stored = s3.list_objects_v2(Bucket=cloud.physical_name("PayloadBucket"), Prefix="envelopes/demo/")
    assert any(payload["event_id"] in o["Key"] for o in stored.get("Contents", []))


def test_table_snapshots_read_the_same_items_as_a_consistent_scan(api, cloud):
    """tests/support/tables.py reads moto's table in-process; it must see what a Scan sees."""
    import base64

    from tests.support.tables import scan_table

    assert (
        api.post_webhook("shopify", load_event("shopify/orders_create.json"), topic="orders/create").status
        == 200
    )
    cloud.drain(timeout=10)
    ddb = cloud.client("dynamodb")

    def plain(value):
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    scanned = {}
    for page in ddb.get_paginator("scan").paginate(
        TableName=cloud.environment["TABLE_NAME"], ConsistentRead=True
    ):
        for item in page["Items"]:
            scanned[(item["pk"]["S"], item["sk"]["S"])] = plain(item)
    snapshot = scan_table(cloud)
    assert len(snapshot) > 5 and snapshot == scanned


def test_wish_s_own_webhook_a_batch_of_orders_each_its_own_delivery(api, cloud):
    """Wish posts an array of {data, timestamp} signed with Wish-Hmac-Sha256 and no event id:
    each order is a delivery keyed by its id and updated_at; a malformed one is quarantined alone
    and the answer is 200, so Wish does not resend (and in the end switch off) the batch."""
    from urllib.parse import quote

    [entry] = load_event("wish/webhook_order_release.json")
    good = [copy.deepcopy(entry["data"]) for _ in range(2)]
    for n, order in enumerate(good):
        order["id"] = f"65b0000000000000000000{n:02d}"
    broken = {**copy.deepcopy(entry["data"]), "id": "65b0000000000000000000ff", "state": "LOST"}
    body = json.dumps([{"data": o, "timestamp": o["updated_at"]} for o in (*good, broken)]).encode()

    first = api.post_webhook("wish", body, topic="ORDER_RELEASE")
    assert first.status == 200, first
    assert (first.json["queued"], first.json["quarantined"]) == (2, 1)
    statuses = [(o["index"], o["status"]) for o in first.json["orders"]]
    assert statuses == [(0, "queued"), (1, "queued"), (2, "quarantined")]
    assert first.json["orders"][2]["error"]["field"] == "[2].data.state"
    assert first.json["orders"][2]["error"]["quarantine_id"]
    cloud.drain(timeout=10)
    for order in good:
        [listed] = find(api, order["id"])
        assert (listed["marketplace"], listed["status"]) == ("wish", "new")
    assert find(api, broken["id"]) == []

    # Wish retries the same batch: every order is a duplicate, nothing changes
    again = api.post_webhook("wish", body, topic="ORDER_RELEASE")
    assert again.status == 200 and again.json["queued"] == 2
    cloud.drain(timeout=10)
    delivery = first.json["orders"][0]["delivery_id"]
    for path in (delivery, quote(delivery, safe="")):  # as curl sends it, and percent-encoded
        record = api.get(f"/webhook-deliveries/wish/{path}").json
        assert record.get("outcome") == "applied" and record["duplicates"] == 1, (path, record)

    # a wrong signature changes nothing and stores nothing
    refused = api.post_webhook("wish", body, topic="ORDER_RELEASE", secret="not-the-secret")
    assert refused.status == 401


def test_the_counters_deltas_of_webhooks_are_folded_by_the_stream(api, cloud):
    """Each order transaction puts a counters delta; CounterFoldFunction, started by the table's
    stream, folds them into the shards' bases (with its own IAM policy), and the counts read
    the same before and after."""
    cloud.drain(timeout=10)
    before = api.get("/orders/counts").json
    payloads = [shopify_order() for _ in range(3)]
    for payload in payloads:
        created(api, payload)
    cloud.drain(timeout=10)

    shard_prefix = "MERCHANT#" + api.merchant["merchant_id"] + "#CNT#"

    def counter_items():
        items = [{k: _de.deserialize(v) for k, v in i.items()} for i in cloud.table_items()]
        return [i for i in items if i["pk"].startswith(shard_prefix)]

    def folded():
        items = counter_items()
        return items if items and not [i for i in items if i["sk"].startswith("D#")] else None

    bases = api.wait_for(folded, timeout=10)
    assert {i["sk"] for i in bases} == {"#BASE"} and all(int(i["folds"]) >= 1 for i in bases)
    after = api.get("/orders/counts").json
    assert after["all"] == before["all"] + 3
    assert sum(int(i.get("all", 0)) for i in bases) == after["all"]
