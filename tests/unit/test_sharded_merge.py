"""Reading a key spread over shards as one list (store/sharded.py), against a model of
DynamoDB's Query: Limit counts the items evaluated before the filter, LastEvaluatedKey is the
last item evaluated, ExclusiveStartKey resumes after it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from orderhub.store.sharded import DONE, MAX_CHUNK, items_upto, merged_items, merged_page


def fake_dynamodb(shards: list[list[dict]], keep=lambda item: True, reads: list | None = None):
    def query(q: dict) -> dict:
        data = sorted(shards[q["shard"]], key=lambda i: i["sk"], reverse=not q.get("ScanIndexForward", True))
        start = q.get("ExclusiveStartKey")
        if start:
            idx = next(n for n, i in enumerate(data) if i["sk"] == start["sk"])
            data = data[idx + 1 :]
        evaluated = data[: q["Limit"]]
        resp = {"Items": [i for i in evaluated if keep(i)]}
        if len(data) > q["Limit"]:
            resp["LastEvaluatedKey"] = {"pk": evaluated[-1]["pk"], "sk": evaluated[-1]["sk"]}
        if reads is not None:
            reads.append(len(evaluated))
        return resp

    return lambda queries: [query(q) for q in queries]


def shard_data(contents: list[list[int]]) -> list[list[dict]]:
    return [
        [{"pk": f"p#{n}", "sk": f"{v:06d}#{n}", "v": v} for v in set(vals)] for n, vals in enumerate(contents)
    ]


def walk(shards, size, descending, keep=lambda i: True):
    queries = [{"shard": n, "ScanIndexForward": not descending} for n in range(len(shards))]
    fetch = fake_dynamodb(shards, keep)
    pages, state = [], None
    while True:
        items, state = merged_page(
            queries, "sk", ("pk", "sk"), size=size, descending=descending, state=state, fetch=fetch
        )
        pages.append(items)
        if state is None:
            return pages
        assert len(pages) < 1000


contents = st.lists(st.lists(st.integers(0, 300), max_size=40), min_size=1, max_size=9)


@settings(max_examples=200, deadline=None)
@given(contents, st.integers(1, 25), st.booleans(), st.integers(1, 4))
def test_paging_through_the_shards_lists_each_item_once_in_order(contents, size, descending, modulo):
    shards = shard_data(contents)
    keep = lambda i: i["v"] % modulo == 0  # noqa: E731 (a filter that drops some items)
    pages = walk(shards, size, descending, keep)
    listed = [i["sk"] for page in pages for i in page]
    expected = sorted((i["sk"] for s in shards for i in s if keep(i)), reverse=descending)
    assert listed == expected
    assert all(len(p) == size for p in pages[:-1])  # every page but the last is full
    assert pages[-1] or len(pages) == 1  # no cursor leads to an empty page


def test_a_page_reads_about_what_it_shows_not_shards_times_the_page():
    shards = shard_data([list(range(n, 3000, 9)) for n in range(9)])
    reads: list[int] = []
    queries = [{"shard": n, "ScanIndexForward": False} for n in range(9)]
    items, state = merged_page(
        queries, "sk", ("pk", "sk"), size=50, descending=True, fetch=fake_dynamodb(shards, reads=reads)
    )
    assert len(items) == 50 and state is not None
    assert sum(reads) <= 2 * 50 + 9 * 12, reads


def test_a_shard_read_to_its_end_is_not_read_again():
    shards = shard_data([[1, 2], list(range(10, 60))])
    queries = [{"shard": n} for n in range(2)]
    items, state = merged_page(
        queries, "sk", ("pk", "sk"), size=5, descending=False, fetch=fake_dynamodb(shards)
    )
    assert [i["v"] for i in items] == [1, 2, 10, 11, 12]
    assert state == [DONE, {"pk": "p#1", "sk": "000012#1"}]


def test_merged_items_walks_every_shard_in_order():
    shards = shard_data([[5, 1, 9], [], [3, 7], [2]])
    queries = [{"shard": n} for n in range(4)]
    got = [i["v"] for i in merged_items(queries, "sk", chunk=2, fetch=fake_dynamodb(shards))]
    assert got == [1, 2, 3, 5, 7, 9]


def test_a_selective_filter_reads_on_in_growing_chunks():
    # 9 shards of 2,000 items, the filter keeps 1 in 1,000: a page of 25 reads every shard to its
    # end, in reads that grow to sharded.MAX_CHUNK instead of ~150 reads of 12 items each.
    shards = shard_data([list(range(n, 18000, 9)) for n in range(9)])
    reads: list[int] = []
    queries = [{"shard": n, "ScanIndexForward": False} for n in range(9)]
    keep = lambda i: i["v"] % 1000 == 0  # noqa: E731
    items, state = merged_page(
        queries, "sk", ("pk", "sk"), size=25, descending=True, fetch=fake_dynamodb(shards, keep, reads)
    )
    assert [i["v"] for i in items] == list(range(17000, -1, -1000)) and state is None
    assert max(reads) == MAX_CHUNK and len(reads) < 9 * 20, len(reads)


def test_items_upto_stops_after_about_max_read_and_says_so():
    shards = shard_data([list(range(n, 900, 3)) for n in range(3)])
    queries = [{"shard": n, "Limit": 50} for n in range(3)]
    items, complete = items_upto(queries, 200, fetch=fake_dynamodb(shards))
    assert not complete and 200 <= len(items) < 900
    items, complete = items_upto(queries, 900, fetch=fake_dynamodb(shards))
    assert complete and sorted(i["v"] for i in items) == list(range(900))
