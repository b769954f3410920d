"""The shards' queries run on the low-level client in parallel (store/sharded.run_queries): they
must answer what the Table resource answers for the same query, filters and paging included."""

from __future__ import annotations

from boto3.dynamodb.conditions import Attr, Key

from orderhub.kernel import aws
from orderhub.kernel.config import settings
from orderhub.store import keys, sharded
from orderhub.store.paging import sharded_page


def _put_orders(table, n: int) -> None:
    for i in range(n):
        oid = f"o{i:04d}"
        table.put_item(
            Item={
                "pk": keys.order_pk("demo", oid),
                "sk": keys.ORDER_SK,
                "list_pk": keys.sharded(keys.list_pk("demo"), oid, 3),
                "placed_sk": keys.time_sk(f"2026-11-{1 + i % 28:02d}T00:00:00.000Z", oid),
                "marketplace": "shopify" if i % 3 else "wish",
                "overdue": i % 4 != 0,
            }
        )


def test_low_level_queries_answer_like_the_table_resource(app_env):
    table = aws.table(settings().table_name)
    _put_orders(table, 60)
    shard_pk = keys.sharded(keys.list_pk("demo"), "o0001", 3)
    query = {
        "IndexName": keys.by_date("placed"),
        "KeyConditionExpression": Key("list_pk").eq(shard_pk) & Key("placed_sk").gte("2026-11-05"),
        "FilterExpression": Attr("marketplace").eq("shopify") & Attr("overdue").eq(True),
        "ScanIndexForward": False,
        "Limit": 7,
    }
    expected = table.query(**query)
    got = sharded.run_queries([query])[0]
    assert got["Items"] == expected["Items"] and got["Items"]
    assert got["LastEvaluatedKey"] == expected["LastEvaluatedKey"]
    again = sharded.run_queries([{**query, "ExclusiveStartKey": got["LastEvaluatedKey"]}])[0]
    assert again["Items"] == table.query(**query, ExclusiveStartKey=expected["LastEvaluatedKey"])["Items"]


def test_a_sharded_list_pages_through_every_shard_newest_first(app_env):
    table = aws.table(settings().table_name)
    _put_orders(table, 60)
    queries = [
        {
            "IndexName": keys.by_date("placed"),
            "KeyConditionExpression": Key("list_pk").eq(pk),
            "ScanIndexForward": False,
        }
        for pk in keys.all_shards(keys.list_pk("demo"), 3)
    ]
    key_attrs = ("pk", "sk", "list_pk", "placed_sk")
    seen, cursor = [], None
    while True:
        qs = {"page_size": "25", **({"cursor": cursor} if cursor else {})}
        items, cursor = sharded_page(queries, "placed_sk", key_attrs, qs, "fp", descending=True)
        seen += [i["placed_sk"] for i in items]
        if not cursor:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 60
