"""Count AWS calls per service and operation, and compute DynamoDB capacity units from item sizes.

The meter patches `botocore.client.BaseClient._make_api_call` while it is active, so it sees
every call of every client (boto3 resources included). moto's ConsumedCapacity is a constant, so
capacity is computed here with DynamoDB's published rules:

- item size = sum over attributes of (UTF-8 name length + value size); strings by UTF-8 bytes,
  numbers 1 byte per 2 significant digits + 1, binary by length, null/bool 1, lists and maps
  3 bytes + 1 byte per element + the elements;
- reads in 4 KB units (strongly consistent 1 per unit, eventually consistent 0.5), GetItem of a
  missing item still 1 unit (0.5 eventually consistent); a Query or Scan reads the sum of the
  item sizes it evaluated (returned items, scaled by ScannedCount/Count when a filter dropped
  some), rounded up to 4 KB, at least 1 unit;
- writes in 1 KB units of the larger of the item before and after the write;
- TransactWriteItems / TransactGetItems double the units of each item (ConditionCheck is charged
  as a transactional write of the checked item);
- each global secondary index whose keys the item has before or after the write costs write
  units of the projected item: 1 write to add or update the index entry, 1 to remove it, 2
  when its key changes (delete + put). Index writes are not doubled by a transaction.

Each write also leaves a `Write` on its call: the item's key, its units, whether a transaction
wrote it, and per index the partition key value written or removed with its units (the key-heat
model, bench/keyheat.py, sums them per partition key).

To know the item before and after a write, the meter reads it with an unmetered GetItem around
each write (this is why the meter is only used for the per-operation figures, not for timing).
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
import botocore.client
from boto3.dynamodb.types import Binary, TypeDeserializer

_AV_TYPES = {"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"}
_deser = TypeDeserializer()


# ------------------------------------------------------------------ sizes
def _num_size(n: Any) -> int:
    text = str(n).lower().lstrip("+-")
    mantissa = text.split("e")[0]
    digits = mantissa.replace(".", "").lstrip("0").rstrip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def value_size(v: Any) -> int:
    if v is None or isinstance(v, bool):
        return 1
    if isinstance(v, str):
        return len(v.encode("utf-8"))
    if isinstance(v, int | float | Decimal):
        return _num_size(v)
    if isinstance(v, Binary):
        return len(v.value)
    if isinstance(v, bytes | bytearray):
        return len(v)
    if isinstance(v, set | frozenset):
        return sum(value_size(x) for x in v)
    if isinstance(v, dict):
        return 3 + sum(len(str(k).encode("utf-8")) + value_size(x) + 1 for k, x in v.items())
    if isinstance(v, list | tuple):
        return 3 + sum(value_size(x) + 1 for x in v)
    return len(str(v).encode("utf-8"))


def _is_av(v: Any) -> bool:
    return isinstance(v, dict) and len(v) == 1 and next(iter(v)) in _AV_TYPES


def plain(item: dict | None) -> dict | None:
    """An item as Python values, whether given in AttributeValue form (client) or not (resource)."""
    if item is None:
        return None
    if item and all(_is_av(v) for v in item.values()):
        return {k: _deser.deserialize(v) for k, v in item.items()}
    return item


def item_size(item: dict | None) -> int:
    item = plain(item)
    if not item:
        return 0
    return sum(len(k.encode("utf-8")) + value_size(v) for k, v in item.items())


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


# ------------------------------------------------------------------ records
@dataclass
class IndexWrite:
    index: str
    pk: Any  # the index's partition key value written (an entry put) or removed (an entry deleted)
    wcu: int
    removed: bool = False


@dataclass
class Write:
    """One item a write touched: PutItem, UpdateItem, DeleteItem, a BatchWriteItem request or a
    TransactWriteItems member (kind `check` for a ConditionCheck: charged, nothing written)."""

    table: str
    key: dict  # the table's key attributes (pk, sk)
    kind: str  # put, update, delete, check
    transactional: bool
    wcu: int  # table units (doubled in a transaction)
    indexes: list[IndexWrite] = field(default_factory=list)


@dataclass
class Call:
    service: str
    operation: str
    rcu: float = 0.0
    wcu: float = 0.0  # base table
    index_wcu: float = 0.0
    indexes: Counter = field(default_factory=Counter)  # index name -> index writes
    items_read: int = 0
    writes: list[Write] = field(default_factory=list)


@dataclass
class TableInfo:
    keys: tuple[str, ...]
    indexes: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]]  # name -> (keys, projection, incl)


class Meter:
    """`with Meter() as m:` patches botocore; `with m.scope() as calls:` collects the calls of a block."""

    def __init__(self, capacity: bool = True):
        self.capacity = capacity
        self.calls: list[Call] = []
        self._local = threading.local()
        self._tables: dict[tuple[str, str], TableInfo] = {}
        self._raw: dict[str, Any] = {}
        self._orig = None

    # -------------------------------------------------------------- patching
    def __enter__(self) -> Meter:
        self._orig = botocore.client.BaseClient._make_api_call
        meter = self

        def _make_api_call(client, operation_name, api_params):
            if getattr(meter._local, "off", False):
                return meter._orig(client, operation_name, api_params)
            return meter._metered(client, operation_name, api_params)

        botocore.client.BaseClient._make_api_call = _make_api_call
        return self

    def __exit__(self, *exc: Any) -> None:
        botocore.client.BaseClient._make_api_call = self._orig

    @contextlib.contextmanager
    def scope(self):
        start = len(self.calls)
        out: list[Call] = []
        yield out
        out.extend(self.calls[start:])

    @contextlib.contextmanager
    def _unmetered(self):
        self._local.off = True
        try:
            yield
        finally:
            self._local.off = False

    # -------------------------------------------------------------- helpers
    def _raw_client(self, client):
        url = client.meta.endpoint_url
        if url not in self._raw:
            self._raw[url] = boto3.client("dynamodb", region_name=client.meta.region_name, endpoint_url=url)
        return self._raw[url]

    def _table(self, client, name: str) -> TableInfo:
        key = (client.meta.endpoint_url, name)
        if key not in self._tables:
            with self._unmetered():
                desc = self._raw_client(client).describe_table(TableName=name)["Table"]
            indexes = {}
            for gsi in desc.get("GlobalSecondaryIndexes", []):
                proj = gsi.get("Projection", {})
                indexes[gsi["IndexName"]] = (
                    tuple(  # the partition key (HASH) first
                        k["AttributeName"]
                        for k in sorted(gsi["KeySchema"], key=lambda k: k["KeyType"] != "HASH")
                    ),
                    proj.get("ProjectionType", "ALL"),
                    tuple(proj.get("NonKeyAttributes", ())),
                )
            self._tables[key] = TableInfo(tuple(k["AttributeName"] for k in desc["KeySchema"]), indexes)
        return self._tables[key]

    def _get(self, client, table: str, key: dict) -> dict | None:
        with self._unmetered():
            resp = self._raw_client(client).get_item(TableName=table, Key=_av_key(key), ConsistentRead=True)
        return plain(resp.get("Item"))

    # -------------------------------------------------------------- metering
    def _metered(self, client, op: str, params: dict):
        service = client.meta.service_model.service_name
        call = Call(service, op)
        pre = None
        if self.capacity and service == "dynamodb":
            pre = self._before_write(client, op, params)
        try:
            resp = self._orig(client, op, params)
        except Exception:
            if pre is not None:
                self._after(client, op, params, None, pre, call)
            self.calls.append(call)
            raise
        if service == "dynamodb":
            self._after(client, op, params, resp, pre, call)
        self.calls.append(call)
        return resp

    def _write_targets(self, op: str, params: dict) -> list[tuple[str, str, dict, dict | None, bool]]:
        """(kind, table, key or item, put item, transactional) for every item a write touches."""
        out = []
        if op == "PutItem":
            out.append(("put", params["TableName"], params["Item"], params["Item"], False))
        elif op in ("UpdateItem", "DeleteItem"):
            out.append((op[:6].lower(), params["TableName"], params["Key"], None, False))
        elif op == "BatchWriteItem":
            for table, reqs in params.get("RequestItems", {}).items():
                for r in reqs:
                    if "PutRequest" in r:
                        out.append(("put", table, r["PutRequest"]["Item"], r["PutRequest"]["Item"], False))
                    else:
                        out.append(("delete", table, r["DeleteRequest"]["Key"], None, False))
        elif op == "TransactWriteItems":
            for t in params.get("TransactItems", []):
                (kind, body) = next(iter(t.items()))
                item = body.get("Item")
                out.append(
                    (
                        {"Put": "put", "Update": "update", "Delete": "delete"}.get(kind, "check"),
                        body["TableName"],
                        item if item is not None else body["Key"],
                        item,
                        True,
                    )
                )
        return out

    def _before_write(self, client, op: str, params: dict):
        targets = self._write_targets(op, params)
        if not targets:
            return None
        pre = []
        for kind, table, key_or_item, put_item, tx in targets:
            info = self._table(client, table)
            key = {k: plain(key_or_item)[k] for k in info.keys}
            pre.append((kind, table, key, plain(put_item), tx, self._get(client, table, key)))
        return pre

    def _after(self, client, op: str, params: dict, resp: dict | None, pre, call: Call) -> None:
        if pre is not None:
            for kind, table, key, put_item, tx, before in pre:
                after = before if kind == "check" else self._get(client, table, key)
                size = max(item_size(before), item_size(after), item_size(put_item))
                units = write_units(size) * (2 if tx else 1)
                call.wcu += units
                write = Write(table, key, kind, tx, units)
                call.writes.append(write)
                if kind != "check":
                    self._index_writes(self._table(client, table), before, after, call, write)
            return
        if resp is None:
            return
        if op == "GetItem":
            item = resp.get("Item")
            call.items_read += 1 if item else 0
            call.rcu += read_units(item_size(item), bool(params.get("ConsistentRead")))
        elif op == "BatchGetItem":
            for table, items in resp.get("Responses", {}).items():
                consistent = bool(params["RequestItems"].get(table, {}).get("ConsistentRead"))
                for item in items:
                    call.items_read += 1
                    call.rcu += read_units(item_size(item), consistent)
        elif op == "TransactGetItems":
            for r in resp.get("Responses", []):
                item = r.get("Item")
                call.items_read += 1 if item else 0
                call.rcu += 2 * read_units(item_size(item), True)
        elif op in ("Query", "Scan"):
            items = resp.get("Items", [])
            call.items_read += len(items)
            total = sum(item_size(i) for i in items)
            count, scanned = resp.get("Count", len(items)), resp.get("ScannedCount", len(items))
            if count and scanned > count:
                total = total * scanned / count
            call.rcu += read_units(math.ceil(total), bool(params.get("ConsistentRead")))

    @staticmethod
    def _index_writes(
        info: TableInfo, before: dict | None, after: dict | None, call: Call, write: Write
    ) -> None:
        for name, (keys, projection, include) in info.indexes.items():

            def entry(item, keys=keys, projection=projection, include=include):
                if not item or any(k not in item for k in keys):
                    return None, None
                if projection == "ALL":
                    proj = item
                else:
                    wanted = set(keys) | set(info.keys) | (set(include) if projection == "INCLUDE" else set())
                    proj = {k: v for k, v in item.items() if k in wanted}
                return tuple(item[k] for k in keys), proj

            bk, bp = entry(before)
            ak, ap = entry(after)
            parts: list[IndexWrite] = []  # keys[0] is the index's partition key (HASH first)
            if bk is None and ak is not None:
                parts.append(IndexWrite(name, ak[0], write_units(item_size(ap))))
            elif bk is not None and ak is None:
                parts.append(IndexWrite(name, bk[0], write_units(item_size(bp)), removed=True))
            elif bk is not None and bk != ak:
                parts.append(IndexWrite(name, bk[0], write_units(item_size(bp)), removed=True))
                parts.append(IndexWrite(name, ak[0], write_units(item_size(ap))))
            elif bk is not None and bp != ap:
                parts.append(IndexWrite(name, ak[0], write_units(max(item_size(bp), item_size(ap)))))
            if parts:
                call.index_wcu += sum(p.wcu for p in parts)
                call.indexes[name] += 1
                write.indexes.extend(parts)


def _av_key(key: dict) -> dict:
    from boto3.dynamodb.types import TypeSerializer

    ser = TypeSerializer()
    return {k: ser.serialize(v) for k, v in key.items()}


# ------------------------------------------------------------------ summaries
def summarize(calls: list[Call]) -> dict:
    ops = Counter(f"{c.service}.{c.operation}" for c in calls)
    indexes: Counter = Counter()
    for c in calls:
        indexes.update(c.indexes)
    return {
        "calls": len(calls),
        "ops": dict(ops),
        "ddb_calls": sum(1 for c in calls if c.service == "dynamodb"),
        "rcu": sum(c.rcu for c in calls),
        "wcu": sum(c.wcu for c in calls),
        "index_wcu": sum(c.index_wcu for c in calls),
        "indexes": dict(indexes),
        "items_read": sum(c.items_read for c in calls),
    }


def by_operation(calls: list[Call]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for c in calls:
        out[f"{c.service}.{c.operation}"] += 1
    return dict(out)
