"""localcloud/internals.query_one_index_partition: a Query of an index lists only the items of
its index partition, and answers as moto's own code answers (the same items in the same order,
pages, counts, filters, projections), before and after writes, updates, deletes and a
transaction; an item without the index's keys stays out of the index."""

from __future__ import annotations

import boto3
import pytest

from localcloud import internals
from tests.localcloud.conftest import query_pages

S = "S"


@pytest.fixture
def ddb(moto_dynamodb):
    client = moto_dynamodb
    client.create_table(
        TableName="orders",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": t}
            for a, t in (("pk", S), ("sk", S), ("list_pk", S), ("placed_sk", S), ("g", "N"), ("n", "N"))
        ],
        GlobalSecondaryIndexes=[
            {  # sharded and non-unique: several items share a placed_sk
                "IndexName": "by_placed",
                "KeySchema": [
                    {"AttributeName": "list_pk", "KeyType": "HASH"},
                    {"AttributeName": "placed_sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {  # a number hash key, no range key (the table's range key orders it)
                "IndexName": "by_g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {
                "IndexName": "by_list_n",
                "KeySchema": [
                    {"AttributeName": "list_pk", "KeyType": "HASH"},
                    {"AttributeName": "n", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status"]},
            },
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by_n",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "n", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.create_table(  # no range key: its items are listed one per hash key
        TableName="flat",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": S},
            {"AttributeName": "kind", "AttributeType": S},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_kind",
                "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    yield client


def order(n: int, shard: int | None, **extra) -> dict:
    """Order n of merchant m#<shard>; shard None: not listed (no list_pk, out of the sparse index)."""
    item = {
        "pk": {S: f"o#{n % 7}"},
        "sk": {S: f"x#{n:04d}"},
        "placed_sk": {S: f"2026-01-{1 + n % 5:02d}"},  # ties: broken by the table's key
        "n": {"N": str(n % 11 - 3)},
        "status": {S: "new" if n % 2 else "shipped"},
        "note": {S: "z" * (n % 13)},
    }
    if shard is not None:
        item["list_pk"] = {S: f"m#{shard}"}
    if n % 4 == 0:
        item["g"] = {"N": "1.0" if n % 8 else "1"}  # the same number written two ways
    elif n % 4 == 1:
        item["g"] = {"N": "2"}
    return item | extra


def fill(ddb) -> None:
    for n in range(120):
        shard = None if n % 10 == 9 else n % 3
        ddb.put_item(TableName="orders", Item=order(n, shard))
    ddb.put_item(TableName="orders", Item={"pk": {S: "o#1"}, "sk": {S: "bare"}, "list_pk": {S: "m#1"}})
    for n in range(30):
        item = {"id": {S: f"i{n:02d}"}, "v": {"N": str(n)}}
        if n % 5:
            item["kind"] = {S: f"k{n % 3}"}
        ddb.put_item(TableName="flat", Item=item)


def v(**values) -> dict:
    return {f":{k}": ({"N": x[1:]} if x.startswith("#") else {S: x}) for k, x in values.items()}


QUERIES = [
    {
        "IndexName": "by_placed",
        "KeyConditionExpression": "list_pk = :h",
        "ExpressionAttributeValues": v(h="m#1"),
    },
    {
        "IndexName": "by_placed",
        "KeyConditionExpression": "list_pk = :h AND placed_sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": v(h="m#0", a="2026-01-02", b="2026-01-04", s="new"),
        "FilterExpression": "#s = :s",
        "ExpressionAttributeNames": {"#s": "status"},
        "ScanIndexForward": False,
        "Limit": 6,
    },
    {
        "IndexName": "by_placed",
        "KeyConditionExpression": "list_pk = :h AND begins_with(placed_sk, :p)",
        "ExpressionAttributeValues": v(h="m#2", p="2026-01-0"),
        "ProjectionExpression": "pk, sk, placed_sk, note",
        "Limit": 5,
    },
    {
        "IndexName": "by_placed",
        "KeyConditionExpression": "list_pk = :h AND placed_sk < :t",
        "ExpressionAttributeValues": v(h="m#1", t="2026-01-03"),
        "Select": "COUNT",
    },
    {
        "IndexName": "by_placed",
        "KeyConditionExpression": "list_pk = :h",
        "ExpressionAttributeValues": v(h="m#9"),
    },
    {
        "IndexName": "by_g",
        "KeyConditionExpression": "g = :g",
        "ExpressionAttributeValues": v(g="#1"),
        "Limit": 4,
    },
    {
        "IndexName": "by_g",
        "KeyConditionExpression": "g = :g",
        "ExpressionAttributeValues": v(g="#2.00"),
        "ScanIndexForward": False,
    },
    {
        "IndexName": "by_list_n",
        "KeyConditionExpression": "list_pk = :h AND n >= :n",
        "ExpressionAttributeValues": v(h="m#0", n="#-1"),
        "ScanIndexForward": False,
        "Limit": 3,
    },
    {
        "IndexName": "by_n",
        "KeyConditionExpression": "pk = :h AND n > :n",
        "ExpressionAttributeValues": v(h="o#3", n="#0"),
        "Limit": 2,
    },
    {  # the API before expressions: KeyConditions and a QueryFilter
        "IndexName": "by_placed",
        "KeyConditions": {
            "list_pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{S: "m#0"}]},
            "placed_sk": {"ComparisonOperator": "GE", "AttributeValueList": [{S: "2026-01-03"}]},
        },
        "QueryFilter": {"status": {"ComparisonOperator": "EQ", "AttributeValueList": [{S: "new"}]}},
    },
    {
        "TableName": "flat",
        "IndexName": "by_kind",
        "KeyConditionExpression": "kind = :k",
        "ExpressionAttributeValues": v(k="k1"),
        "Limit": 3,
    },
]


def pages(ddb, query: dict) -> list:
    """Every page of a Query of the orders table (query_pages)."""
    return query_pages(ddb, {"TableName": "orders"} | query)


def moto_s_own(monkeypatch, run):
    """What `run()` answers with moto's own Query and listing of the table."""
    from moto.dynamodb.models.table import Table

    with monkeypatch.context() as mp:
        mp.setattr(Table, "query", internals._original(Table, "query"))
        mp.setattr(Table, "all_items", internals._original(Table, "all_items"))
        mp.setattr(Table, "sorted_items", internals._original(Table, "sorted_items"))
        return run()


def same_as_moto(ddb, monkeypatch, queries=QUERIES) -> list:
    fast = [pages(ddb, q) for q in queries]
    assert moto_s_own(monkeypatch, lambda: [pages(ddb, q) for q in queries]) == fast
    return fast


def test_an_index_query_reads_its_partition_alone_and_answers_as_moto_does(ddb, monkeypatch, listed):
    fill(ddb)
    fast = same_as_moto(ddb, monkeypatch)
    # never the 121 items of the table (nor the 30 of flat), only an index partition's
    assert listed and max(listed) < 50, listed
    m1 = [i["sk"][S] for p in fast[0] for i in p[0]]
    assert len(m1) == 36 and "bare" not in m1  # no placed_sk: not in by_placed (sparse)
    assert sum(p[1] for p in fast[3]) > 0 and fast[3][0][0] is None  # Select COUNT
    assert len(fast[1]) > 1 and len(fast[5]) > 1 and len(fast[8]) > 1  # paged
    g1 = [i["sk"][S] for p in fast[5] for i in p[0]]
    assert len(g1) == 30 and set(fast[5][0][0][0]) <= {"pk", "sk", "g"}  # 1 and 1.0, KEYS_ONLY
    assert [i["v"]["N"] for p in fast[10] for i in p[0]] == ["1", "4", "7", "13", "16", "19", "22", "28"]
    assert fast[4] == [([], 0, 0, None)]


def test_writes_between_index_queries_are_seen_by_the_next_one(ddb, monkeypatch):
    fill(ddb)
    same_as_moto(ddb, monkeypatch)
    ddb.put_item(TableName="orders", Item=order(500, 1, placed_sk={S: "2026-01-01"}))
    ddb.put_item(TableName="orders", Item=order(501, None))  # sparse: not listed
    ddb.delete_item(TableName="orders", Key={"pk": {S: "o#3"}, "sk": {S: "x#0010"}})
    ddb.update_item(  # moved from m#1 to m#2, its range key changed
        TableName="orders",
        Key={"pk": {S: "o#2"}, "sk": {S: "x#0016"}},
        UpdateExpression="SET list_pk = :h, placed_sk = :p",
        ExpressionAttributeValues=v(h="m#2", p="2026-01-09"),
    )
    ddb.update_item(  # out of every list (the index key removed)
        TableName="orders",
        Key={"pk": {S: "o#4"}, "sk": {S: "x#0004"}},
        UpdateExpression="REMOVE list_pk, g",
    )
    ddb.update_item(  # now in by_g, by a number written another way
        TableName="orders",
        Key={"pk": {S: "o#2"}, "sk": {S: "x#0023"}},
        UpdateExpression="SET g = :g",
        ExpressionAttributeValues=v(g="#1.000"),
    )
    ddb.update_item(
        TableName="flat",
        Key={"id": {S: "i00"}},
        UpdateExpression="SET kind = :k",
        ExpressionAttributeValues=v(k="k1"),
    )
    after = same_as_moto(ddb, monkeypatch)
    m1 = [i["sk"][S] for p in after[0] for i in p[0]]
    assert "x#0500" in m1 and "x#0501" not in m1 and "x#0010" not in m1 and "x#0016" not in m1
    assert "x#0004" not in m1 and len(m1) == 36 + 1 - 1 - 1 - 1
    m2 = [i["sk"][S] for p in pages(ddb, QUERIES[2] | {"Limit": 100}) for i in p[0]]
    assert m2[-1] == "x#0016"  # newest placed_sk, last
    g1 = [i["sk"][S] for p in after[5] for i in p[0]]
    assert "x#0023" in g1 and "x#0004" not in g1
    assert "i00" in [i["id"][S] for p in after[10] for i in p[0]]

    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "orders", "Item": order(600, 1, placed_sk={S: "2026-01-02"})}},
            {
                "Update": {
                    "TableName": "orders",
                    "Key": {"pk": {S: "o#0"}, "sk": {S: "x#0007"}},
                    "UpdateExpression": "SET list_pk = :h",
                    "ExpressionAttributeValues": v(h="m#0"),
                }
            },
            {"Delete": {"TableName": "orders", "Key": {"pk": {S: "o#6"}, "sk": {S: "x#0013"}}}},
        ]
    )
    last = same_as_moto(ddb, monkeypatch)
    m1 = [i["sk"][S] for p in last[0] for i in p[0]]
    assert "x#0600" in m1 and "x#0007" not in m1 and "x#0013" not in m1


def test_a_page_after_a_write_starts_where_moto_would_start_it(ddb, monkeypatch):
    fill(ddb)
    query = {"TableName": "orders", **QUERIES[0], "Limit": 10}
    first = ddb.query(**query)
    start = first["LastEvaluatedKey"]
    # the item the page ended on is deleted, one before it and one after it are written
    ddb.delete_item(TableName="orders", Key={k: start[k] for k in ("pk", "sk")})
    ddb.put_item(TableName="orders", Item=order(700, 1, placed_sk={S: "2026-01-01"}))
    ddb.put_item(TableName="orders", Item=order(701, 1, placed_sk={S: "2026-01-05"}))
    for forward in (True, False):
        rest = {**query, "ExclusiveStartKey": start, "ScanIndexForward": forward}

        def answer(rest=rest):
            resp = ddb.query(**rest)
            return resp["Items"], resp["Count"], resp["ScannedCount"], resp.get("LastEvaluatedKey")

        fast = answer()
        assert moto_s_own(monkeypatch, answer) == fast
        assert fast[1] == 10  # a full page either way


def test_index_queries_can_be_turned_off_alone(ddb, monkeypatch, listed):
    fill(ddb)
    monkeypatch.setattr(internals, "_partitions_read", {"table"})
    pages(ddb, QUERIES[0])
    assert listed == [121]  # moto's listing of the whole table
    monkeypatch.setattr(internals, "_partitions_read", {"table", "index"})
    pages(ddb, QUERIES[0])
    assert listed[1:] == [37]  # m#1's items, the one without placed_sk included (moto drops it)


def test_a_changed_index_query_in_moto_fails_the_check_loudly(monkeypatch):
    """moto's Query that lists an index otherwise (here: no hash conditions read) is refused at
    start-up, naming the touch point, rather than answering from the wrong items."""
    from moto.dynamodb.models.table import Table

    internals.patch_moto()

    def query(
        self,
        hash_key,
        range_comparison,
        range_objs,
        limit,
        exclusive_start_key,
        scan_index_forward,
        projection_expressions,
        index_name=None,
        consistent_read=False,
        filter_expression=None,
        hash_key_conditions=None,
        range_key_conditions=None,
        **filter_kwargs,
    ):
        return [item for item in self.all_items() if item.hash_key == hash_key], 0, None

    monkeypatch.setitem(internals._originals, (Table, "query"), query)
    found = [p for p in internals.problems() if p.startswith("query_one_index_partition:")]
    assert found == [
        "query_one_index_partition: Table.query no longer finds an index partition with "
        "'for attr_name, value in hash_key_conditions:'"
    ]


def test_an_index_partition_is_sorted_as_moto_sorts_it(ddb):
    """By values computed once: the same order, ties (1 and 1.0, a shared placed_sk) kept in the
    order given, as moto's stable sort keeps them; other types in one attribute: moto's sort."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    fill(ddb)
    table = internals.dynamodb_table("orders")
    original = internals._original(Table, "sorted_items")
    every = [i for bucket in table.items.values() for i in bucket.values()]
    for hash_attrs, range_attrs in (
        (["g", "pk"], [None, "sk"]),
        (["list_pk", "pk"], ["placed_sk", "sk"]),
        (["list_pk", "pk"], ["n", "sk"]),
        (["pk"], ["n"]),  # n's ties left in the order given
    ):
        needed = [a for a in hash_attrs + range_attrs if a]
        items = [i for i in reversed(every) if all(a in i.attrs for a in needed)]
        ours = table.sorted_items(hash_attrs, range_attrs, list(items))
        assert [id(i) for i in ours] == [id(i) for i in original(table, hash_attrs, range_attrs, list(items))]
    items = [i for i in every if "list_pk" in i.attrs][:5]
    items[2].attrs["list_pk"] = DynamoType({"N": "3"})  # not as DynamoDB allows: moto's own sort decides
    for sort in (table.sorted_items, lambda *a: original(table, *a)):
        with pytest.raises(TypeError):
            sort(["list_pk", "pk"], [None, "sk"], list(items))


def test_an_index_scan_is_sorted_and_paged_as_moto_does_it(ddb, monkeypatch):
    """An index Scan sorts with Table.sorted_items too."""
    fill(ddb)

    def scans():
        out = []
        for table, index in (
            ("orders", "by_placed"),
            ("orders", "by_g"),
            ("orders", "by_n"),
            ("flat", "by_kind"),
        ):
            start = None
            while True:
                resp = ddb.scan(
                    TableName=table,
                    IndexName=index,
                    Limit=17,
                    **({"ExclusiveStartKey": start} if start else {}),
                )
                out.append((resp["Items"], resp.get("LastEvaluatedKey")))
                start = resp.get("LastEvaluatedKey")
                if not start:
                    break
        return out

    fast = scans()
    assert moto_s_own(monkeypatch, scans) == fast
    assert sum(len(items) for items, _ in fast) == 108 + 60 + 120 + 24


def test_index_queries_racing_transactions_see_each_one_whole(ddb):
    """Readers Query a partition while a writer moves items in and out of it in transactions that
    keep its size: every Query sees the partition between two transactions (DynamoDB requests are
    served one at a time; the partition a Query reads is its own thread's)."""
    import threading

    for n in range(40):
        ddb.put_item(TableName="orders", Item=order(n, 0))  # m#0: 40 items
    wrong: list = []

    def writer():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for n in range(40, 100):
            client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "orders", "Item": order(n, 0)}},
                    {
                        "Update": {  # the oldest one leaves m#0 for m#1
                            "TableName": "orders",
                            "Key": {"pk": {S: f"o#{(n - 40) % 7}"}, "sk": {S: f"x#{n - 40:04d}"}},
                            "UpdateExpression": "SET list_pk = :h",
                            "ExpressionAttributeValues": v(h="m#1"),
                        }
                    },
                ]
            )

    def reader():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for _ in range(40):
            resp = client.query(TableName="orders", **QUERIES[0] | {"ExpressionAttributeValues": v(h="m#0")})
            if resp["Count"] != 40 or any(i["list_pk"][S] != "m#0" for i in resp["Items"]):
                wrong.append(resp["Count"])

    with internals.dynamodb_one_request_at_a_time():
        threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert wrong == []
    m0 = pages(ddb, QUERIES[0] | {"ExpressionAttributeValues": v(h="m#0")})
    assert sorted(i["sk"][S] for p in m0 for i in p[0]) == [f"x#{n:04d}" for n in range(60, 100)]
