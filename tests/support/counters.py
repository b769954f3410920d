"""The counters as the code before the counter shards left them: one item `MERCHANT#<m>` /
`#COUNTS` that every order transaction ADDed to (store/counters.py reads it, never writes it)."""

from __future__ import annotations

from orderhub.kernel import aws
from orderhub.kernel.config import settings
from orderhub.store import counters, db, keys


def shard_items(merchant_id: str) -> list[dict]:
    """Every base and delta item of the merchant's counter shards."""
    table = aws.table(settings().table_name)
    out = []
    for pk in keys.counter_shard_pks(merchant_id):
        out += table.query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": pk})["Items"]
    return out


def deltas(merchant_id: str) -> list[dict]:
    return [i for i in shard_items(merchant_id) if i["sk"].startswith(keys.COUNTER_DELTA_PREFIX)]


def as_written_before_shards(merchant_id: str, drop=lambda name: False) -> dict[str, int]:
    """Move the merchant's counters into the legacy item, written as the old code's ADDs left
    it, and remove every shard item; counters `drop` names are left out (a table older still)."""
    table = aws.table(settings().table_name)
    now = {k: v for k, v in counters.read(merchant_id).items() if not drop(k)}
    for item in shard_items(merchant_id):
        table.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
    names = {f"#c{i}": k for i, k in enumerate(now)}
    values = {f":d{i}": v for i, v in enumerate(now.values())}
    table.delete_item(Key=keys.counts_key(merchant_id))
    if now:
        table.update_item(
            Key=keys.counts_key(merchant_id),
            UpdateExpression="ADD " + ", ".join(f"#c{i} :d{i}" for i in range(len(now))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    return now


def recount(merchant_id: str) -> dict[str, int]:
    """The counters as the merchant's orders say (a Scan: tests only): each order's deltas from
    nothing, summed; zeros left out."""
    table = aws.table(settings().table_name)
    items = [
        i
        for page in _scan_pages(table)
        for i in page
        if i.get("entity") == "order" and i.get("merchant_id") == merchant_id
    ]
    total: dict[str, int] = {}
    for item in items:
        order = db.order_from_item(item)
        for part in (
            db.counter_deltas(None, order["status"]),
            db.reason_deltas(None, order),
            db.stage_deltas(None, order),
            db.overdue_deltas(None, order),
        ):
            for k, v in part.items():
                total[k] = total.get(k, 0) + v
    return {k: v for k, v in total.items() if v}


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def fold_all(merchant_id: str) -> int:
    return sum(counters.fold(pk) for pk in keys.counter_shard_pks(merchant_id))


def _scan_pages(table):
    kwargs: dict = {}
    while True:
        resp = table.scan(**kwargs)
        yield resp.get("Items", [])
        if "LastEvaluatedKey" not in resp:
            return
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
