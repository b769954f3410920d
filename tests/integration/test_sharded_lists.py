"""A merchant's lists and status tabs spread over shards (docs/data-model.md, "Key heat" and
"Migration: sharded merchant lists"), on moto: GET /orders pages every tab and basis through the
shards and the legacy partition values an older release wrote, each order once, newest first;
filters, jobs over a filter and the urgency counts see every order; the migration moves the
legacy items onto their shards without changing the orders or publishing anything."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer

from orderhub.domain import actions
from orderhub.events import stream
from orderhub.jobs import runner
from orderhub.kernel import aws, clock
from orderhub.kernel.config import settings
from orderhub.kernel.errors import ValidationFailed
from orderhub.orders import bulk, lifecycle, queries, registration
from orderhub.store import db, keys, migrate
from tests.integration.test_registration import body
from tests.support.factories import T0

pytestmark = pytest.mark.slowest(20)

# Every tab and basis a merchant pages through.
LISTS = [
    {},
    {"date_basis": "updated"},
    {"status": "new"},
    {"status": "processing"},
    {"status": "processing", "date_basis": "updated"},
    {"status": "on_hold"},
]


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.freeze(T0)
    yield
    clock.freeze(None)


def _table():
    return aws.table(settings().table_name)


def register(n: int, marketplace: str = "rakuten") -> dict:
    b = body(f"S-{n}")
    b["marketplace"] = marketplace
    b["placed_at"] = clock.iso(T0 - timedelta(minutes=n))
    return registration.register_manual("demo", b)


def make_legacy(order_id: str) -> None:
    """The order's list keys as the release before the shards wrote them (the unsharded values)."""
    item = _table().get_item(Key=keys.order_key("demo", order_id))["Item"]
    _table().update_item(
        Key=keys.order_key("demo", order_id),
        UpdateExpression="SET list_pk = :l, status_pk = :s",
        ExpressionAttributeValues={
            ":l": keys.list_pk("demo"),
            ":s": keys.status_pk("demo", item["status"]),
        },
    )


def build(n: int = 80, legacy_every: int = 4) -> tuple[list[str], set[str]]:
    """`n` orders (every 8th on qoo10), every 3rd confirmed, every 10th held; every
    `legacy_every`-th left with the legacy list keys. Their ids (newest placed first) and the
    legacy ones."""
    ids = [register(i, "qoo10" if i % 8 == 5 else "rakuten")["order_id"] for i in range(n)]
    for i, oid in enumerate(ids):
        clock.freeze(T0 + timedelta(seconds=n - i))  # updated_at in another order than placed_at
        if i % 3 == 0:
            lifecycle.apply("demo", oid, lambda o, now: actions.confirm(o, now), actor="merchant")
        elif i % 10 == 1:
            lifecycle.apply(
                "demo", oid, lambda o, now: actions.hold(o, "address check", now), actor="merchant"
            )
    clock.freeze(T0 + timedelta(minutes=5))
    legacy = set(ids[::legacy_every])
    for oid in legacy:
        make_legacy(oid)
    return ids, legacy


def items_of(ids) -> dict[str, dict]:
    return {oid: _table().get_item(Key=keys.order_key("demo", oid))["Item"] for oid in ids}


def expected(items: dict[str, dict], query: dict) -> list[str]:
    """The order ids a list shows, from the stored orders: newest first by the basis."""
    basis = "updated_sk" if query.get("date_basis") == "updated" else "placed_sk"
    shown = [
        i
        for i in items.values()
        if i["status"] == query.get("status", i["status"])
        and i["marketplace"] == query.get("marketplace", i["marketplace"])
    ]
    return [i["order_id"] for i in sorted(shown, key=lambda i: i[basis], reverse=True)]


def pages(query: dict, size: str = "25") -> list[list[str]]:
    """Every page GET /orders shows for the query, following next_cursor."""
    out, cursor = [], None
    while True:
        page = queries.list_orders(
            "demo", {**query, "page_size": size, **({"cursor": cursor} if cursor else {})}
        )
        out.append([o["order_id"] for o in page["orders"]])
        cursor = page["next_cursor"]
        if not cursor:
            return out
        assert len(out) < 50


def listed(query: dict) -> list[str]:
    return [oid for page in pages(query) for oid in page]


