"""Schedules that read only what is due, through the sparse by_due index."""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools import Logger
from boto3.dynamodb.conditions import Key

from orderhub import aws, clock, merchants, store
from orderhub.config import settings
from orderhub.domain.ingest import Integration, release_due
from orderhub.errors import ConcurrentUpdate

logger = Logger(child=True)


def due_items(kind: str, now: datetime):
    """Items of `kind` due at or before `now`, oldest first (a Query on the sparse index)."""
    table = aws.table(settings().table_name)
    query = {
        "IndexName": "by_due",
        "KeyConditionExpression": Key("due_kind").eq(kind) & Key("due_at").lte(clock.iso(now) + "#~"),
    }
    while True:
        resp = table.query(**query)
        yield from resp.get("Items", [])
        if "LastEvaluatedKey" not in resp:
            return
        query["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def hold_sweep(now: datetime | None = None) -> dict[str, int]:
    """Release pending card / cash-on-delivery orders whose payment hold has ended (SPEC 2.1)."""
    now = now or clock.now()
    result = {"due": 0, "released": 0, "skipped": 0}
    for item in due_items("HOLD", now):
        result["due"] += 1
        order = store.order_from_item(item)
        integration = Integration.from_profile(
            merchants.get_profile(order["merchant_id"]), order["marketplace"]
        )
        new = release_due(order, integration, now)
        if new is None:
            result["skipped"] += 1
            continue
        new["version"] = order["version"] + 1
        new["updated_at"] = clock.iso(now)
        history = store.history_item(
            new,
            now,
            "system",
            "released",
            reason="payment hold ended",
            changes={"status": [order["status"], new["status"]]},
        )
        try:
            store.transact(store.update_order_ops(order, new, history, None))
        except ConcurrentUpdate:
            # Changed since the index was read (paid, cancelled...): the next sweep sees the truth.
            result["skipped"] += 1
            continue
        result["released"] += 1
    logger.info("hold sweep done", extra=result)
    return result
