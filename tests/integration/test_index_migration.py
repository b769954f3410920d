"""The move to the slim order indexes (docs/data-model.md, "Migration: index projections") on a
table written by today's code. template.yaml at IndexMigrationStep 0 is the table as it was; each
later step creates or drops one index (CloudFormation's rule for a table update), the readers
switch at step 7, once every slim index was created by an earlier update; and the lists, the
order-number search, the urgency counts, the pull's open orders, the sweeps and the digest answer
the same at every step, orders written mid-way included. A new stack (the default) has only the
slim indexes."""

from __future__ import annotations

import os
from datetime import timedelta

import boto3
import pytest

from orderhub.kernel import clock
from orderhub.kernel.config import settings
from orderhub.orders import queries
from orderhub.schedules import digest, sweeps
from orderhub.store import db, keys
from scripts.migrate_indexes import generation, indexes, last_step, template
from tests.integration.test_migrate_sharded_keys import FAR, KINDS, set_fields
from tests.integration.test_sharded_keys import frozen_clock as frozen_clock  # noqa: F401  (autouse)
from tests.integration.test_sharded_keys import ingested
from tests.support.factories import T0, later
from tests.support.moto_env import moto_app

LAST = 13
SWITCH = 7  # the step whose update switches the readers


def test_step_0_is_the_table_today_s_code_wrote_and_a_new_stack_gets_only_the_slim_indexes():
    before = indexes(0)
    assert set(before) == {*keys.SLIMMED, keys.BY_STAGE, keys.BY_CLOSED_OUT, keys.BY_MERCHANT_STAGE}
    assert all(before[name]["Projection"] == {"ProjectionType": "ALL"} for name in keys.SLIMMED)
    assert generation(0) == "whole"
    new = indexes(None)
    assert last_step() == LAST and new == indexes(LAST) and generation(None) == "slim"
    assert set(new) == {*(n + keys.SLIM_SUFFIX for n in keys.SLIMMED), *(set(before) - set(keys.SLIMMED))}
    for name in keys.SLIMMED:
        slim = new[name + keys.SLIM_SUFFIX]
        assert slim["KeySchema"] == before[name]["KeySchema"]  # the same keys: no item is rewritten
        assert slim["Projection"]["ProjectionType"] == "INCLUDE"
        assert not {"updated_at", "version", "items", "history"} & set(slim["Projection"]["NonKeyAttributes"])


@pytest.mark.parametrize("step", range(1, LAST + 1))
def test_each_step_is_one_update_cloudformation_accepts_and_the_readers_find_their_indexes(step, monkeypatch):
    before, after = indexes(step - 1), indexes(step)
    created, dropped = set(after) - set(before), set(before) - set(after)
    # DynamoDB creates or deletes one global secondary index per table update, and cannot change
    # one in place: the indexes both steps have are the same.
    assert {name: before[name] for name in set(before) & set(after)} == {
        name: after[name] for name in set(before) & set(after)
    }
    if step == SWITCH:
        assert (created, dropped) == (set(), set())
        assert (generation(step - 1), generation(step)) == ("whole", "slim")
    else:
        assert len(created) + len(dropped) == 1, (created, dropped)
        assert generation(step - 1) == generation(step)
    assert len(after) <= 20  # DynamoDB's quota of global secondary indexes per table
    # what the code reads exists, and was created by an earlier update (backfilled and ACTIVE:
    # scripts/migrate_indexes.py waits for that before the next step)
    monkeypatch.setenv("ORDER_INDEXES", generation(step))
    assert {keys.index(name) for name in keys.SLIMMED} <= set(before) & set(after)


def _applied(client, name: str, step: int) -> None:
    """Change the table as CloudFormation's update to `step` does: one index created or deleted."""
    before, after = indexes(step - 1), indexes(step)
    definitions = template(step).properties("OrdersTable")["AttributeDefinitions"]
    for created in set(after) - set(before):
        index = {k: after[created][k] for k in ("IndexName", "KeySchema", "Projection")}
        client.update_table(
            TableName=name, AttributeDefinitions=definitions, GlobalSecondaryIndexUpdates=[{"Create": index}]
        )
    for dropped in set(before) - set(after):
        client.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": dropped}}])
    live = {g["IndexName"] for g in client.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]}
    assert live == set(after)
    os.environ["ORDER_INDEXES"] = generation(step)


def _orders_of_every_kind(prefix: str, start) -> None:
    released = [ingested(f"{prefix}D{i}", start) for i in range(4)]
    ingested(f"{prefix}H1", start + timedelta(hours=3))  # pending: its payment hold ends later
    clock.freeze(start + timedelta(minutes=61))
    sweeps.hold_sweep(start + timedelta(minutes=61))
    set_fields("demo", released[0], tags=["gift"])
    set_fields("demo", released[1], overdue_at="2026-11-30T05:00:00.000Z")  # flagged overdue
    set_fields("demo", released[2], status="processing")


def answers() -> dict:
    lists = {
        name: queries.list_orders("demo", {"page_size": "100", **qs})
        for name, qs in {
            "all": {},
            "updated": {"date_basis": "updated"},
            "new": {"status": "new"},
            "processing": {"status": "processing", "date_basis": "updated"},
            "pending": {"status": "pending"},
            "search": {"q": "AD1"},
            "search updated": {"q": "BD2", "date_basis": "updated", "from": "2026-11-01"},
            "tag": {"tag": "gift"},
            "overdue": {"preset": "overdue"},
            "country": {"country": "JP"},
        }.items()
    }
    unfulfilled = digest.unfulfilled_by_merchant()
    return {
        "lists": lists,
        "urgency": queries.urgency_counts("demo", FAR),
        "open": db.open_orders("demo", "shopify", None, ("pending", "new", "processing"), 100),
        "due": {kind: [i["order_id"] for i in sweeps.due_items(kind, FAR)] for kind in KINDS},
        "digest": {m: sorted(o["order_id"] for o in got) for m, got in unfulfilled.items()},
    }


def test_every_answer_is_the_same_at_every_step_of_the_migration():
    with moto_app(parameters={"IndexMigrationStep": "0"}):
        assert os.environ["ORDER_INDEXES"] == "whole"
        client = boto3.client("dynamodb", region_name="us-east-1")
        name = settings().table_name
        _orders_of_every_kind("A", T0)
        expected = answers()
        assert len(expected["lists"]["all"]["orders"]) == 5 and expected["lists"]["tag"]["orders"]
        assert expected["lists"]["search"]["orders"] and expected["due"]["HOLD"]
        for step in range(1, LAST + 1):
            _applied(client, name, step)
            assert answers() == expected, f"step {step}"
            if step == 3:  # orders written mid-way, while both generations are written
                clock.freeze(later(120))
                _orders_of_every_kind("B", later(120))
                expected = answers()
                assert len(expected["lists"]["all"]["orders"]) == 10
        assert os.environ["ORDER_INDEXES"] == "slim"
        # the sweeps work on the slim index: the pending orders' holds end and they are released
        clock.freeze(FAR)
        assert sweeps.hold_sweep(FAR)["released"] == 2
        assert not list(sweeps.due_items("HOLD", FAR))
