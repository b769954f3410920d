"""python -m bench.indexquery [--items N] [--rounds R]: what an index Query costs in moto in
process, with and without localcloud.internals.query_one_index_partition.

One merchant's orders (N, 5,000 by default) in a table shaped as orderhub's orders table: the
list index's hash key sharded 9 ways (`demo#0`..`demo#8`), so a list read is 9 Queries of 50
items, newest first, as the list screens make them. Three ways, interleaved round by round in one
process so the machine's load falls on all three alike:

- moto: moto's own Table.query and Table.all_items (every Query sorts the whole table);
- table only: the touch points before this one (a base-table Query reads its partition; an index
  Query still lists and sorts the whole table, by values computed once per item);
- index too: an index Query lists the items of its partition alone.

It also times the part a kept index (per table, dropped at every write) would save: finding the
partition's items in `Table.items`, which each Query does afresh. Prints medians per list read
and their ratios. Nothing is asserted: speed belongs here, not in the tests.
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import contextmanager

SHARDS = 9


def _table(client, items: int) -> None:
    client.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "list_pk", "placed_sk")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_placed",
                "KeySchema": [
                    {"AttributeName": "list_pk", "KeyType": "HASH"},
                    {"AttributeName": "placed_sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    from localcloud import internals

    def orders():
        for n in range(items):
            order_id = f"o{(n * 7919) % 1_000_003:07d}"  # not written in key order
            yield {
                "pk": {"S": f"ORDER#demo#{order_id}"},
                "sk": {"S": "ORDER"},
                "list_pk": {"S": f"demo#{n % SHARDS}"},
                "placed_sk": {"S": f"2026-01-{1 + n % 28:02d}T{n % 24:02d}:00:00Z#{order_id}"},
                "status": {"S": ("new", "shipped", "cancelled")[n % 3]},
                "marketplace": {"S": "shopify"},
                "lines": {"L": [{"M": {"sku": {"S": f"SKU-{n % 97}"}, "qty": {"N": str(1 + n % 4)}}}]},
                "note": {"S": "x" * 200},
            }
        # items without the index's keys: the table's other records (not in the index)
        for n in range(items // 2):
            yield {"pk": {"S": f"COUNTER#demo#{n}"}, "sk": {"S": "C"}, "v": {"N": str(n)}}

    internals.put_items_directly("orders", orders())


def _list_read(client) -> int:
    seen = 0
    for shard in range(SHARDS):
        resp = client.query(
            TableName="orders",
            IndexName="by_placed",
            KeyConditionExpression="list_pk = :h",
            ExpressionAttributeValues={":h": {"S": f"demo#{shard}"}},
            ScanIndexForward=False,
            Limit=50,
        )
        seen += resp["Count"]
    return seen


@contextmanager
def _mode(name: str):
    import pytest
    from moto.dynamodb.models.table import Table

    from localcloud import internals

    with pytest.MonkeyPatch.context() as mp:
        if name == "moto":
            mp.setattr(Table, "query", internals._original(Table, "query"))
            mp.setattr(Table, "all_items", internals._original(Table, "all_items"))
        elif name == "table only":
            mp.setattr(internals, "_partitions_read", {"table"})
        yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.indexquery", description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reads", type=int, default=3, help="list reads per way and round")
    args = parser.parse_args(argv)

    import os

    import boto3
    from moto import mock_aws

    from localcloud import internals

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    internals.patch_moto()
    ways = ("moto", "table only", "index too")
    times: dict[str, list[float]] = {w: [] for w in ways}
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _table(client, args.items)
        counts = set()
        for way in ways:  # warm up, and the same answers all three ways
            with _mode(way):
                counts.add(_list_read(client))
        assert counts == {min(args.items, SHARDS * 50)}, counts
        for r in range(args.rounds):
            for way in ways if r % 2 == 0 else reversed(ways):
                with _mode(way):
                    start = time.perf_counter()
                    for _ in range(args.reads):
                        _list_read(client)
                    times[way].append((time.perf_counter() - start) / args.reads)
        table = internals.dynamodb_table("orders")
        from moto.dynamodb.models.dynamo_type import DynamoType

        value = DynamoType({"S": "demo#4"})
        find = []
        for _ in range(args.rounds * 5):
            start = time.perf_counter()
            for _shard in range(SHARDS):
                internals._index_partition_items(table, "list_pk", value)
            find.append(time.perf_counter() - start)

    total = len(table.items)
    print(
        f"{args.items} orders (+{total - args.items} items outside the index), a list read = {SHARDS} Queries"
    )
    print(f"medians of {args.rounds} rounds x {args.reads} list reads, interleaved:")
    medians = {w: statistics.median(t) for w, t in times.items()}
    for way in ways:
        print(f"  {way:<11} {medians[way] * 1000:8.1f} ms per list read")
    print(
        f"  moto / index too: {medians['moto'] / medians['index too']:.1f}x;"
        f" table only / index too: {medians['table only'] / medians['index too']:.1f}x"
    )
    print(
        f"  finding the partitions' items (what a kept index would save): "
        f"{statistics.median(find) * 1000:.1f} ms per list read"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
