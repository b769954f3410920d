"""Nothing signed is ever lost (docs/webhooks.md, docs/reliability.md): a signed delivery ends
applied, ignored with a reason, or quarantined whole; never a 500 and never a dead letter.

Each case posts a signed delivery to the local cloud, drains the queues and checks what became
of it, and that the ingest dead-letter queue is still empty (a message that can never apply
would reach it after its five receives)."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.http import load_event

pytestmark = [pytest.mark.e2e, pytest.mark.slowest(15)]


def _generic(order_no: str, **order) -> dict:
    payload = copy.deepcopy(load_event("generic/order_created.json"))
    payload["event_id"] = f"evt_lost_{uuid.uuid4().hex}"
    payload["order"]["order_no"] = order_no
    payload["order"].update(order)
    return payload


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _depth(cloud, queue: str) -> int:
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName=cloud.physical_name(queue))["QueueUrl"]
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


# Where a delivery that can never apply ends: the ingest queue's dead letters; and where the
# events of an order change that can never be published end (the stream's failure queue).
DEAD_ENDS = ("IngestDLQ", "StreamFailureQueue")


def _quarantined(api, qid: str) -> dict:
    entries = api.get("/quarantine?page_size=200").json["quarantine"]
    [entry] = [e for e in entries if e["quarantine_id"] == qid]
    return entry


@pytest.fixture(autouse=True)
def _dead_letters_stay_empty(cloud):
    assert [_depth(cloud, q) for q in DEAD_ENDS] == [0, 0]
    yield
    cloud.drain(timeout=30)
    assert [_depth(cloud, q) for q in DEAD_ENDS] == [0, 0], (
        "a signed delivery or its events were dead-lettered"
    )


def test_a_placed_at_near_the_end_of_time_is_quarantined_naming_the_field(api, cloud):
    """9999-12-31T23:30:00Z parses, but the hold window after it does not exist: it was
    acknowledged and then failed on every receive. Now it is outside the date range (2000-01-01
    to 2100-01-01) and refused at once, kept whole."""
    payload = _generic("LOST-FAR-1", placed_at="9999-12-31T23:30:00Z")
    resp = api.post_webhook("generic", payload)
    assert resp.status == 400, resp
    error = resp.json["error"]
    assert error["field"] == "order.placed_at", error
    entry = _quarantined(api, error["quarantine_id"])
    assert json.loads(entry["body"]) == payload


def test_an_update_dated_far_ahead_of_receipt_is_quarantined(api, cloud):
    """A change dated next year would freeze the order: every later real update looks stale."""
    ahead = _iso(datetime.now(UTC) + timedelta(days=2))
    resp = api.post_webhook("generic", _generic("LOST-AHEAD-1", updated_at=ahead))
    assert resp.status == 400, resp
    assert resp.json["error"]["field"] == "order.updated_at", resp.json


def test_a_226_kb_update_of_a_500_line_order_applies(api, cloud):
    """The update of every line of a 500-line order: the order, its history entry and the
    delivery record each stay under DynamoDB's 400 KB, and its OrderUpdated event under
    EventBridge's 256 KiB (it carried the old and the new lines whole, 433 KB, so the stream
    publisher failed on every retry and the record went to StreamFailureQueue)."""
    no = f"LOST-BIG-{uuid.uuid4().hex[:6]}"
    start = datetime.now(UTC) - timedelta(hours=3)
    lines = [{"sku": f"BIG-{n:03d}", "title": "緑茶" * 60, "quantity": 1, "price": "100"} for n in range(500)]
    created = _generic(no, placed_at=_iso(start), updated_at=_iso(start), items=lines)
    assert api.post_webhook("generic", json.dumps(created, ensure_ascii=False).encode()).status == 200
    cloud.drain(timeout=30)
    [order] = api.get(f"/orders?q={no}").json["orders"]

    changed = [dict(line, title="煎茶" * 60, quantity=2) for line in lines]
    update = _generic(no, placed_at=_iso(start), updated_at=_iso(start + timedelta(hours=1)), items=changed)
    update["type"] = "order.updated"
    body = json.dumps(update, ensure_ascii=False).encode()
    assert 200 * 1024 < len(body) <= 256 * 1024, len(body)
    resp = api.post_webhook("generic", body)
    assert resp.status == 200, resp
    cloud.drain(timeout=30)

    delivery = api.get(f"/webhook-deliveries/generic/{update['event_id']}").json
    assert delivery["outcome"] == "applied", delivery
    after = api.get(f"/orders/{order['order_id']}").json
    assert after["version"] == order["version"] + 1
    assert [i["quantity"] for i in after["items"]] == [2] * 500
    assert after["items"][499]["title"] == "煎茶" * 60
    [entry] = [h for h in after["history"] if h.get("delivery_id") == update["event_id"]]
    assert entry["changes"]["items"]["lines_after"] == 500 and entry["changes"]["items"]["omitted"] > 0


def test_a_160_kb_shift_jis_body_is_quarantined_whole(api, cloud):
    """Not UTF-8, so not JSON: quarantined. Decoded with replacement characters it weighed more
    than 400 KB as an item; now its bytes are kept whole in the payload bucket and the quarantine
    entry points to them."""
    text = json.dumps(_generic("LOST-SJIS-1", note="注文メモ" * 20_000), ensure_ascii=False)
    body = text.encode("cp932")
    assert 150 * 1024 < len(body) < 256 * 1024
    resp = api.post_webhook("generic", body)
    assert resp.status == 400, resp
    error = resp.json["error"]
    assert error["field"] == "body", error
    entry = _quarantined(api, error["quarantine_id"])
    assert "body" not in entry
    stored = entry["body_object"]
    assert stored["bytes"] == len(body) and stored["sha256"] == hashlib.sha256(body).hexdigest()
    obj = cloud.client("s3").get_object(Bucket=cloud.physical_name("PayloadBucket"), Key=stored["key"])
    assert obj["Body"].read() == body


def test_a_timestamp_before_the_first_year_is_quarantined(api, cloud):
    """0001-01-01T00:00:00+09:00 is in year 0 once converted to UTC: it was a 500."""
    payload = copy.deepcopy(load_event("shopify/orders_create.json"))
    payload.update(order_number=930001, name="#930001", id=930001, updated_at="0001-01-01T00:00:00+09:00")
    resp = api.post_webhook("shopify", payload, topic="orders/create")
    assert resp.status == 400, resp
    assert resp.json["error"]["field"] == "updated_at", resp.json
    assert _quarantined(api, resp.json["error"]["quarantine_id"])["reason"]["field"] == "updated_at"
