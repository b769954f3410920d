"""The sharded-keys migration (store/migrate.py, docs/data-model.md "Migration: sharded keys") on a
table written by the code before sharding: every legacy by_due / by_stage item gets its sharded
keys and nothing else changes (not the version, no domain event); a second run rewrites nothing;
an order written during the walk is skipped (that write gave it the new keys); the sweeps' reads,
the digest and the warehouse's queue answer the same before and after."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from localcloud import internals
from orderhub.domain.actions import Outcome
from orderhub.events import stream
from orderhub.fulfillment import warehouse
from orderhub.fulfillment.warehouse import report_stage
from orderhub.kernel import aws, clock
from orderhub.kernel.config import settings
from orderhub.orders import lifecycle
from orderhub.schedules import digest, sweeps
from orderhub.store import db, keys, migrate
from tests.integration.test_sharded_keys import _fill_requested, ingested, legacy_item, stored_item, unsharded
from tests.integration.test_sharded_keys import frozen_clock as frozen_clock  # noqa: F401  (autouse)
from tests.integration.test_shipments import requested
from tests.support.factories import T0, later

FAR = datetime(2030, 1, 1, tzinfo=UTC)  # every due item is due by then
KINDS = ("HOLD", "RELINK", "DEADLINE", "OVERDUE")
SHARDED = ("due_kind", "stage_pk")


def table():
    return aws.table(settings().table_name)


def order_items() -> dict[str, dict]:
    """Every order item by order id (test-only Scan: the product never scans)."""
    out, query = {}, {}
    while True:
        resp = table().scan(ConsistentRead=True, **query)
        out.update({i["order_id"]: i for i in resp["Items"] if i.get("entity") == "order"})
        if "LastEvaluatedKey" not in resp:
            return out
        query = {"ExclusiveStartKey": resp["LastEvaluatedKey"]}


def write_the_old_way() -> None:
    """Every order item as the code before sharding wrote it (due_kind / stage_pk unsharded)."""
    for item in order_items().values():
        table().put_item(Item=legacy_item(item))


def set_fields(merchant_id: str, order_id: str, **fields) -> dict:
    return lifecycle.apply(
        merchant_id, order_id, lambda o, now: Outcome({**o, **fields}, "test_set"), actor="test"
    )[0]


def a_table_of_every_kind() -> dict[str, int]:
    """Orders in each legacy partition; how many order items each partition holds."""
    released = [ingested(f"D{i}", T0) for i in range(5)]
    ingested("H1", T0 + timedelta(hours=3))  # pending, its hold ends later
    clock.freeze(later(61))
    sweeps.hold_sweep(later(61))
    set_fields("demo", released[0], overdue_at="2026-11-30T05:00:00.000Z")  # flagged: OVERDUE
    gone = {**db.get_order("demo", released[1]), "order_id": "ord_RELINKING", "status": "deleted"}
    gone |= {"closeout_state": "relinking", "relink_requested_at": clock.iso(later(61))}
    table().put_item(Item=db.order_item(gone))
    first = requested("W-1")
    _fill_requested(first, 30, legacy_every=1000)
    picking = requested("W-2")
    report_stage(picking["packing_no"], {"stage": "picking"})
    write_the_old_way()
    items = order_items().values()
    return {
        f"{index}:{value}": sum(1 for i in items if i.get(attr) == value)
        for index, attr in ((keys.BY_DUE, "due_kind"), (keys.BY_STAGE, "stage_pk"))
        for value in {i[attr] for i in items if attr in i}
    }


def answers() -> dict:
    """What the sweeps read, the digest lists and the warehouse's queue shows."""
    queue = {}
    for stage in ("requested", "picking"):
        seen, cursor = [], None
        while True:
            qs = {"stage": stage, "page_size": "25", **({"cursor": cursor} if cursor else {})}
            resp = warehouse.list_shipments(qs)
            seen += [s["order_id"] for s in resp["shipments"]]
            cursor = resp["next_cursor"]
            if not cursor:
                break
        queue[stage] = seen
    unfulfilled = {
        m: sorted(o["order_id"] for o in orders) for m, orders in digest.unfulfilled_by_merchant().items()
    }
    due = {kind: [i["order_id"] for i in sweeps.due_items(kind, FAR)] for kind in KINDS}
    return {"queue": queue, "digest": unfulfilled, "due": due}


def stream_records() -> list[dict]:
    """Every record of the table's stream so far, in order, as GetRecords gives them (read from
    moto's table in this process: localcloud/internals.py)."""
    shard = internals.dynamodb_table(settings().table_name).stream_shard
    return copy.deepcopy([r.to_json() for r in shard.items])


