"""Migration: a merchant's lists and status tabs onto their shards (docs/data-model.md,
"Migration: sharded merchant lists").

An order written before the lists were sharded holds the legacy, unsharded `list_pk` (`<merchant>`)
and `status_pk` (`<merchant>#<status>`); every write of an order since writes the sharded values
(db.index_attrs). The readers read the legacy values too, so nothing is missed before or during
this rewrite; once it has run for every merchant the legacy reads can go.

`rewrite_list_keys` walks the legacy partitions with Queries (never a Scan) and gives each order
it finds the `list_pk` / `status_pk` db.index_attrs gives it now, with an UpdateItem conditioned
on the order's version and on the values it read: nothing else of the order changes (not its
version: no domain event is published, events/publish.py ignores index attributes), and an order
written meanwhile, which got the new values from that write, is skipped. Idempotent: a second run
finds nothing to rewrite.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from orderhub.domain.status import STATUSES
from orderhub.kernel import aws
from orderhub.kernel.config import settings
from orderhub.store import db, keys

LIST_KEY_ATTRS = ("list_pk", "status_pk")


def legacy_list_partitions(merchant_id: str) -> Iterator[tuple[str, str, str]]:
    """(index name, partition attribute, legacy value) of each of the merchant's lists: the
    merchant list on by_placed, then each status's tab on by_status_placed (by_updated and
    by_status_updated hold the same items under the same partition values)."""
    yield keys.by_date("placed"), "list_pk", keys.list_pk(merchant_id)
    for status in STATUSES:
        yield keys.by_status("placed"), "status_pk", keys.status_pk(merchant_id, status)


def rewrite_list_keys(merchant_id: str) -> dict[str, int]:
    """Rewrite the list keys of the merchant's orders still under a legacy partition value:
    {"read": items found, "rewritten": orders rewritten, "skipped": orders written meanwhile}."""
    table = aws.table(settings().table_name)
    out = {"read": 0, "rewritten": 0, "skipped": 0}
    for index, attr, value in legacy_list_partitions(merchant_id):
        query = {"IndexName": index, "KeyConditionExpression": Key(attr).eq(value)}
        for item in db.query_items(query, table):
            out["read"] += 1
            result = _rewrite(table, item)
            if result:
                out[result] += 1
    return out


def _rewrite(table: Any, item: dict) -> str | None:
    """ "rewritten", "skipped" (the order changed since it was read) or None (nothing to do)."""
    wanted = db.index_attrs(db.order_from_item(item))
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    sets: list[str] = []
    removes: list[str] = []
    checks = ["version = :v" if "version" in item else "attribute_not_exists(version)"]
    if "version" in item:
        values[":v"] = item["version"]
    for i, attr in enumerate(LIST_KEY_ATTRS):
        have, want = item.get(attr), wanted.get(attr)
        if have == want:
            continue
        names[f"#k{i}"] = attr
        if have is None:
            checks.append(f"attribute_not_exists(#k{i})")
        else:
            values[f":o{i}"] = have
            checks.append(f"#k{i} = :o{i}")
        if want is None:
            removes.append(f"#k{i}")
        else:
            values[f":n{i}"] = want
            sets.append(f"#k{i} = :n{i}")
    if not names:
        return None
    update = " ".join(
        part
        for part in (
            "SET " + ", ".join(sets) if sets else "",
            "REMOVE " + ", ".join(removes) if removes else "",
        )
        if part
    )
    try:
        table.update_item(
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression=update,
            ConditionExpression=" AND ".join(checks),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return "skipped"
    return "rewritten"
