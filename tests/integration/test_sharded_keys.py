"""The write-sharded keys of by_due and by_stage on moto (docs/data-model.md, "Key heat"): orders sit
in different shards and some still under the unsharded value today's code wrote before (legacy
items); the hold sweep and the deadline check release / flag every due order and read no other,
and the warehouse's queue pages across the shards oldest request first, each order once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orderhub.domain.models import Envelope
from orderhub.fulfillment import warehouse
from orderhub.kernel import aws, clock, metrics
from orderhub.kernel.config import settings
from orderhub.kernel.errors import ValidationFailed
from orderhub.schedules import sweeps
from orderhub.store import db, keys
from orderhub.store.paging import encode_cursor
from orderhub.webhooks import ingest
from tests.integration.test_shipments import requested
from tests.support.factories import T0, change, later
from tests.support.reads import items_read

JUST_AFTER = datetime(2026, 11, 30, 4, 1, tzinfo=UTC)  # the deadline of an order released at later(61)


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.freeze(T0)
    yield
    clock.freeze(None)


def table():
    return aws.table(settings().table_name)


def unsharded(value: str) -> str:
    """The value b257b10's index_attrs wrote: the kind or STAGE#<stage> without its shard."""
    head, _, shard = value.rpartition(keys.SEPARATOR)
    return head if head and shard.isdigit() else value


def legacy_item(item: dict) -> dict:
    """An order item as written before sharding (the same item, due_kind / stage_pk unsharded)."""
    return {k: unsharded(v) if k in ("due_kind", "stage_pk") else v for k, v in item.items()}


def make_legacy(merchant_id: str, order_id: str) -> dict:
    """Rewrite an order's item as the code before sharding wrote it; the item."""
    item = db.order_item(db.get_order(merchant_id, order_id))
    table().put_item(Item=legacy_item(item))
    return item


def stored_item(merchant_id: str, order_id: str) -> dict:
    return table().get_item(Key=keys.order_key(merchant_id, order_id), ConsistentRead=True)["Item"]


def ingested(order_no: str, placed_at: datetime) -> str:
    env = Envelope(
        merchant_id="demo",
        adapter="shopify",
        delivery_id=f"d-{order_no}",
        received_at=placed_at,
        change=change(order_no, placed_at=placed_at),
    ).model_dump_json()
    ingest.process(env)
    return db.get_lookup("demo", "shopify", order_no)["order_id"]


def test_sweeps_read_every_shard_and_the_legacy_value_and_nothing_not_due(app_env):
    due = [ingested(f"S{i}", T0) for i in range(8)]  # holds end at later(60)
    late = ingested("LATE", T0 + timedelta(hours=3))  # its hold ends three hours later
    kinds = {stored_item("demo", oid)["due_kind"] for oid in due}
    assert len(kinds) >= 3 and all(unsharded(k) == "HOLD" for k in kinds)  # several shards
    for oid in due[:3]:
        make_legacy("demo", oid)
    assert stored_item("demo", due[0])["due_kind"] == "HOLD"

    clock.freeze(later(61))
    ages = []
    stop = metrics.listen(
        lambda b: ages.append((b["sweep"], b["OldestDueAgeSeconds"])) if "sweep" in b else None
    )
    with items_read() as read:
        result = sweeps.hold_sweep(later(61))
    assert (result["due"], result["released"]) == (8, 8)
    assert ages == [("hold", [60.0])]  # the oldest hold ended a minute before, across the shards
    sweeps.hold_sweep(later(62))
    stop()
    assert ages[-1] == ("hold", [0.0])  # nothing due: nothing waits
    assert read["order_items"] == 8  # the late order's item is not read
    assert stored_item("demo", late)["status"] == "pending"
    for oid in due:
        item = stored_item("demo", oid)
        assert item["status"] == "new"
        assert item["due_kind"] == keys.sharded("DEADLINE", oid, keys.DUE_SHARDS)  # written now: sharded

    clock.freeze(later(241))
    assert sweeps.hold_sweep(later(241))["released"] == 1  # the late one: its deadline is 3 h later
    for oid in due[4:7]:
        make_legacy("demo", oid)
    assert stored_item("demo", due[5])["due_kind"] == "DEADLINE"

    order = [i["order_id"] for i in sweeps.due_items("DEADLINE", JUST_AFTER)]
    assert sorted(order) == sorted(due)  # each once, legacy items included, the late one not due
    due_at = [stored_item("demo", oid)["due_at"] for oid in order]
    assert due_at == sorted(due_at)  # oldest first across the shards

    clock.freeze(JUST_AFTER)
    with items_read() as read:
        result = sweeps.deadline_check(JUST_AFTER)
    assert (result["due"], result["overdue"]) == (8, 8)  # Shopify does not refund: flagged
    assert read["order_items"] == 8, read  # the 8 due items (no second read), not the late one
    assert stored_item("demo", late).get("overdue_at") is None
    for oid in due:
        assert stored_item("demo", oid)["due_kind"] == keys.sharded("OVERDUE", oid, keys.DUE_SHARDS)
    with items_read() as read:
        assert sweeps.deadline_check(JUST_AFTER)["due"] == 0
    assert read["order_items"] == 0


def _fill_requested(template: dict, n: int, legacy_every: int) -> list[str]:
    """`n` copies of an order at stage requested, a minute apart; every `legacy_every`-th one
    written as before sharding."""
    made = []
    for i in range(n):
        oid = f"{template['order_id']}-{i:02d}"
        at = clock.iso(T0 + timedelta(minutes=i + 1))
        item = db.order_item(
            {**template, "order_id": oid, "packing_no": f"P{i:05d}", "shipment_requested_at": at}
        )
        table().put_item(Item=legacy_item(item) if i % legacy_every == 0 else item)
        made.append(oid)
    return made


def test_the_warehouse_queue_pages_across_shards_oldest_first(app_env):
    first = requested("W-1")
    made = [first["order_id"], *_fill_requested(first, 60, legacy_every=4)]
    stage_pks = {stored_item("demo", oid)["stage_pk"] for oid in made}
    assert "STAGE#requested" in stage_pks and len(stage_pks) >= 6  # legacy and most of the 8 shards

    seen, cursor, pages = [], None, 0
    while True:
        qs = {"stage": "requested", "page_size": "25", **({"cursor": cursor} if cursor else {})}
        resp = warehouse.list_shipments(qs)
        seen += [s["order_id"] for s in resp["shipments"]]
        pages += 1
        cursor = resp["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and seen == made  # oldest request first, each order once

    assert warehouse.list_shipments({"stage": "picking"}) == {"shipments": [], "next_cursor": None}
    # A cursor of the unsharded list (before this release): a 400 naming cursor, the list starts again
    old = encode_cursor({k: stored_item("demo", made[24])[k] for k in warehouse.STAGE_KEY}, "stage:requested")
    with pytest.raises(ValidationFailed) as exc:
        warehouse.list_shipments({"stage": "requested", "page_size": "25", "cursor": old})
    assert exc.value.field == "cursor"
