"""Reading a key that is spread over shards (keys.all_shards): one Query per shard, run in
parallel, and their items merged in sort-key order as if they came from one partition.

`merged_page` serves a paged list (a cursor holds each shard's position); `merged_items` walks
every item in order (sweeps, exports, jobs). Both read each shard in chunks and only read on
when the merge needs that shard's next item, so a page of 50 over 9 shards reads about 50 items
more than it shows, not 9 × 50.

The queries run on the low-level client (thread-safe) with the conditions turned into
expressions here: boto3's Table resource is not safe to share between threads.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from boto3.dynamodb.conditions import ConditionBase, ConditionExpressionBuilder
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from orderhub.kernel import aws
from orderhub.kernel.config import settings

_ser = TypeSerializer()
_de = TypeDeserializer()

# Past this many shards a Query each in turn costs more than the threads: every caller has 9.
PARALLEL = 9
DONE = "done"  # a shard's cursor position once it has nothing left
# A shard whose read the filter emptied reads twice as much next time, up to this (a selective
# filter on a long list reads on in reads of this size, as a single Query did before the shards).
MAX_CHUNK = 200


def low_level(query: dict[str, Any]) -> dict[str, Any]:
    """A Table.query(...) argument dict as the client's query(...) takes it."""
    out: dict[str, Any] = {"TableName": settings().table_name}
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    builder = ConditionExpressionBuilder()
    for arg, is_key in (("KeyConditionExpression", True), ("FilterExpression", False)):
        cond = query.get(arg)
        if cond is None:
            continue
        if isinstance(cond, ConditionBase):
            built = builder.build_expression(cond, is_key_condition=is_key)
            out[arg] = built.condition_expression
            names.update(built.attribute_name_placeholders)
            values.update(built.attribute_value_placeholders)
        else:
            out[arg] = cond
    names.update(query.get("ExpressionAttributeNames") or {})
    values.update(query.get("ExpressionAttributeValues") or {})
    if names:
        out["ExpressionAttributeNames"] = names
    if values:
        out["ExpressionAttributeValues"] = {k: _ser.serialize(v) for k, v in values.items()}
    for arg, value in query.items():
        if arg in ("KeyConditionExpression", "FilterExpression", "ExpressionAttributeNames"):
            continue
        if arg == "ExpressionAttributeValues":
            continue
        if arg == "ExclusiveStartKey":
            value = {k: _ser.serialize(v) for k, v in value.items()}
        out[arg] = value
    return out


def _plain_item(item: dict) -> dict:
    return {k: _de.deserialize(v) for k, v in item.items()}