def test_every_tab_and_basis_pages_each_order_once_newest_first_across_shards_and_legacy(app_env):
    ids, legacy = build()
    items = items_of(ids)
    # The orders are spread over every shard, and some are still under the legacy value.
    assert {i["list_pk"] for i in items.values()} == set(keys.all_shards("demo", keys.LIST_SHARDS))
    assert {i["list_pk"] for i in items.values() if i["order_id"] in legacy} == {"demo"}
    for query in LISTS:
        want = expected(items, query)
        got = pages(query)
        assert [oid for page in got for oid in page] == want, query
        assert all(len(page) == 25 for page in got[:-1]) and got[-1], query
    assert len(pages({})) == 4 and len(listed({"status": "on_hold"})) > 4


def test_filters_and_the_order_number_search_work_across_the_shards(app_env):
    ids, legacy = build()
    items = items_of(ids)
    for query in ({"marketplace": "qoo10"}, {"status": "new", "marketplace": "rakuten"}):
        assert listed(query) == expected(items, query), query
    assert len(listed({"marketplace": "qoo10"})) == 10
    legacy_no = items[sorted(legacy)[0]]["marketplace_order_no"]
    [found] = queries.list_orders("demo", {"q": legacy_no})["orders"]
    assert found["order_id"] == sorted(legacy)[0]
    # preset today: placed today in Tokyo (T0 is 12:00 JST; the oldest order is 79 minutes older)
    assert listed({"preset": "today"}) == expected(items, {})


def test_a_cursor_fits_only_its_own_list(app_env):
    build(60)
    cursor = queries.list_orders("demo", {"page_size": "25"})["next_cursor"]
    assert cursor
    for other in ({"status": "new"}, {"date_basis": "updated"}, {"q": "S-1"}, {"marketplace": "qoo10"}):
        with pytest.raises(ValidationFailed) as exc:
            queries.list_orders("demo", {**other, "page_size": "25", "cursor": cursor})
        assert (exc.value.status, exc.value.field) == (400, "cursor"), other
    # one character changed for another in the middle (the last two set to "AA" changed nothing
    # when the cursor already ended so: the test failed once in a few hundred runs)
    i = len(cursor) // 2
    tampered = cursor[:i] + ("B" if cursor[i] == "A" else "A") + cursor[i + 1 :]
    assert tampered != cursor
    with pytest.raises(ValidationFailed) as exc:
        queries.list_orders("demo", {"page_size": "25", "cursor": tampered})
    assert exc.value.field == "cursor"
    assert queries.list_orders("demo", {"page_size": "25", "cursor": cursor})["orders"]


