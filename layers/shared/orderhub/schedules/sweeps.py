"""Schedules that read only what is due, through the sparse by_due index."""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools import Logger
from boto3.dynamodb.conditions import Key

from orderhub.domain.release import release_due
from orderhub.kernel import clock, metrics
from orderhub.kernel.errors import ConcurrentUpdate, OrderhubError
from orderhub.store import db, keys, sharded
from orderhub.sync import integrations

logger = Logger(child=True)


def due_queries(kind: str, now: datetime) -> list[dict]:
    """One Query per shard of `kind` (and its unsharded legacy value): the items due at or before
    `now`, read by the key condition alone."""
    through = keys.through(clock.iso(now))
    return [
        {
            "IndexName": keys.index(keys.BY_DUE),
            "KeyConditionExpression": Key("due_kind").eq(pk) & Key("due_at").lte(through),
        }
        for pk in keys.all_shards(kind, keys.DUE_SHARDS)
    ]


def due_items(kind: str, now: datetime):
    """The orders of `kind` due at or before `now`, oldest first across the kind's shards (a Query
    per shard on the sparse index, read in parallel and merged by due_at), each read whole from
    the table (db.whole_items) as the sweep reaches it. How long the oldest has waited is counted:
    OldestDueAgeSeconds of the sweep (0 when nothing is due)."""
    return db.whole_items(_due_index_items(kind, now))


def _due_index_items(kind: str, now: datetime):
    any_due = False
    for item in sharded.merged_items(due_queries(kind, now), "due_at"):
        if not any_due:
            any_due = True
            waited = max(0.0, (now - clock.parse_iso(keys.time_of(item["due_at"]))).total_seconds())
            metrics.emit("OldestDueAgeSeconds", waited, sweep=kind.lower())
        yield item
    if not any_due:
        metrics.emit("OldestDueAgeSeconds", 0, sweep=kind.lower())


def hold_sweep(now: datetime | None = None) -> dict[str, int]:
    """Release pending card / cash-on-delivery orders whose payment hold has ended (docs/orders.md)."""
    now = now or clock.now()
    result = {"due": 0, "released": 0, "skipped": 0, "errors": 0}
    for item in due_items(keys.DUE_HOLD, now):
        result["due"] += 1
        order = db.order_from_item(item)
        integration = integrations.for_ingestion(order["merchant_id"], order["marketplace"])
        new = release_due(order, integration, now)
        if new is None:
            result["skipped"] += 1
            continue
        new["version"] = order["version"] + 1
        new["updated_at"] = clock.iso(now)
        history = db.history_item(
            new,
            now,
            "system",
            "released",
            reason="payment hold ended",
            changes={"status": [order["status"], new["status"]]},
        )
        try:
            db.transact(db.update_order_ops(order, new, history, None))
        except ConcurrentUpdate:
            # Changed since the index was read (paid, cancelled...): the next sweep sees the truth.
            result["skipped"] += 1
            continue
        except Exception:  # one order that cannot be written must not hold back the others
            logger.exception(
                "hold sweep failed",
                extra={"merchant_id": order["merchant_id"], "order_id": order["order_id"]},
            )
            result["errors"] += 1
            continue
        result["released"] += 1
    logger.info("hold sweep done", extra=result)
    return result


def deadline_check(now: datetime | None = None) -> dict[str, int]:
    """Overdue unshipped orders (docs/fulfillment.md): only the DEADLINE items of by_due due at or
    before `now` are read. Where the marketplace refunds by itself (the integration's
    `auto_refund_overdue`, orders from the marketplace only) each is cancelled (reason
    deadline_refunded) through lifecycle.apply, with the merchant's violation in the same
    transaction, then reflected to the marketplace; from picking on the order is left to the
    warehouse with a history note. Elsewhere the order is flagged overdue (`overdue_at`) and left
    as it is: it leaves the DEADLINE queue, so it is read once."""
    from orderhub.domain import actions
    from orderhub.domain.deadline import auto_refunds
    from orderhub.orders import lifecycle
    from orderhub.sync import reflect

    now = now or clock.now()
    result = {"due": 0, "refunded": 0, "overdue": 0, "noted": 0, "skipped": 0, "errors": 0}

    overflow: list[dict] = []  # SKU flags of the order just refunded that one transaction cannot hold

    def violation(old: dict, new: dict) -> list[dict]:
        # The violation and the flags of the order's SKUs change with the order, in one transaction.
        if new["status"] != "cancelled":
            return []
        at = clock.now()
        flags = db.sku_flag_ops(new, at)
        overflow[:] = flags[db.SKU_FLAGS_IN_TRANSACTION :]
        return [db.violation_op(new, at), *flags[: db.SKU_FLAGS_IN_TRANSACTION]]

    for item in due_items(keys.DUE_DEADLINE, now):
        result["due"] += 1
        order = db.order_from_item(item)
        m, oid = order["merchant_id"], order["order_id"]
        try:
            refunds = integrations.for_ingestion(m, order["marketplace"]).auto_refund_overdue
            new, outcome = lifecycle.apply(
                m,
                oid,
                lambda o, at, refunds=refunds: actions.deadline_refund(o, now, auto_refunds(o, refunds)),
                actor="system",
                extra_ops=violation,
                current=order,  # read whole by due_items: no second read
            )
        except (OrderhubError, ConcurrentUpdate):
            # Shipped, noted or changed meanwhile: nothing to do (the next run sees the truth).
            result["skipped"] += 1
            continue
        except Exception:  # one bad order must not stop the check
            logger.exception("deadline check failed", extra={"merchant_id": m, "order_id": oid})
            result["errors"] += 1
            continue
        if outcome.action == actions.DEADLINE_OVERDUE:
            result["overdue"] += 1
            continue
        if outcome.action != actions.DEADLINE_REFUND_REASON:
            result["noted"] += 1
            continue
        result["refunded"] += 1
        metrics.count("DeadlineRefunds", marketplace=order["marketplace"], merchant_id=m)
        for op in overflow:
            db.transact([op])  # an order with more SKUs than one transaction holds: the rest
        try:
            reflect.after_merchant_cancel(new)
        except Exception:  # the refund stands; reflect records its own failures
            logger.exception("deadline refund reflect failed", extra={"merchant_id": m, "order_id": oid})
    logger.info("deadline check done", extra=result)
    return result