def run_queries(queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each Query's response (Items and LastEvaluatedKey as the Table resource gives them), run
    in parallel on the low-level client."""
    client = aws.client("dynamodb")

    def one(query: dict) -> dict:
        resp = client.query(**low_level(query))
        out = {"Items": [_plain_item(i) for i in resp.get("Items", [])]}
        out["ScannedCount"] = resp.get("ScannedCount", 0)
        if "LastEvaluatedKey" in resp:
            out["LastEvaluatedKey"] = _plain_item(resp["LastEvaluatedKey"])
        return out

    if len(queries) <= 1:
        return [one(q) for q in queries]
    with ThreadPoolExecutor(max_workers=min(len(queries), PARALLEL)) as pool:
        return list(pool.map(one, queries))


class _Shard:
    def __init__(self, query: dict, start: Any, chunk: int) -> None:
        self.query = query
        self.chunk = chunk
        self.next = start if isinstance(start, dict) else None  # ExclusiveStartKey of the next read
        self.exhausted = start == DONE
        self.buffer: deque[dict] = deque()
        self.resume: Any = start  # where a cursor taken now resumes this shard

    def wants_read(self) -> bool:
        return not self.buffer and not self.exhausted


def _fill(shards: list[_Shard], fetch: Callable[[list[dict]], list[dict]]) -> None:
    """Read on every shard whose buffer is empty until each has an item or is exhausted."""
    while True:
        wanting = [s for s in shards if s.wants_read()]
        if not wanting:
            return
        queries = []
        for s in wanting:
            q = {**s.query, "Limit": s.chunk}
            if s.next:
                q["ExclusiveStartKey"] = s.next
            queries.append(q)
        for s, resp in zip(wanting, fetch(queries), strict=True):
            s.buffer.extend(resp.get("Items", []))
            s.next = resp.get("LastEvaluatedKey")
            s.exhausted = s.next is None
            if not s.buffer:  # a chunk the filter emptied: resume past it, read more next time
                s.resume = DONE if s.exhausted else s.next
                s.chunk = max(s.chunk, min(2 * s.chunk, MAX_CHUNK))


def _take(
    shards: list[_Shard], sk_attr: str, descending: bool, key_of: Callable[[dict], dict]
) -> dict | None:
    """The next item of the merge: the highest (or lowest) head of the shards' buffers."""
    heads = [s for s in shards if s.buffer]
    if not heads:
        return None
    pick = (max if descending else min)(heads, key=lambda s: s.buffer[0][sk_attr])
    item = pick.buffer.popleft()
    pick.resume = DONE if (not pick.buffer and pick.exhausted) else key_of(item)
    return item


def _key_of(key_attrs: tuple[str, ...]) -> Callable[[dict], dict]:
    return lambda item: {a: item[a] for a in key_attrs if a in item}


def merged_page(
    queries: list[dict[str, Any]],
    sk_attr: str,
    key_attrs: tuple[str, ...],
    *,
    size: int,
    descending: bool,
    state: list | None = None,
    fetch: Callable[[list[dict]], list[dict]] = run_queries,
) -> tuple[list[dict], list | None]:
    """Up to `size` items of the shards' queries merged by `sk_attr`, and the state a cursor
    keeps (None when every shard is read to its end). `state` is a previous page's: per shard,
    None (from the start), the key of the last item taken (resume after it) or DONE."""
    state = state or [None] * len(queries)
    if len(state) != len(queries):
        raise ValueError("the cursor's shards do not match the query")
    chunk = max(10, 2 * -(-size // max(1, len(queries))))
    shards = [_Shard(q, st, chunk) for q, st in zip(queries, state, strict=True)]
    key_of = _key_of(key_attrs)
    out: list[dict] = []
    while len(out) < size:
        _fill(shards, fetch)
        item = _take(shards, sk_attr, descending, key_of)
        if item is None:
            break
        out.append(item)
    # A full page: read on the shards it emptied, so a last page says so (no cursor to an empty page).
    _fill(shards, fetch)
    if all(s.exhausted and not s.buffer for s in shards):
        return out, None
    return out, [s.resume for s in shards]


def merged_items(
    queries: list[dict[str, Any]],
    sk_attr: str,
    *,
    descending: bool = False,
    chunk: int = 100,
    fetch: Callable[[list[dict]], list[dict]] = run_queries,
) -> Iterator[dict]:
    """Every item of the shards' queries, merged by `sk_attr`. Stop iterating to stop reading."""
    shards = [_Shard(q, None, chunk) for q in queries]
    key_of = _key_of((sk_attr,))
    while True:
        _fill(shards, fetch)
        item = _take(shards, sk_attr, descending, key_of)
        if item is None:
            return
        yield item


def items_upto(
    queries: list[dict[str, Any]],
    max_read: int,
    fetch: Callable[[list[dict]], list[dict]] = run_queries,
) -> tuple[list[dict], bool]:
    """The items of the shards' queries in no particular order, reading every shard's next page
    in parallel until about `max_read` items were read in all (a filter's misses count):
    (items, complete), complete False when pages were left unread (db.query_items_upto for a
    sharded key)."""
    items: list[dict] = []
    read = 0
    pending = [dict(q) for q in queries]
    while pending:
        following = []
        for q, resp in zip(pending, fetch(pending), strict=True):
            items.extend(resp.get("Items", []))
            read += resp.get("ScannedCount", len(resp.get("Items", [])))
            if resp.get("LastEvaluatedKey"):
                following.append({**q, "ExclusiveStartKey": resp["LastEvaluatedKey"]})
        if following and read >= max_read:
            return items, False
        pending = following
    return items, True


def every_item(
    queries: list[dict[str, Any]], fetch: Callable[[list[dict]], list[dict]] = run_queries
) -> list[dict]:
    """Every item of the shards' queries in no particular order, each shard paged to its end,
    the shards' pages read in parallel (items_upto with no bound)."""
    return items_upto(queries, math.inf, fetch)[0]
