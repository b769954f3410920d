"""Data access for the single table. Every state-dependent write is conditional; counters and
history change in the same transaction as the order. Lists are Queries on a key or an index.

Every key and index name is built by store/keys.py; this module decides which index attributes an
order carries (index_attrs). docs/data-model.md lists the items.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from itertools import islice
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from orderhub.domain.deadline import is_overdue, is_unfulfilled
from orderhub.domain.status import (
    SHIPMENT_LIST_STAGES,
    TABS,
    TERMINAL_STATUSES,
    WAREHOUSE_QUEUE_STAGES,
)
from orderhub.kernel import aws, clock, correlation
from orderhub.kernel.config import settings
from orderhub.kernel.errors import ConcurrentUpdate, DuplicateDelivery
from orderhub.store import counters, keys

DELIVERY_TTL_DAYS = 7

_ser = TypeSerializer()
_de = TypeDeserializer()


# ------------------------------------------------------------------ items
def violation_op(order: dict, at: datetime) -> dict:
    """A missed fulfillment deadline, recorded for the merchant (GET /violations)."""
    stamp = clock.iso(at)
    item = {
        "pk": keys.violation_pk(order["merchant_id"]),
        "sk": keys.time_sk(stamp, order["order_id"]),
        "entity": "violation",
        "kind": "deadline_refunded",
        "at": stamp,
        "merchant_id": order["merchant_id"],
        "order_id": order["order_id"],
        "marketplace": order["marketplace"],
        "marketplace_order_no": order["marketplace_order_no"],
        "deadline_at": order.get("deadline_at"),
        "skus": sorted({i["sku"] for i in order.get("items", []) if i.get("sku")}),
    }
    return _put(item, "attribute_not_exists(pk)")


SKU_FLAGS_IN_TRANSACTION = 90


def sku_flag_ops(order: dict, at: datetime) -> list[dict]:
    """Flag each SKU of a deadline-refunded order (docs/fulfillment.md: its products may be disabled):
    a counter per marketplace SKU with the last order, listed at GET /flagged-skus."""
    ops = []
    for sku in sorted({i["sku"] for i in order.get("items", []) if i.get("sku")}):
        ops.append(
            {
                "Update": {
                    "TableName": settings().table_name,
                    "Key": _av(
                        {
                            "pk": keys.sku_flag_pk(order["merchant_id"]),
                            "sk": keys.sku_sk(order["marketplace"], sku),
                        }
                    ),
                    "UpdateExpression": "SET entity = :e, marketplace = :mp, sku = :sku, last_order_id = :o,"
                    " last_marketplace_order_no = :no, last_at = :at ADD refunds :one",
                    "ExpressionAttributeValues": _av(
                        {
                            ":e": "sku_flag",
                            ":mp": order["marketplace"],
                            ":sku": sku,
                            ":o": order["order_id"],
                            ":no": order["marketplace_order_no"],
                            ":at": clock.iso(at),
                            ":one": 1,
                        }
                    ),
                }
            }
        )
    return ops


USE_PREFIX = "u_"  # one attribute per order using the number: u_<order_id>


def tracking_release_op(order: dict) -> dict | None:
    """The order no longer uses its tracking number (changed, or cancelled by the carrier). A
    top-level REMOVE is valid whether or not the use was recorded, so it never blocks the order's
    write; the version bump makes a concurrent claim re-read."""
    number = (order.get("tracking") or {}).get("tracking_number")
    if not number:
        return None
    return {
        "Update": {
            "TableName": settings().table_name,
            "Key": _av(keys.tracking_key(order["merchant_id"], number)),
            "UpdateExpression": "REMOVE #u ADD ver :one",
            "ExpressionAttributeNames": {"#u": USE_PREFIX + order["order_id"]},
            "ExpressionAttributeValues": _av({":one": 1}),
        }
    }


def put_op(item: dict, condition: str | None = None, values: dict | None = None) -> dict:
    return _put(item, condition, values)


def index_attrs(order: dict) -> dict:
    """The attributes that place an order in the list, tab, search and sweep indexes."""
    m, oid, status = order["merchant_id"], order["order_id"], order["status"]
    attrs: dict[str, Any] = {
        "placed_sk": keys.time_sk(order["placed_at"], oid),
        "updated_sk": keys.time_sk(order["updated_at"], oid),
        "order_no_pk": keys.order_no_pk(m, order["marketplace_order_no"]),
    }
    if status != "deleted":  # deleted orders leave the lists and tabs but stay searchable
        attrs["list_pk"] = keys.sharded(keys.list_pk(m), oid, keys.LIST_SHARDS)
        attrs["status_pk"] = keys.sharded(keys.status_pk(m, status), oid, keys.LIST_SHARDS)
    if status == "pending" and order.get("hold_release_at"):
        attrs["due_kind"] = keys.sharded(keys.DUE_HOLD, oid, keys.DUE_SHARDS)
        attrs["due_at"] = keys.time_sk(order["hold_release_at"], m, oid)
    if status == "deleted" and order.get("closeout_state") == "relinking":  # the relink sweep's queue
        attrs["due_kind"] = keys.sharded(keys.DUE_RELINK, oid, keys.DUE_SHARDS)
        attrs["due_at"] = keys.time_sk(order["relink_requested_at"], m, oid)
    if is_unfulfilled(order):
        # Released and not shipped: the deadline check's queue, or OVERDUE once the check flagged
        # it and left it (auto-refund off: never read by the check again). Never overlaps HOLD
        # (pending) or RELINK (deleted), so an item has one due_kind.
        overdue = is_overdue(order)
        flagged = overdue and bool(order.get("overdue_at"))
        kind = keys.DUE_OVERDUE if flagged else keys.DUE_DEADLINE
        attrs["due_kind"] = keys.sharded(kind, oid, keys.DUE_SHARDS)  # <kind>#<shard>: write-sharded
        attrs["due_at"] = keys.time_sk(order["deadline_at"], m, oid)
        if overdue:  # the overdue preset's filter (GET /orders?preset=overdue)
            attrs["overdue"] = True
    if status in ("deleted", "cancelled"):  # sparse: the cancelled-orders view (by_closed_out)
        closed_at = order.get("deleted_at") or order.get("cancelled_at") or order["updated_at"]
        attrs["cancel_pk"] = keys.cancel_pk(m)
        attrs["cancel_sk"] = keys.time_sk(closed_at, oid)
        attrs["closed_reason"] = closed_reason(order)
    stage = order.get("shipment_stage", "none")
    if stage in WAREHOUSE_QUEUE_STAGES and status not in TERMINAL_STATUSES:
        attrs["stage_pk"] = keys.sharded(keys.stage_pk(stage), oid, keys.STAGE_SHARDS)
        attrs["stage_sk"] = keys.time_sk(order.get("shipment_requested_at") or order["updated_at"], m, oid)
    listed = shipment_list_stage(order)
    if listed:  # sparse: the merchant's shipment list (by_merchant_stage, docs/data-model.md)
        attrs["ship_pk"] = keys.merchant_stage_pk(m, listed)
        attrs["ship_sk"] = keys.time_sk(order.get("shipment_requested_at") or order["updated_at"], oid)
        # The list row's summary, projected instead of the whole recipient and items.
        items = order.get("items") or []
        attrs["ship_name"] = (order.get("recipient") or {}).get("name") or ""
        attrs["ship_lines"] = len(items)
        attrs["ship_units"] = sum(int(i.get("quantity") or 0) for i in items)
    return attrs


def shipment_list_stage(order: dict | None) -> str | None:
    """The stage under which the merchant's shipment list shows an order (None: not listed): a
    shipment the warehouse has or had, of an order that is not deleted."""
    if not order or order.get("status") == "deleted":
        return None
    stage = order.get("shipment_stage", "none")
    return stage if stage in SHIPMENT_LIST_STAGES else None


INDEX_ATTRS = (
    "list_pk",
    "status_pk",
    "placed_sk",
    "updated_sk",
    "order_no_pk",
    "due_kind",
    "due_at",
    "overdue",
    "stage_pk",
    "stage_sk",
    "cancel_pk",
    "cancel_sk",
    "closed_reason",
    "ship_pk",
    "ship_sk",
    "ship_name",
    "ship_lines",
    "ship_units",
)
KEY_ATTRS = ("pk", "sk", "entity", *INDEX_ATTRS)


def closed_reason(order: dict) -> str | None:
    """Why an order is in the cancelled-orders view (None when it is not there)."""
    if order.get("status") == "deleted":
        return order.get("deleted_reason") or (
            "seller_deleted_api" if order.get("origin") == "api" else "seller_deleted_manual"
        )
    if order.get("status") == "cancelled":
        return order.get("cancel_reason") or "seller_cancelled"
    return None


def order_item(order: dict) -> dict:
    """The order's item: its keys, the order, its index attributes, and the correlation id of
    the work writing it (kernel/correlation.py: the id of the order's last change)."""
    return correlation.stamp(
        {
            **keys.order_key(order["merchant_id"], order["order_id"]),
            "entity": "order",
            **order,
            **index_attrs(order),
        }
    )


def order_from_item(item: dict) -> dict:
    return plain_item(item, KEY_ATTRS)


def plain_item(item: dict, drop: tuple[str, ...] = ("pk", "sk", "entity")) -> dict:
    """An item as the API shows it: plain numbers, without its keys (and `drop`)."""
    return {k: _plain(v) for k, v in item.items() if k not in drop}


def _plain(v):
    """DynamoDB numbers come back as Decimal; our numbers are integers (money is text)."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


# ------------------------------------------------------------------ low level
def _table():
    return aws.table(settings().table_name)


def query_pages(query: dict, table=None) -> Iterator[dict]:
    """Every page of a Query (each response), following LastEvaluatedKey; `query` is left as it
    is. Stop iterating to stop reading."""
    table = table or _table()
    q = dict(query)
    while True:
        resp = table.query(**q)
        yield resp
        if "LastEvaluatedKey" not in resp:
            return
        q["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def query_items(query: dict, table=None) -> Iterator[dict]:
    """Every item of a Query, page after page (query_pages)."""
    for resp in query_pages(query, table):
        yield from resp.get("Items", [])


def query_items_upto(query: dict, max_read: int) -> tuple[list[dict], bool]:
    """The items of a Query, reading pages until about `max_read` items were read (a filter's
    misses count): (items, complete), complete False when pages were left unread."""
    items: list[dict] = []
    read = 0
    for resp in query_pages(query):
        items.extend(resp.get("Items", []))
        read += resp.get("ScannedCount", 0)
        if read >= max_read and "LastEvaluatedKey" in resp:
            return items, False
    return items, True


# BatchGetItem reads at most 100 items a call; keys it leaves unprocessed (throttling) are asked
# again after a pause that doubles, at most BATCH_GET_ATTEMPTS times in all.
BATCH_GET_MAX = 100
BATCH_GET_ATTEMPTS = 6


def whole_items(index_items: Iterable[dict], chunk: int = BATCH_GET_MAX) -> Iterator[dict]:
    """The whole items behind items read from an order index, in their order. A slim index
    (keys.slim_indexes) projects only some attributes: the items are read from the table, one
    BatchGetItem per `chunk` of them, as the caller goes on (a sweep that stops early reads no
    further). During an older stack's migration the whole-order indexes are read and their items
    are passed as they are. An item the table no longer holds is left out. Not a consistent read:
    a write that depends on the item is conditional on its version anyway."""
    if not keys.slim_indexes():
        yield from index_items
        return
    wanted = iter(index_items)
    while batch := list(islice(wanted, chunk)):
        found = get_items([{"pk": i["pk"], "sk": i["sk"]} for i in batch])
        for item in batch:
            whole = found.get((item["pk"], item["sk"]))
            if whole is not None:
                yield whole


def get_items(item_keys: list[dict]) -> dict[tuple[str, str], dict]:
    """The table's items of `item_keys` (pk and sk) by (pk, sk): one BatchGetItem per
    BATCH_GET_MAX keys (a key asked twice is asked once); a key the table does not hold is not
    in the answer."""
    unique = list({(k["pk"], k["sk"]): k for k in item_keys}.values())
    found: dict[tuple[str, str], dict] = {}
    for start in range(0, len(unique), BATCH_GET_MAX):
        found.update(_batch_get(unique[start : start + BATCH_GET_MAX]))
    return found


def _batch_get(item_keys: list[dict]) -> dict[tuple[str, str], dict]:
    """At most BATCH_GET_MAX distinct keys, read with the unprocessed ones asked again."""
    name = settings().table_name
    client = _table().meta.client
    found: dict[tuple[str, str], dict] = {}
    request = {name: {"Keys": item_keys}}
    for attempt in range(BATCH_GET_ATTEMPTS):
        resp = client.batch_get_item(RequestItems=request)
        for item in resp.get("Responses", {}).get(name, []):
            found[(item["pk"], item["sk"])] = item
        request = resp.get("UnprocessedKeys") or {}
        if not request:
            return found
        time.sleep(0.05 * 2**attempt)
    raise RuntimeError(f"BatchGetItem left {len(request[name]['Keys'])} items unread (throttled)")


def _client():
    return aws.client("dynamodb")


def _av(item: dict) -> dict:
    return {k: _ser.serialize(v) for k, v in item.items()}


def from_av(item: dict) -> dict:
    return {k: _de.deserialize(v) for k, v in item.items()}


def _put(item: dict, condition: str | None = None, values: dict | None = None) -> dict:
    op: dict[str, Any] = {"TableName": settings().table_name, "Item": _av(item)}
    if condition:
        op["ConditionExpression"] = condition
    if values:
        op["ExpressionAttributeValues"] = _av(values)
    return {"Put": op}


def _counter_update(merchant_id: str, order_id: str, *parts: dict[str, int]) -> dict | None:
    """The transaction's counter change: one new delta item in the order's counters shard, the
    parts' deltas summed (two parts may move one counter); None when nothing moves
    (store/counters.py)."""
    return counters.delta_op(merchant_id, order_id, _sum_deltas(*parts))


def counter_deltas(old_status: str | None, new_status: str | None) -> dict[str, int]:
    """+1/-1 per tab; `all` counts every order that is not deleted."""
    if old_status == new_status:
        return {}
    deltas: dict[str, int] = {}
    for s, d in ((old_status, -1), (new_status, +1)):
        if s is None or s == "deleted":
            continue
        deltas["all"] = deltas.get("all", 0) + d
        if s in TABS:
            deltas[s] = deltas.get(s, 0) + d
    return deltas


def overdue_deltas(old: dict | None, new: dict | None) -> dict[str, int]:
    """+1/-1 on the `overdue` counter as an order is flagged overdue or stops being so."""
    d = int(bool(new and is_overdue(new))) - int(bool(old and is_overdue(old)))
    return {"overdue": d} if d else {}


def reason_deltas(old: dict | None, new: dict | None) -> dict[str, int]:
    """+1/-1 per `reason:<reason>` counter of the cancelled-orders view."""
    before = closed_reason(old) if old else None
    after = closed_reason(new) if new else None
    if before == after:
        return {}
    return {k: d for k, d in ((f"reason:{before}", -1), (f"reason:{after}", +1)) if not k.endswith(":None")}


def stage_deltas(old: dict | None, new: dict | None) -> dict[str, int]:
    """+1/-1 per `stage:<stage>` counter of the shipment list (shipment_list_stage)."""
    before, after = shipment_list_stage(old), shipment_list_stage(new)
    if before == after:
        return {}
    return {f"stage:{s}": d for s, d in ((before, -1), (after, +1)) if s}


def _sum_deltas(*parts: dict[str, int]) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in parts:
        for k, d in part.items():
            total[k] = total.get(k, 0) + d
    return total


def history_item(order: dict, at: datetime, actor: str, action: str, **data) -> dict:
    """An append-only history entry. The sk sorts by time; within one millisecond (or under a
    frozen clock) the wall clock's nanoseconds keep the order of writing; a random suffix keeps it unique."""
    stamp = clock.iso(at)
    item = {
        "pk": keys.order_pk(order["merchant_id"], order["order_id"]),
        "sk": keys.history_sk(stamp, time.time_ns() % 10**15, secrets.token_hex(3)),
        "entity": "history",
        "at": stamp,
        "actor": actor,
        "action": action,
    }
    item.update({k: v for k, v in data.items() if v not in (None, "", [], {})})
    return correlation.stamp(item)


def delivery_item(env: dict, outcome: str, reason: str, order_id: str | None, now: datetime) -> dict:
    return correlation.stamp(
        {
            **keys.delivery_key(env["merchant_id"], env["adapter"], env["delivery_id"]),
            "entity": "delivery",
            "merchant_id": env["merchant_id"],
            "adapter": env["adapter"],
            "delivery_id": env["delivery_id"],
            "topic": env["topic"],
            "marketplace_order_no": env["marketplace_order_no"],
            "received_at": env["received_at"],
            "processed_at": clock.iso(now),
            "outcome": outcome,
            "reason": reason,
            "order_id": order_id,
            "duplicates": 0,
            "expires_at": int(now.timestamp()) + DELIVERY_TTL_DAYS * 86400,
        }
    )


def transact(ops: list[dict | None]) -> None:
    """Run a transaction. A failed delivery condition (always the first op when present) means a
    duplicate delivery; any other failed condition means a concurrent change."""
    ops = [o for o in ops if o is not None]
    try:
        _client().transact_write_items(TransactItems=ops)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "TransactionCanceledException":
            raise
        reasons = exc.response.get("CancellationReasons") or []
        codes = [r.get("Code", "None") for r in reasons]
        first_is_delivery = ops[0].get("Put", {}).get("Item", {}).get("sk") == {"S": keys.DELIVERY_SK}
        if first_is_delivery and codes and codes[0] == "ConditionalCheckFailed":
            raise DuplicateDelivery() from exc
        if "ConditionalCheckFailed" in codes or "TransactionConflict" in codes:
            raise ConcurrentUpdate(",".join(codes)) from exc
        raise


# ------------------------------------------------------------------ reads
def get_lookup(merchant_id: str, marketplace: str, order_no: str) -> dict | None:
    resp = _table().get_item(Key=keys.lookup_key(merchant_id, marketplace, order_no), ConsistentRead=True)
    return resp.get("Item")


def get_order(merchant_id: str, order_id: str) -> dict | None:
    resp = _table().get_item(Key=keys.order_key(merchant_id, order_id), ConsistentRead=True)
    item = resp.get("Item")
    return order_from_item(item) if item else None


def tab_counts(all_counters: dict[str, int]) -> dict[str, int]:
    """The tab counts and `overdue` of counters.read's answer, clamped at 0."""
    return {k: max(0, int(all_counters.get(k, 0))) for k in ("all", *TABS, "overdue")}


def reason_counts(all_counters: dict[str, int], reasons: tuple[str, ...]) -> dict[str, int]:
    return {r: max(0, int(all_counters.get(f"reason:{r}", 0))) for r in reasons}


def stage_counts(all_counters: dict[str, int]) -> dict[str, int]:
    return {s: max(0, int(all_counters.get(f"stage:{s}", 0))) for s in SHIPMENT_LIST_STAGES}


def get_counts(merchant_id: str) -> dict[str, int]:
    return tab_counts(counters.read(merchant_id))


def get_reason_counts(merchant_id: str, reasons: tuple[str, ...]) -> dict[str, int]:
    return reason_counts(counters.read(merchant_id), reasons)


def get_stage_counts(merchant_id: str) -> dict[str, int]:
    """The shipment list's count per stage (the `stage:<stage>` counters)."""
    return stage_counts(counters.read(merchant_id))


def get_delivery(merchant_id: str, adapter: str, delivery_id: str) -> dict | None:
    item = _table().get_item(Key=keys.delivery_key(merchant_id, adapter, delivery_id)).get("Item")
    if not item:
        return None
    return plain_item(item, ("pk", "sk", "entity", "expires_at"))


# ------------------------------------------------------------------ writes used by ingestion
def create_order_ops(
    order: dict, history: dict, delivery: dict | None, replaces: str | None = None
) -> list[dict | None]:
    """A new order. Its number's lookup item must not exist, or, with `replaces`, must still point
    to that order and that order must still be deleted (a deleted number registered again)."""
    m = order["merchant_id"]
    lookup = {
        **keys.lookup_key(m, order["marketplace"], order["marketplace_order_no"]),
        "entity": "lookup",
        "order_id": order["order_id"],
    }
    packing = {
        **keys.packing_key(order["packing_no"]),
        "entity": "packing",
        "merchant_id": m,
        "order_id": order["order_id"],
    }
    not_exists = "attribute_not_exists(pk)"
    if replaces is None:
        lookup_op = _put(lookup, not_exists)
    else:
        lookup_op = _put(lookup, "order_id = :old", {":old": replaces})
    return [
        _put(delivery, not_exists) if delivery else None,
        lookup_op,
        _still_deleted(m, replaces) if replaces else None,
        _put(packing, not_exists),
        _put(order_item(order), not_exists),
        _put(history),
        _counter_update(
            m,
            order["order_id"],
            counter_deltas(None, order["status"]),
            reason_deltas(None, order),
            stage_deltas(None, order),
        ),
    ]


def relink_ops(
    old: dict, old_new: dict, old_history: dict, order: dict, history: dict, *, number_holder: str | None
) -> list[dict | None]:
    """A relink in one transaction: the new order (new packing number), the number's lookup
    re-pointed to it (it must still point to `number_holder`: the deleted order itself, or another
    deleted order, which must still be deleted; None: the lookup must be missing), the old
    packing number retired, and the deleted order marked relinked (it must still be at its
    version, i.e. relinking)."""
    assert old_new["version"] == old["version"] + 1
    m = order["merchant_id"]
    packing = {
        **keys.packing_key(order["packing_no"]),
        "entity": "packing",
        "merchant_id": m,
        "order_id": order["order_id"],
    }
    retire = {
        "Update": {
            "TableName": settings().table_name,
            "Key": _av(keys.packing_key(old["packing_no"])),
            "UpdateExpression": "SET retired = :t, replaced_by = :new",
            "ConditionExpression": "order_id = :old",
            "ExpressionAttributeValues": _av(
                {":t": True, ":new": order["packing_no"], ":old": old["order_id"]}
            ),
        }
    }
    return [
        repoint_lookup_op(order, number_holder),
        _still_deleted(m, number_holder) if number_holder not in (None, old["order_id"]) else None,
        _put(packing, "attribute_not_exists(pk)"),
        retire,
        _put(order_item(order), "attribute_not_exists(pk)"),
        _put(history),
        _put(
            order_item(old_new),
            "version = :v AND closeout_state = :r",
            {":v": old["version"], ":r": "relinking"},
        ),
        _put(old_history),
        _counter_update(
            m,
            order["order_id"],
            counter_deltas(None, order["status"]),
            reason_deltas(None, order),
            stage_deltas(None, order),
            stage_deltas(old, old_new),
        ),
    ]


def repoint_lookup_op(order: dict, previous: str | None) -> dict:
    """Point an order number's lookup back to `order` (a restore). It must still point to
    `previous` (a deleted order: check it with `still_deleted_op`) or, with None, be missing."""
    lookup = {
        **keys.lookup_key(order["merchant_id"], order["marketplace"], order["marketplace_order_no"]),
        "entity": "lookup",
        "order_id": order["order_id"],
    }
    if previous is None:
        return _put(lookup, "attribute_not_exists(pk)")
    return _put(lookup, "order_id = :old", {":old": previous})


def still_deleted_op(merchant_id: str, order_id: str) -> dict:
    return _still_deleted(merchant_id, order_id)


def _still_deleted(merchant_id: str, order_id: str) -> dict:
    return {
        "ConditionCheck": {
            "TableName": settings().table_name,
            "Key": _av(keys.order_key(merchant_id, order_id)),
            "ConditionExpression": "#s = :deleted",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": _av({":deleted": "deleted"}),
        }
    }


def update_order_ops(old: dict, new: dict, history: dict | None, delivery: dict | None) -> list[dict | None]:
    """Version-checked replace of the order; `new` must carry version old+1."""
    assert new["version"] == old["version"] + 1
    old_number = (old.get("tracking") or {}).get("tracking_number")
    released = old_number and old_number != (new.get("tracking") or {}).get("tracking_number")
    return [
        _put(delivery, "attribute_not_exists(pk)") if delivery else None,
        _put(order_item(new), "version = :v", {":v": old["version"]}),
        _put(history) if history else None,
        tracking_release_op(old) if released else None,
        _counter_update(
            new["merchant_id"],
            new["order_id"],
            counter_deltas(old["status"], new["status"]),
            reason_deltas(old, new),
            overdue_deltas(old, new),
            stage_deltas(old, new),
        ),
    ]


def ignore_ops(history: dict | None, delivery: dict) -> list[dict | None]:
    return [_put(delivery, "attribute_not_exists(pk)"), _put(history) if history else None]


def count_duplicate(merchant_id: str, adapter: str, delivery_id: str) -> None:
    _table().update_item(
        Key=keys.delivery_key(merchant_id, adapter, delivery_id),
        UpdateExpression="ADD duplicates :one",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":one": 1},
    )


