"""Index key migrations (docs/data-model.md, "Migration: sharded keys"): items written before a key
was sharded carry its unsharded (legacy) value; readers read that value too until this tool has
rewritten them.

`migrate_sharded_keys()` walks each legacy partition of the platform (`LEGACY_PARTITIONS`: by_due,
by_stage) and `rewrite_list_keys(merchant)` those of one merchant's lists and tabs
(`legacy_list_partitions`), with Queries of the index (never a Scan). Each order item found gets
the index attributes `db.index_attrs` gives that order now: one conditional UpdateItem per item
(the order's `version` unchanged and the partition's attribute still holding the legacy value);
nothing else of the item changes (not its version, not `updated_at`). An order written meanwhile
got the new keys from that write, so it is skipped. Idempotent: a second run finds the legacy
partitions empty.

Command lines (with the stack's table):

    PYTHONPATH=layers/shared TABLE_NAME=<table> python -c \\
      "from orderhub.store import migrate; print(migrate.migrate_sharded_keys())"
    PYTHONPATH=layers/shared TABLE_NAME=<table> python -c \\
      "from orderhub.store import migrate; print(migrate.rewrite_list_keys('<merchant>'))"

A legacy partition is data: one more `LegacyPartition` given to `migrate_sharded_keys(partitions)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from boto3.dynamodb.conditions import Key

from orderhub.domain.status import STATUSES, WAREHOUSE_QUEUE_STAGES
from orderhub.store import db, keys


@dataclass(frozen=True)
class LegacyPartition:
    """One partition of an index holding items written with a key value now sharded."""

    index: str  # the index (its generation-free name: keys.index gives the one the stack reads)
    pk_attr: str  # the attribute that is the index's partition key
    value: str  # its legacy (unsharded) value

    @property
    def label(self) -> str:
        return f"{self.index}:{self.value}"


def legacy_partitions() -> list[LegacyPartition]:
    """The partitions written before by_due and by_stage were sharded."""
    due = [
        LegacyPartition(keys.BY_DUE, "due_kind", kind)
        for kind in (keys.DUE_HOLD, keys.DUE_RELINK, keys.DUE_DEADLINE, keys.DUE_OVERDUE)
    ]
    stage = [LegacyPartition(keys.BY_STAGE, "stage_pk", keys.stage_pk(s)) for s in WAREHOUSE_QUEUE_STAGES]
    return due + stage


LEGACY_PARTITIONS: tuple[LegacyPartition, ...] = tuple(legacy_partitions())


def legacy_list_partitions(merchant_id: str) -> list[LegacyPartition]:
    """The partitions of one merchant's lists written before they were sharded: the merchant list
    on by_placed, then each status's tab on by_status_placed (by_updated and by_status_updated hold
    the same items under the same partition values)."""
    return [LegacyPartition(keys.BY_PLACED, "list_pk", keys.list_pk(merchant_id))] + [
        LegacyPartition(keys.BY_STATUS_PLACED, "status_pk", keys.status_pk(merchant_id, s)) for s in STATUSES
    ]


def rewrite_index_keys(index_name: str, legacy_pk_attr: str, legacy_value: str) -> dict[str, int]:
    """Rewrite the index attributes of every order item under `legacy_value` of `index_name`:
    {"rewritten": n, "skipped_changed": n} (changed since the index was read: a write of the order,
    which gave it the new keys, or another run of this tool)."""
    counts = {"rewritten": 0, "skipped_changed": 0}
    query = {
        "IndexName": keys.index(index_name),
        "KeyConditionExpression": Key(legacy_pk_attr).eq(legacy_value),
    }
    orders = (i for i in db.query_items(query) if i.get("sk") == keys.ORDER_SK)  # only orders carry them
    for item in db.whole_items(orders):
        done = _rewrite(item, legacy_pk_attr, legacy_value)
        counts["rewritten" if done else "skipped_changed"] += 1
    return counts


def _rewrite(item: dict, legacy_pk_attr: str, legacy_value: str) -> bool:
    """Set the item's index attributes to what index_attrs says of its order now (and remove those
    it no longer gives), on the condition that the partition's attribute still holds the legacy
    value; False when the item changed since it was read."""
    if item.get(legacy_pk_attr) != legacy_value:
        return False  # written since the index was read (read whole after it): that write gave the keys
    done = db.rewrite_index_attrs(
        item,
        db.INDEX_ATTRS,
        condition="#legacy = :legacy",
        names={"#legacy": legacy_pk_attr},
        values={":legacy": legacy_value},
    )
    if done is None:  # the partition's value is not a legacy one: nothing to migrate
        raise ValueError(f"{legacy_pk_attr} {legacy_value!r} is what index_attrs writes now")
    return done


def migrate_sharded_keys(
    partitions: Iterable[LegacyPartition] = LEGACY_PARTITIONS,
) -> dict[str, dict[str, int]]:
    """Rewrite every item of the legacy partitions: the counts per partition (`<index>:<value>`)."""
    return {p.label: rewrite_index_keys(p.index, p.pk_attr, p.value) for p in partitions}


def rewrite_list_keys(merchant_id: str) -> dict[str, dict[str, int]]:
    """Rewrite the orders of one merchant still under an unsharded list or tab value: the counts
    per partition, as migrate_sharded_keys answers them."""
    return migrate_sharded_keys(legacy_list_partitions(merchant_id))
