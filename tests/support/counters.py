"""The counters as the code before the counter shards left them: one item `MERCHANT#<m>` /
`#COUNTS` that every order transaction ADDed to (store/counters.py reads it, never writes it)."""

from __future__ import annotations

from orderhub.kernel import aws
from orderhub.kernel.config import settings
from orderhub.store import counters, keys


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
