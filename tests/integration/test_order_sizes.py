"""The sizes an order reaches in normal use stay within AWS's limits (DynamoDB's 400 KB item,
Lambda's 6 MB answer): registration refuses an order too big to store, a history entry keeps
the changed lines only, and GET /orders/{id} shows the newest history and pages the rest."""

from __future__ import annotations

import json

import boto3
import pytest

from orderhub.domain import actions
from orderhub.domain.order import ORDER_BYTES
from orderhub.kernel.errors import ValidationFailed
from orderhub.orders import lifecycle, mappings, queries, registration
from orderhub.orders.mapping_jobs import map_order_items
from orderhub.store import keys
from tests.integration.test_registration import body as registration_body

LAMBDA_ANSWER_BYTES = 6 * 1024 * 1024
DYNAMODB_ITEM_BYTES = 400 * 1024


def body(no: str, lines: int, title: str) -> dict:
    """A registration of `lines` item lines with the same title (the registration tests' order)."""
    items = [{"sku": f"SKU-{n:03d}", "title": title, "quantity": 1, "price": "100"} for n in range(lines)]
    return registration_body(no, items=items)


def stored_items(env) -> list[dict]:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    return [i for p in ddb.get_paginator("scan").paginate(TableName=env["TABLE_NAME"]) for i in p["Items"]]


def test_an_order_too_big_to_store_is_refused_naming_the_rule_and_writes_nothing(app_env):
    before = len(stored_items(app_env))
    huge = body("BIG-1", 500, "長い商品名" * 100)  # 500 lines of 1,500-byte titles
    with pytest.raises(ValidationFailed) as exc:
        registration.register_manual("demo", huge)
    assert exc.value.field == "items" and exc.value.details["rule"] == "order_too_large"
    assert str(ORDER_BYTES) in exc.value.message
    assert len(stored_items(app_env)) == before


def test_mapping_500_lines_records_the_changed_lines_not_two_copies_of_them(app_env):
    order = registration.register_manual("demo", body("BIG-2", 500, "商品" * 80))
    mappings.put(
        "demo",
        [{"marketplace": "rakuten", "sku": f"SKU-{n:03d}", "item_code": f"IT-{n:03d}"} for n in range(500)],
    )
    mapped = map_order_items("demo", order["order_id"])
    assert mapped["mapping"] == "ok"
    entry = queries.get_order_with_history("demo", order["order_id"])["history"][-1]
    assert entry["action"] == "items_mapped"
    size = len(json.dumps(entry, ensure_ascii=False, default=str).encode())
    assert size < 64 * 1024, size  # two copies of the 500 lines would be over DynamoDB's 400 KB
    assert entry["changes"]["items"]["lines_after"] == 500


def test_get_order_shows_the_newest_history_and_pages_the_rest(app_env):
    order = registration.register_manual("demo", body("HIST-1", 1, "Tシャツ"))
    oid = order["order_id"]
    for n in range(32):  # 32 holds and releases: 65 entries with the registration
        lifecycle.apply("demo", oid, lambda o, now, n=n: actions.hold(o, f"check {n}", now), actor="merchant")
        lifecycle.apply("demo", oid, lambda o, now, n=n: actions.release(o, f"ok {n}", now), actor="merchant")
    view = queries.get_order_with_history("demo", oid)
    shown = view["history"]
    assert len(shown) == queries.HISTORY_SHOWN
    assert [e["at"] for e in shown] == sorted(e["at"] for e in shown)  # oldest first, as before
    assert shown[-1]["action"] == "released" and shown[-2]["action"] == "held"
    assert view["history_next_cursor"]
    older = queries.order_history("demo", oid, {"cursor": view["history_next_cursor"]})
    assert (
        older["next_cursor"] is None
        or not queries.order_history("demo", oid, {"cursor": older["next_cursor"]})["history"]
    )
    everything = shown + older["history"]
    assert len(everything) == 65
    assert len({json.dumps(e, sort_keys=True, default=str) for e in everything}) == 65  # each once
    assert older["history"][-1]["action"] == "registered"
    assert len(json.dumps(view, default=str).encode()) < LAMBDA_ANSWER_BYTES


def test_history_of_an_unknown_order_is_404(app_env):
    from orderhub.kernel.errors import NotFound

    with pytest.raises(NotFound):
        queries.order_history("demo", "ord_NOPE", {})
    assert keys.HISTORY_PREFIX