def test_the_migration_rewrites_legacy_keys_only_and_changes_no_answer(app_env):
    legacy = a_table_of_every_kind()
    assert set(legacy) == {
        *(f"by_due:{k}" for k in KINDS),
        "by_stage:STAGE#requested",
        "by_stage:STAGE#picking",
    }
    before_items = order_items()
    before = answers()
    assert len(before["queue"]["requested"]) == 31 and len(before["due"]["DEADLINE"]) == 36
    assert all(before["due"][k] for k in KINDS)
    records_before = {r["eventID"] for r in stream_records()}

    result = migrate.migrate_sharded_keys()

    assert sum(c["rewritten"] for c in result.values()) == len(before_items)  # every order item
    assert all(c["skipped_changed"] == 0 for c in result.values())
    # an order in a stage's queue is also released unshipped: its DEADLINE rewrite moved both keys
    assert result["by_due:HOLD"]["rewritten"] == legacy["by_due:HOLD"] == 1
    assert result["by_due:DEADLINE"]["rewritten"] == legacy["by_due:DEADLINE"]
    assert result["by_stage:STAGE#requested"] == {"rewritten": 0, "skipped_changed": 0}
    after_items = order_items()
    assert set(after_items) == set(before_items)
    for oid, item in after_items.items():
        old = before_items[oid]
        assert {k: v for k, v in item.items() if k not in SHARDED} == {
            k: v for k, v in old.items() if k not in SHARDED
        }  # the version and every other attribute as they were
        for attr, shards in (("due_kind", keys.DUE_SHARDS), ("stage_pk", keys.STAGE_SHARDS)):
            assert (attr in item) == (attr in old)
            if attr in item:
                assert (
                    item[attr] == keys.sharded(old[attr], oid, shards) and unsharded(item[attr]) == old[attr]
                )

    # the rewrites are index-only MODIFY records: the stream publisher announces nothing
    new_records = [r for r in stream_records() if r["eventID"] not in records_before]
    assert len(new_records) == len(before_items) and {r["eventName"] for r in new_records} == {"MODIFY"}
    assert all(stream.entries_of(r, "bus") == [] for r in new_records)
    released = [
        r
        for r in stream_records()
        if r["eventName"] == "MODIFY"
        and r["dynamodb"]["OldImage"].get("status") == {"S": "pending"}
        and r["dynamodb"]["NewImage"].get("status") == {"S": "new"}
    ]
    assert released and all(stream.entries_of(r, "bus") for r in released)

    assert answers() == before
    again = migrate.migrate_sharded_keys()
    assert all(c == {"rewritten": 0, "skipped_changed": 0} for c in again.values())
    assert set(again) == {p.label for p in migrate.LEGACY_PARTITIONS}


def test_an_order_written_during_the_walk_is_skipped_and_keeps_the_keys_of_that_write(app_env, monkeypatch):
    first, second = ingested("C1", T0), ingested("C2", T0)
    clock.freeze(later(61))
    sweeps.hold_sweep(later(61))
    write_the_old_way()
    assert stored_item("demo", first)["due_kind"] == "DEADLINE"
    version = stored_item("demo", first)["version"]
    real = db.query_items

    def a_write_meanwhile(query, table=None):
        for item in real(query, table):
            if item["order_id"] == first:  # the merchant tags it after the walk read it
                set_fields("demo", first, tags=["gift"])
            yield item

    monkeypatch.setattr(db, "query_items", a_write_meanwhile)
    result = migrate.migrate_sharded_keys()
    assert result["by_due:DEADLINE"] == {"rewritten": 1, "skipped_changed": 1}
    changed = stored_item("demo", first)
    assert changed["version"] == version + 1 and changed["tags"] == ["gift"]
    assert changed["due_kind"] == keys.sharded("DEADLINE", first, keys.DUE_SHARDS)  # from its own write
    assert stored_item("demo", second)["due_kind"] == keys.sharded("DEADLINE", second, keys.DUE_SHARDS)
    monkeypatch.setattr(db, "query_items", real)
    assert sum(c["rewritten"] + c["skipped_changed"] for c in migrate.migrate_sharded_keys().values()) == 0


def test_another_legacy_partition_is_one_more_entry(app_env):
    """The merchant list indexes will add their legacy partitions: a partition is data."""
    ingested("E1", T0)
    write_the_old_way()
    only = migrate.LegacyPartition(keys.BY_DUE, "due_kind", "HOLD")
    assert migrate.migrate_sharded_keys([only]) == {"by_due:HOLD": {"rewritten": 1, "skipped_changed": 0}}
