"""Ingestion against moto with the table of template.yaml: transactions, dedupe, counters,
history, races, and what a refused webhook leaves behind (nothing)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from orderhub.domain.models import Envelope
from orderhub.kernel import clock
from orderhub.kernel.errors import MalformedPayload, NotFound, PayloadTooLarge, SignatureInvalid
from orderhub.orders import queries
from orderhub.schedules import sweeps
from orderhub.store import db
from orderhub.webhooks import ingest, receiver
from tests.support.factories import T0, change, later
from tests.support.moto_env import SECRETS

pytestmark = pytest.mark.slowest(13)


def env_of(ch, delivery_id: str, merchant="demo") -> str:
    return Envelope(
        merchant_id=merchant, adapter="shopify", delivery_id=delivery_id, received_at=T0, change=ch
    ).model_dump_json()


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.freeze(later(1))
    yield
    clock.freeze(None)


def all_items(env) -> list[dict]:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    return [i for p in ddb.get_paginator("scan").paginate(TableName=env["TABLE_NAME"]) for i in p["Items"]]


def test_new_order_writes_order_lookup_packing_history_counters_and_delivery(app_env):
    assert ingest.process(env_of(change("A1"), "d1")) == "applied"
    assert sorted(i["sk"]["S"][:2] for i in all_items(app_env)) == sorted(
        ["D#", "#D", "#L", "#O", "#P", "#P", "#P", "H#"]
    )
    # the counters: one delta item in the order's shard, no shared counters item written
    [delta] = [i for i in all_items(app_env) if i["sk"]["S"].startswith("D#")]
    assert delta["pk"]["S"].startswith("MERCHANT#demo#CNT#") and delta["entity"]["S"] == "count_delta"
    [order] = queries.list_orders("demo", {})["orders"]
    assert order["status"] == "pending" and order["hold_release_at"] == clock.iso(later(60))
    assert queries.counts("demo") == {
        "all": 1,
        "pending": 1,
        "new": 0,
        "processing": 0,
        "shipped": 0,
        "on_hold": 0,
        "cancelled": 0,
        "closed": 0,
        "overdue": 0,
    }
    assert db.get_delivery("demo", "shopify", "d1")["outcome"] == "applied"


def test_duplicate_delivery_changes_nothing_and_is_counted(app_env):
    ingest.process(env_of(change("A1"), "d1"))
    before = all_items(app_env)
    assert ingest.process(env_of(change("A1", name="Other"), "d1")) == "duplicate"
    after = all_items(app_env)
    delivery = [i for i in after if i["sk"]["S"] == "#DELIVERY"][0]
    assert delivery["duplicates"]["N"] == "1"
    assert [i for i in after if i["sk"]["S"] != "#DELIVERY"] == [
        i for i in before if i["sk"]["S"] != "#DELIVERY"
    ]


def test_stale_update_is_recorded_in_history_and_changes_nothing(app_env):
    ingest.process(env_of(change("A1", updated_at=later(10)), "d1"))
    [order] = queries.list_orders("demo", {})["orders"]
    assert (
        ingest.process(env_of(change("A1", "updated", updated_at=later(5), name="X"), "d2"))
        == "ignored:stale"
    )
    full = queries.get_order_with_history("demo", order["order_id"])
    assert full["recipient"] == order["recipient"] and full["version"] == 0
    assert [(h["action"], h.get("reason")) for h in full["history"]] == [
        ("created", None),
        ("ignored", "stale"),
    ]


def test_cancel_moves_counters_in_the_same_transaction(app_env):
    ingest.process(env_of(change("A1", method="bank_transfer"), "d1"))
    ingest.process(env_of(change("A1", "cancelled", method="bank_transfer", updated_at=later(5)), "d2"))
    c = queries.counts("demo")
    assert (c["all"], c["new"], c["cancelled"]) == (1, 0, 1)
    assert (
        queries.list_orders("demo", {"status": "cancelled"})["orders"][0]["cancel_reason"]
        == "marketplace_cancelled"
    )
    # the number is retired
    assert (
        ingest.process(env_of(change("A1", "created", updated_at=later(9)), "d3"))
        == "ignored:cancelled_number"
    )


def test_unordered_deliveries_converge(app_env):
    """paid arrives before create, then create (older) arrives: one order, paid, new."""
    ingest.process(env_of(change("B1", "paid", method="konbini", paid=True, updated_at=later(20)), "p"))
    assert (
        ingest.process(env_of(change("B1", "created", method="konbini", paid=False), "c")) == "ignored:stale"
    )
    [order] = queries.list_orders("demo", {})["orders"]
    assert order["status"] == "new"
    assert queries.counts("demo")["all"] == 1


def test_a_lost_race_is_retried_not_half_applied(app_env, monkeypatch):
    """Another delivery writes between our read and our write (deterministically, by
    interleaving it inside our read): our transaction fails on its condition, nothing of it is
    applied, and the retry applies it on top of the winner."""
    real_get_lookup = db.get_lookup
    interleaved = []

    def racing_get_lookup(*args):
        found = real_get_lookup(*args)
        if not interleaved:
            interleaved.append("running")
            interleaved[0] = ingest.process(env_of(change("C1", "updated", updated_at=later(3)), "winner"))
        return found

    monkeypatch.setattr(db, "get_lookup", racing_get_lookup)
    assert (
        ingest.process(env_of(change("C1", "updated", updated_at=later(5), name="Late"), "loser"))
        == "applied"
    )
    assert interleaved == ["applied"]
    [order] = queries.list_orders("demo", {"q": "C1"})["orders"]
    assert queries.counts("demo")["all"] == 1
    assert order["version"] == 1 and order["recipient"]["name"] == "Late"
    history = queries.get_order_with_history("demo", order["order_id"])["history"]
    assert [h["delivery_id"] for h in history] == ["winner", "loser"]


def test_merchants_are_isolated(app_env):
    ingest.process(env_of(change("D1"), "d1", merchant="demo"))
    [order] = queries.list_orders("demo", {})["orders"]
    assert queries.list_orders("demo2", {})["orders"] == []
    with pytest.raises(NotFound):
        queries.get_order_with_history("demo2", order["order_id"])
    assert queries.counts("demo2")["all"] == 0


def test_hold_sweep_releases_only_due_orders(app_env):
    ingest.process(env_of(change("E1", placed_at=T0), "d1"))  # due at T0+60
    ingest.process(env_of(change("E2", placed_at=later(30)), "d2"))  # due at T0+90
    assert sweeps.hold_sweep(later(61)) == {"due": 1, "released": 1, "skipped": 0, "errors": 0}
    statuses = {o["marketplace_order_no"]: o["status"] for o in queries.list_orders("demo", {})["orders"]}
    assert statuses == {"E1": "new", "E2": "pending"}
    assert sweeps.hold_sweep(later(62)) == {"due": 0, "released": 0, "skipped": 0, "errors": 0}
    c = queries.counts("demo")
    assert (c["pending"], c["new"]) == (1, 1)
    [e1] = queries.list_orders("demo", {"q": "E1"})["orders"]
    hist = queries.get_order_with_history("demo", e1["order_id"])["history"]
    assert hist[-1]["actor"] == "system" and hist[-1]["action"] == "released"
    assert e1["released_at"] == clock.iso(later(61))


def test_hold_sweep_skips_an_order_cancelled_meanwhile(app_env):
    ingest.process(env_of(change("F1"), "d1"))
    ingest.process(env_of(change("F1", "cancelled", updated_at=later(2)), "d2"))
    assert sweeps.hold_sweep(later(61))["released"] == 0
    assert queries.list_orders("demo", {"q": "F1"})["orders"][0]["status"] == "cancelled"


def test_list_paging_and_date_filters(app_env):
    for i in range(7):
        ingest.process(env_of(change(f"G{i}", placed_at=T0 - timedelta(days=i)), f"dg{i}"))
    page1 = queries.list_orders("demo", {"page_size": "25"})
    assert [o["marketplace_order_no"] for o in page1["orders"]] == [f"G{i}" for i in range(7)]
    # 2026-11-23 in Tokyo = orders placed 2 days before T0 (T0 is 12:00 JST on 25 Nov)
    day = queries.list_orders("demo", {"from": "2026-11-23", "to": "2026-11-23"})["orders"]
    assert [o["marketplace_order_no"] for o in day] == ["G2"]


def _shopify_headers(secret: str, body: bytes, topic="orders/create", wid="w1") -> dict:
    sig = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {"X-Shopify-Hmac-Sha256": sig, "X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": wid}


def _shopify_body(**over) -> bytes:
    from tests.support.http import load_event

    return json.dumps({**load_event("shopify/orders_create.json"), **over}).encode()


@pytest.mark.parametrize(
    ("adapter", "merchant", "secret", "body", "error", "field"),
    [
        ("ebay", "demo", "x", _shopify_body(), NotFound, "marketplace"),
        ("shopify", "nobody", "x", _shopify_body(), SignatureInvalid, "X-Shopify-Hmac-Sha256"),
        ("shopify", "demo", SECRETS["demo2"]["shopify"], _shopify_body(), SignatureInvalid, None),
        ("shopify", "demo", SECRETS["demo"]["shopify"], b"x" * (256 * 1024 + 1), PayloadTooLarge, "body"),
    ],
)
def test_refused_webhooks_store_and_send_nothing(app_env, adapter, merchant, secret, body, error, field):
    before = all_items(app_env)
    with pytest.raises(error) as exc:
        receiver.receive(adapter, merchant, _shopify_headers(secret, body), body, datetime.now(UTC))
    if field:
        assert exc.value.field == field
    assert all_items(app_env) == before
    sqs = boto3.client("sqs", region_name="us-east-1")
    attrs = sqs.get_queue_attributes(QueueUrl=app_env["INGEST_QUEUE_URL"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert attrs["ApproximateNumberOfMessages"] == "0"


def test_malformed_is_quarantined_and_not_queued(app_env):
    body = _shopify_body(line_items=[])
    with pytest.raises(MalformedPayload) as exc:
        receiver.receive(
            "shopify", "demo", _shopify_headers(SECRETS["demo"]["shopify"], body), body, datetime.now(UTC)
        )
    assert exc.value.field == "line_items"
    [q] = queries.list_quarantine("demo", {})["quarantine"]
    assert q["quarantine_id"] == exc.value.details["quarantine_id"]
    assert q["reason"]["field"] == "line_items" and q["headers"]["x-shopify-topic"] == "orders/create"
    assert queries.list_quarantine("demo2", {})["quarantine"] == []


def test_valid_webhook_is_queued_once(app_env):
    body = _shopify_body()
    result = receiver.receive(
        "shopify", "demo", _shopify_headers(SECRETS["demo"]["shopify"], body), body, datetime.now(UTC)
    )
    assert result == {"status": "queued", "delivery_id": "w1", "topic": "created"}
    sqs = boto3.client("sqs", region_name="us-east-1")
    [msg] = sqs.receive_message(QueueUrl=app_env["INGEST_QUEUE_URL"])["Messages"]
    assert Envelope.model_validate_json(msg["Body"]).delivery_id == "w1"