def take_message(env) -> str:
    sqs = boto3.client("sqs", region_name="us-east-1")
    [msg] = sqs.receive_message(QueueUrl=env["JOBS_QUEUE_URL"], MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message(QueueUrl=env["JOBS_QUEUE_URL"], ReceiptHandle=msg["ReceiptHandle"])
    return msg["Body"]


def test_a_bulk_confirm_over_a_tab_takes_every_order_of_every_shard(app_env):
    ids, legacy = build(60)
    new = expected(items_of(ids), {"status": "new"})
    assert len(new) > 30 and set(new) & legacy
    job = bulk.start("demo", "confirm", {"status": "new"})
    runner.run(take_message(app_env), time_left=lambda: 800)
    final = runner.get("demo", job["job_id"])
    assert (final["state"], final["total"], final["succeeded"]) == ("done", len(new), len(new)), final
    assert all(db.get_order("demo", oid)["status"] == "processing" for oid in new)
    assert listed({"status": "new"}) == []


def test_the_urgency_counts_count_every_unfulfilled_order_of_every_shard(app_env):
    ids, _ = build(60)
    items = items_of(ids)
    unfulfilled = [i for i in items.values() if i["status"] in ("new", "processing", "on_hold")]
    deadline = max(i["deadline_at"] for i in unfulfilled)
    before = queries.urgency_counts("demo", clock.parse_date(deadline) - timedelta(days=3))
    assert before == {"unfulfilled": 60, "past_deadline": 0, "due_within_24h": 0, "urgency_complete": True}
    after = queries.urgency_counts("demo", clock.parse_date(deadline) + timedelta(minutes=1))
    assert after == {"unfulfilled": 60, "past_deadline": 60, "due_within_24h": 0, "urgency_complete": True}


def test_the_urgency_counts_say_when_a_status_held_more_than_they_read(app_env, monkeypatch):
    build(60)
    monkeypatch.setattr(queries, "URGENCY_READ_LIMIT", 18)  # 36 orders are new
    counts = queries.urgency_counts("demo")
    assert counts["urgency_complete"] is False and 18 <= counts["unfulfilled"] < 60


def _av(item: dict) -> dict:
    ser = TypeSerializer()
    return {k: ser.serialize(v) for k, v in item.items()}


def _record(old: dict, new: dict) -> dict:
    keys_ = {"pk": new["pk"], "sk": new["sk"]}
    return {
        "eventName": "MODIFY",
        "dynamodb": {
            "Keys": _av(keys_),
            "OldImage": _av(old),
            "NewImage": _av(new),
            "SequenceNumber": "1",
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def test_the_migration_moves_legacy_items_onto_their_shards_and_changes_nothing_else(app_env):
    ids, legacy = build(60, legacy_every=3)
    before_items = items_of(ids)
    before_lists = {json.dumps(q): listed(q) for q in LISTS}
    assert [(p.index, p.pk_attr, p.value) for p in migrate.legacy_list_partitions("demo")][:3] == [
        ("by_placed", "list_pk", "demo"),
        ("by_status_placed", "status_pk", "demo#pending"),
        ("by_status_placed", "status_pk", "demo#new"),
    ]

    out = total(migrate.rewrite_list_keys("demo"))

    assert out == {"rewritten": len(legacy), "skipped_changed": 0}
    after_items = items_of(ids)
    for oid in ids:
        old, new = before_items[oid], after_items[oid]
        wanted = db.index_attrs(db.order_from_item(new))
        assert (new["list_pk"], new["status_pk"]) == (wanted["list_pk"], wanted["status_pk"])
        assert {k: v for k, v in new.items() if k not in ("list_pk", "status_pk")} == {
            k: v for k, v in old.items() if k not in ("list_pk", "status_pk")
        }  # the version and every other attribute as they were
        if oid in legacy:
            assert new["list_pk"] != old["list_pk"]
            # The stream publisher sees the rewrite and publishes no domain event for it.
            assert stream.entries_of(_record(old, new), "bus") == []
            assert stream.entries_of(_record(old, {**new, "tags": ["x"]}), "bus")  # a real change does
    assert {json.dumps(q): listed(q) for q in LISTS} == before_lists
    assert total(migrate.rewrite_list_keys("demo")) == {"rewritten": 0, "skipped_changed": 0}


def test_the_migration_skips_an_order_written_meanwhile(app_env, monkeypatch):
    ids, legacy = build(24, legacy_every=2)
    items = items_of(ids)
    victim = next(oid for oid in ids if oid in legacy and items[oid]["status"] == "new")
    rewrite = migrate._rewrite

    def changed_meanwhile(item, attr, value):
        if item["order_id"] == victim:  # the merchant confirms it between the read and the rewrite
            lifecycle.apply("demo", victim, lambda o, now: actions.confirm(o, now), actor="merchant")
        return rewrite(item, attr, value)

    monkeypatch.setattr(migrate, "_rewrite", changed_meanwhile)
    out = total(migrate.rewrite_list_keys("demo"))
    assert out == {"rewritten": len(legacy) - 1, "skipped_changed": 1}
    after = items_of([victim])[victim]
    assert after["version"] == items[victim]["version"] + 1 and after["status"] == "processing"
    wanted = db.index_attrs(db.order_from_item(after))
    assert (after["list_pk"], after["status_pk"]) == (wanted["list_pk"], wanted["status_pk"])
    assert victim in listed({"status": "processing"}) and victim not in listed({"status": "new"})
    monkeypatch.setattr(migrate, "_rewrite", rewrite)
    assert total(migrate.rewrite_list_keys("demo")) == {"rewritten": 0, "skipped_changed": 0}


def total(per_partition: dict[str, dict[str, int]]) -> dict[str, int]:
    out = {"rewritten": 0, "skipped_changed": 0}
    for counts in per_partition.values():
        for k, v in counts.items():
            out[k] += v
    return out
