"""The merchant's counters (tabs, `all`, `overdue`, `reason:<reason>`, `stage:<stage>`): the one
owner of their items (docs/data-model.md, "Counters").

No transaction writes a shared counters item: each transaction that moves a counter puts one new
delta item (`delta_op`) in the order's shard, `MERCHANT#<m>#CNT#<shard>` / `D#<at>#<order>#<rand>`,
holding its summed deltas in `d`. A new item never conflicts with another transaction, and the
eight shards spread the writes over eight partition keys.

`fold` moves a shard's deltas into its `#BASE` item: one transaction adds their sums to the base
(and 1 to its `folds`) and deletes them, each on the condition that it still exists. A fold that
loses a race (another fold took the deltas first, or a conflict) re-reads the shard and goes on;
as the add and the deletes commit together, no delta is ever counted twice or lost. The table's
stream runs it after every delta (functions/counter_fold, `fold_batch`).

`read` sums the legacy item `MERCHANT#<m>` / `#COUNTS` (written by the code before the shards,
never written again), each shard's base and each shard's remaining deltas.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger
from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from orderhub.kernel import aws, clock
from orderhub.kernel.config import settings
from orderhub.kernel.errors import ConcurrentUpdate
from orderhub.store import keys
from orderhub.store.sharded import every_item, run_queries

DELTA_ENTITY = "count_delta"
BASE_ENTITY = "count_base"
FOLD_MAX = 99  # deltas deleted by one fold transaction (+ the base update: 100 actions)
# A base's attributes that are not counters.
_NOT_COUNTERS = frozenset({"pk", "sk", "entity", "merchant_id", "folds"})
READ_ATTEMPTS = 5  # re-reads of the shards a fold changed during a read
FOLD_LOSSES = 25  # lost fold transactions in a row before a fold gives up (the stream retries)

_ser = TypeSerializer()
_de = TypeDeserializer()
logger = Logger(child=True)


def _av(item: dict) -> dict:
    return {k: _ser.serialize(v) for k, v in item.items()}


def _client():
    return aws.client("dynamodb")


# ------------------------------------------------------------------ writes
def delta_item(merchant_id: str, order_id: str, deltas: dict[str, int]) -> dict | None:
    """The delta item of one transaction (None when every delta is 0)."""
    d = {k: v for k, v in deltas.items() if v}
    if not d:
        return None
    shard = keys.shard_of(order_id, keys.COUNTER_SHARDS)
    at = clock.iso(clock.now())
    return {
        "pk": keys.counter_shard_pk(merchant_id, shard),
        "sk": keys.counter_delta_sk(at, order_id, secrets.token_hex(4)),
        "entity": DELTA_ENTITY,
        "merchant_id": merchant_id,
        "order_id": order_id,
        "at": at,
        "d": d,
    }


def delta_op(merchant_id: str, order_id: str, deltas: dict[str, int]) -> dict | None:
    """The transaction's Put of its delta item, in the shard of `order_id` (None: nothing moved)."""
    item = delta_item(merchant_id, order_id, deltas)
    if item is None:
        return None
    return {
        "Put": {
            "TableName": settings().table_name,
            "Item": _av(item),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def put_delta(merchant_id: str, source: str, deltas: dict[str, int]) -> bool:
    """A delta written on its own (a correction: db.backfill_shipment_list); False when all 0."""
    op = delta_op(merchant_id, f"{source}-{secrets.token_hex(4)}", deltas)
    if op is None:
        return False
    _client().put_item(**op["Put"])
    return True


# ------------------------------------------------------------------ fold
def _deltas_query(shard_pk: str) -> dict:
    return {
        "TableName": settings().table_name,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :d)",
        "ExpressionAttributeValues": _av({":pk": shard_pk, ":d": keys.COUNTER_DELTA_PREFIX}),
        "ConsistentRead": True,
        "Limit": FOLD_MAX,
    }


def fold_transaction(shard_pk: str, deltas: list[dict]) -> list[dict]:
    """Add the deltas' sums to the shard's base (and 1 to `folds`), delete each delta on the
    condition that it still exists: all or nothing."""
    sums = {k: v for k, v in _sum([d.get("d") or {} for d in deltas]).items() if v}
    merchant_id = next((d["merchant_id"] for d in deltas if d.get("merchant_id")), "")
    names = {"#e": "entity", "#m": "merchant_id", "#f": "folds"}
    values: dict[str, Any] = {":e": BASE_ENTITY, ":m": merchant_id, ":one": 1}
    adds = ["#f :one"]
    for i, (name, value) in enumerate(sorted(sums.items())):
        names[f"#c{i}"] = name
        values[f":c{i}"] = value
        adds.append(f"#c{i} :c{i}")
    table = settings().table_name
    ops: list[dict] = [
        {
            "Update": {
                "TableName": table,
                "Key": _av(keys.counter_base_key(shard_pk)),
                "UpdateExpression": "SET #e = :e, #m = :m ADD " + ", ".join(adds),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": _av(values),
            }
        }
    ]
    for d in deltas:
        ops.append(
            {
                "Delete": {
                    "TableName": table,
                    "Key": _av({"pk": shard_pk, "sk": d["sk"]}),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            }
        )
    return ops


def fold(shard_pk: str) -> int:
    """Fold every delta of one shard into its base, up to FOLD_MAX per transaction, until the
    shard has none; the number of deltas this call folded. Safe to run concurrently."""
    client = _client()
    folded = losses = 0
    while True:
        resp = client.query(**_deltas_query(shard_pk))
        deltas = [{k: _de.deserialize(v) for k, v in i.items()} for i in resp.get("Items", [])]
        if not deltas:
            return folded
        try:
            client.transact_write_items(TransactItems=fold_transaction(shard_pk, deltas))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            # Another fold deleted some of these deltas first, or a transaction was changing the
            # base: nothing of this one was written. Read the shard again.
            losses += 1
            if losses >= FOLD_LOSSES:
                raise ConcurrentUpdate(f"the fold of {shard_pk} lost {losses} races in a row") from exc
            continue
        losses = 0
        folded += len(deltas)


def shard_pks_of_batch(records: list[dict]) -> dict[str, int]:
    """The shard partitions a stream batch put deltas in, each with the index of its first
    record (records of other items are left out)."""
    out: dict[str, int] = {}
    for index, record in enumerate(records):
        k = (record.get("dynamodb") or {}).get("Keys") or {}
        pk, sk = (k.get("pk") or {}).get("S"), (k.get("sk") or {}).get("S")
        if record.get("eventName") != "INSERT" or not pk or not sk:
            continue
        if sk.startswith(keys.COUNTER_DELTA_PREFIX) and "#CNT#" in pk:
            out.setdefault(pk, index)
    return out


def fold_batch(event: dict, fold_one: Callable[[str], int] = fold) -> dict:
    """A stream batch: each shard it put deltas in folded once. A shard that fails reports its
    first record, so Lambda retries from there (folding again is harmless)."""
    records = event.get("Records") or []
    failed: int | None = None
    for pk, index in shard_pks_of_batch(records).items():
        try:
            fold_one(pk)
        except Exception:
            logger.exception("counter fold failed for %s", pk)
            if failed is None or index < failed:
                failed = index
    if failed is None:
        return {"batchItemFailures": []}
    sequence = (records[failed].get("dynamodb") or {}).get("SequenceNumber")
    return {"batchItemFailures": [{"itemIdentifier": sequence}]}


# ------------------------------------------------------------------ read
def _shard_query(shard_pk: str) -> dict:
    return {"KeyConditionExpression": Key("pk").eq(shard_pk), "ConsistentRead": True}


def _read_shards(shard_pks: list[str]) -> dict[str, tuple[int, dict[str, int]]]:
    """Each shard's (folds, base + deltas) by one Query each (paged), in parallel."""
    items: dict[str, list[dict]] = {pk: [] for pk in shard_pks}
    for item in every_item([_shard_query(pk) for pk in shard_pks], run_queries):
        items[item["pk"]].append(item)
    out = {}
    for pk, shard_items in items.items():
        folds, parts = 0, []
        for item in shard_items:
            if item.get("sk") == keys.COUNTER_BASE_SK:
                folds = int(item.get("folds", 0))
                parts.append(_counters_of(item))
            elif item.get("entity") == DELTA_ENTITY:
                parts.append(item.get("d") or {})
        out[pk] = (folds, _sum(parts))
    return out


def _bases(merchant_id: str, shard_pks: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """One consistent BatchGetItem: the legacy item's counters and each base's `folds`."""
    legacy_key = keys.counts_key(merchant_id)
    wanted = [legacy_key] + [keys.counter_base_key(pk) for pk in shard_pks]
    table = settings().table_name
    request = {table: {"Keys": [_av(k) for k in wanted], "ConsistentRead": True}}
    found: list[dict] = []
    client = _client()
    while request:
        resp = client.batch_get_item(RequestItems=request)
        found += [{k: _de.deserialize(v) for k, v in i.items()} for i in resp["Responses"].get(table, [])]
        request = resp.get("UnprocessedKeys") or {}
    legacy: dict[str, int] = {}
    folds = dict.fromkeys(shard_pks, 0)
    for item in found:
        if item["pk"] == legacy_key["pk"] and item["sk"] == legacy_key["sk"]:
            legacy = _counters_of(item)
        elif item["pk"] in folds:
            folds[item["pk"]] = int(item.get("folds", 0))
    return legacy, folds


def read(merchant_id: str) -> dict[str, int]:
    """Every counter of the merchant, exact at read time (not clamped): the legacy item + each
    shard's base + its deltas. A fold that commits between the Query of a shard's base and of
    its deltas would hide those deltas; the bases' `folds` read again after the Queries show it,
    and those shards are read again."""
    shard_pks = keys.counter_shard_pks(merchant_id)
    shards = _read_shards(shard_pks)
    for _ in range(READ_ATTEMPTS):
        legacy, folds = _bases(merchant_id, shard_pks)
        moved = [pk for pk in shard_pks if folds[pk] != shards[pk][0]]
        if not moved:
            return _sum([legacy, *(sums for _, sums in shards.values())])
        shards.update(_read_shards(moved))
    raise ConcurrentUpdate("the counters were folded during every read; read them again")


def _counters_of(item: dict) -> dict[str, int]:
    return {
        k: int(v)
        for k, v in item.items()
        if k not in _NOT_COUNTERS and isinstance(v, int | Decimal) and not isinstance(v, bool)
    }


def _sum(parts: list[dict]) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in parts:
        for k, v in part.items():
            total[k] = total.get(k, 0) + int(v)
    return total
