"""The sparse global indexes are write-sharded (docs/data-model.md, "Key heat"): an order's by_due
partition is `<kind>#<shard>` and its by_stage partition `STAGE#<stage>#<shard>`, the shard fixed by
the order id, the orders spread over every shard, the sort keys as before."""

from __future__ import annotations

from collections import Counter

from orderhub.store import db, keys

DEADLINE = "2026-11-30T04:01:00.000Z"


def order(oid: str, **over) -> dict:
    return {
        "merchant_id": "m",
        "order_id": oid,
        "marketplace_order_no": "1",
        "placed_at": "2026-11-25T03:00:00.000Z",
        "updated_at": "2026-11-25T03:00:00.000Z",
        "deadline_at": DEADLINE,
        "status": "processing",
        "shipment_stage": "requested",
        "shipment_requested_at": "2026-11-25T04:00:00.000Z",
        **over,
    }


def test_the_shard_is_fixed_by_the_order_id_and_the_sort_keys_are_unchanged():
    for oid in ("ord_1", "ord_01JDXYZ", "ord_2"):
        due, stage = keys.shard_of(oid, keys.DUE_SHARDS), keys.shard_of(oid, keys.STAGE_SHARDS)
        attrs = db.index_attrs(order(oid))
        assert attrs["due_kind"] == f"DEADLINE#{due}" and attrs["due_at"] == f"{DEADLINE}#m#{oid}"
        assert attrs["stage_pk"] == f"STAGE#requested#{stage}"
        assert attrs["stage_sk"] == f"2026-11-25T04:00:00.000Z#m#{oid}"
        # the same order in another state keeps its shard
        flagged = db.index_attrs(order(oid, overdue_at="2026-11-30T05:00:00.000Z", shipment_stage="picking"))
        assert (flagged["due_kind"], flagged["stage_pk"]) == (f"OVERDUE#{due}", f"STAGE#picking#{stage}")
        hold = db.index_attrs(order(oid, status="pending", hold_release_at="2026-11-25T04:00:00.000Z"))
        assert hold["due_kind"] == f"HOLD#{due}" and "stage_pk" in hold
        relink = db.index_attrs(
            order(oid, status="deleted", closeout_state="relinking", relink_requested_at=DEADLINE)
        )
        assert relink["due_kind"] == f"RELINK#{due}" and "stage_pk" not in relink
        # every value is one a reader queries
        assert attrs["due_kind"] in keys.all_shards("DEADLINE", keys.DUE_SHARDS)
        assert attrs["stage_pk"] in keys.all_shards(keys.stage_pk("requested"), keys.STAGE_SHARDS)


def test_orders_spread_over_every_shard():
    ids = [f"ord_{n:06d}" for n in range(1600)]
    due = Counter(db.index_attrs(order(oid))["due_kind"] for oid in ids)
    stage = Counter(db.index_attrs(order(oid))["stage_pk"] for oid in ids)
    assert set(due) == {f"DEADLINE#{i}" for i in range(keys.DUE_SHARDS)}
    assert set(stage) == {f"STAGE#requested#{i}" for i in range(keys.STAGE_SHARDS)}
    # no shard takes much more than its share (100 and 200 here)
    assert max(due.values()) < 1.3 * len(ids) / keys.DUE_SHARDS
    assert max(stage.values()) < 1.3 * len(ids) / keys.STAGE_SHARDS