def put_quarantine(
    merchant_id: str, adapter: str, reason: dict, headers: dict, body: dict, now: datetime
) -> str:
    """A signed delivery refused whole; `body` is {"body": text} or {"body_object": pointer}
    (webhooks/payloads.py quarantined_body)."""
    qid = "q_" + secrets.token_hex(8)
    _table().put_item(
        Item=correlation.stamp(
            {
                "pk": keys.quarantine_pk(merchant_id),
                "sk": keys.time_sk(clock.iso(now), qid),
                "entity": "quarantine",
                "quarantine_id": qid,
                "merchant_id": merchant_id,
                "adapter": adapter,
                "received_at": clock.iso(now),
                "reason": reason,
                "headers": headers,
                **body,
            }
        )
    )
    return qid


# ------------------------------------------------------------------ pull ingestion (docs/pull.md)
def get_pull_item(merchant_id: str, marketplace: str) -> dict | None:
    """A pulled integration's item: enabled, cursor, version, failures, last_error."""
    return _table().get_item(Key=keys.pull_key(merchant_id, marketplace), ConsistentRead=True).get("Item")


def set_pull_enabled(merchant_id: str, marketplace: str, enabled: bool) -> None:
    """Put the integration in the pull's list, or take it out; its cursor is kept."""
    _table().update_item(
        Key=keys.pull_key(merchant_id, marketplace),
        UpdateExpression="SET merchant_id = :m, marketplace = :mp, enabled = :on, "
        "version = if_not_exists(version, :zero), failures = if_not_exists(failures, :zero)",
        ExpressionAttributeValues={":m": merchant_id, ":mp": marketplace, ":on": enabled, ":zero": 0},
    )


# ------------------------------------------------------------------ seller accounts (pull/notified.py)
def claim_seller(marketplace: str, seller_id: str, merchant_id: str) -> bool:
    """Record that a marketplace seller account is this merchant's; False when another merchant
    has it (nothing written)."""
    try:
        _table().put_item(
            Item={**keys.seller_key(marketplace, seller_id), "merchant_id": merchant_id},
            ConditionExpression="attribute_not_exists(pk) OR merchant_id = :m",
            ExpressionAttributeValues={":m": merchant_id},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return False
    return True


def release_seller(marketplace: str, seller_id: str, merchant_id: str) -> None:
    """Forget a seller account this merchant no longer names (another merchant's is left alone)."""
    try:
        _table().delete_item(
            Key=keys.seller_key(marketplace, seller_id),
            ConditionExpression="merchant_id = :m",
            ExpressionAttributeValues={":m": merchant_id},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


def merchant_of_seller(marketplace: str, seller_id: str) -> str | None:
    item = _table().get_item(Key=keys.seller_key(marketplace, seller_id)).get("Item")
    return str(item["merchant_id"]) if item else None


# ------------------------------------------------------------------ pull: open orders to re-read
def open_orders(
    merchant_id: str, marketplace: str, placed_before: str | None, statuses: tuple[str, ...], limit: int
) -> list[dict]:
    """The merchant's orders of a marketplace in `statuses`, placed before `placed_before` (any
    time when None), oldest first per status: their number, change stamp, claim and placed_sk
    (a Query per shard of by_status_placed, merged; the marketplace filtered). At most `limit`."""
    from boto3.dynamodb.conditions import Attr, Key

    from orderhub.store import sharded

    out: list[dict] = []
    for status in statuses:
        if len(out) >= limit:
            break
        queries = []
        for pk in keys.all_shards(keys.status_pk(merchant_id, status), keys.LIST_SHARDS):
            condition = Key("status_pk").eq(pk)
            if placed_before:
                condition = condition & Key("placed_sk").lt(placed_before)
            queries.append(
                {
                    "IndexName": keys.by_status("placed"),
                    "KeyConditionExpression": condition,
                    "FilterExpression": Attr("marketplace").eq(marketplace),
                    "ProjectionExpression": "#n, #u, #c, placed_sk",
                    "ExpressionAttributeNames": {
                        "#n": "marketplace_order_no",
                        "#u": "marketplace_updated_at",
                        "#c": "claim",
                    },
                }
            )
        for item in sharded.merged_items(queries, "placed_sk"):  # oldest first across the shards
            out.append(item)
            if len(out) >= limit:
                break
    return out[:limit]


# ------------------------------------------------------------------ shipment list backfill
SHIPMENT_INDEX_ATTRS = ("ship_pk", "ship_sk", "ship_name", "ship_lines", "ship_units")


def backfill_shipment_list(merchant_id: str, *, attempts: int = 3) -> dict:
    """Orders written before the shipment list existed get its index attributes, and the
    `stage:<stage>` counters are made what the orders say (docs/data-model.md, "Migrations").
    Idempotent: a second run rewrites nothing and changes no count. Reads the merchant's listed
    orders (Queries of by_placed; deleted orders are never in the shipment list); each rewrite is
    conditional on the order's version (an order written meanwhile got the attributes from that
    write). The counters are read before and after the walk; if no order moved a stage counter
    meanwhile, one correction delta (counted − read) makes them exact, else the walk runs again
    (at most `attempts` times)."""
    for _ in range(attempts):
        before = _stage_counters(counters.read(merchant_id))
        counts = dict.fromkeys(SHIPMENT_LIST_STAGES, 0)
        rewritten = 0
        for item in _each_listed_order(merchant_id):
            order = order_from_item(item)
            stage = shipment_list_stage(order)
            if stage:
                counts[stage] += 1
            rewritten += _rewrite_shipment_attrs(item, order)
        if _stage_counters(counters.read(merchant_id)) == before:
            correction = {f"stage:{s}": counts[s] - before[f"stage:{s}"] for s in SHIPMENT_LIST_STAGES}
            counters.put_delta(merchant_id, "backfill", correction)
            return {"orders_rewritten": rewritten, "counts": counts}
    raise ConcurrentUpdate("the stage counters changed during every walk; run the backfill again")


def _stage_counters(all_counters: dict[str, int]) -> dict[str, int]:
    return {f"stage:{s}": int(all_counters.get(f"stage:{s}", 0)) for s in SHIPMENT_LIST_STAGES}


def _each_listed_order(merchant_id: str) -> Iterator[dict]:
    """Every order of the merchant's lists (a Query per shard of by_placed, in parallel), whole."""
    from boto3.dynamodb.conditions import Key

    from orderhub.store import sharded

    queries = [
        {"IndexName": keys.by_date("placed"), "KeyConditionExpression": Key("list_pk").eq(pk)}
        for pk in keys.all_shards(keys.list_pk(merchant_id), keys.LIST_SHARDS)
    ]
    return whole_items(sharded.merged_items(queries, "placed_sk"))


def _rewrite_shipment_attrs(item: dict, order: dict) -> int:
    """1 when the item's shipment list attributes were rewritten, 0 when they were right (or
    the order was written meanwhile, which wrote them)."""
    return int(bool(rewrite_index_attrs(item, SHIPMENT_INDEX_ATTRS, order=order)))


def rewrite_index_attrs(
    item: dict,
    attrs: tuple[str, ...],
    *,
    order: dict | None = None,
    condition: str = "",
    names: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> bool | None:
    """Give a stored order item the `attrs` index_attrs gives its order now (removing those it no
    longer gives), and nothing else, on the condition that its version is unchanged (and
    `condition`, with its `names` and `values`). None: they already hold that; False: the item
    changed since it was read (whatever wrote it wrote them); True: rewritten."""
    wanted = index_attrs(order or order_from_item(item))
    names, values = dict(names or {}), dict(values or {})
    sets, removes = [], []
    for i, attr in enumerate(attrs):
        if attr in wanted and _plain(item.get(attr)) != wanted[attr]:
            names[f"#a{i}"], values[f":a{i}"] = attr, wanted[attr]
            sets.append(f"#a{i} = :a{i}")
        elif attr not in wanted and attr in item:
            names[f"#a{i}"] = attr
            removes.append(f"#a{i}")
    if not sets and not removes:
        return None
    expr = " ".join(
        x
        for x in ("SET " + ", ".join(sets) if sets else "", "REMOVE " + ", ".join(removes) if removes else "")
        if x
    )
    check = "attribute_not_exists(version)"
    if "version" in item:
        values[":v"], check = item["version"], "version = :v"
    try:
        _table().update_item(
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression=expr,
            ConditionExpression=f"{check} AND ({condition})" if condition else check,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return False
    return True
