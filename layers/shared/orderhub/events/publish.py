"""Domain events from the table stream (README.md, Architecture): what changed on an order, as
EventBridge entries.

Event types (detail-type), source `orderhub.orders`:
  OrderCreated        detail: {merchant_id, order_id, marketplace, marketplace_order_no, version,
                               correlation_id, order}
  OrderStatusChanged  detail: ... + {from, to, changed}
  OrderCancelled      detail: ... + {reason, changed}
  OrderUpdated        detail: ... + {changed: {field: {old, new}}} for fields other than status
An order change that touches only bookkeeping fields publishes nothing.

Item lines are bounded: a PutEvents request holds 256 KiB, and the lines of one order can weigh
nearly that (500 lines from a 256 KiB webhook), twice over in an old and new copy. So
`changed.items` is what a history entry keeps of them, `{lines_before, lines_after, changed,
omitted?}` (domain/order.py item_changes: the lines that differ, at most 32 KB), and an
OrderCreated `order` heavier than ORDER_EVENT_BYTES carries its first lines that fit and
`items_omitted` (the count of the rest; GET /orders/{id} has them all).
"""

from __future__ import annotations

from orderhub.domain.order import item_changes, order_bytes
from orderhub.kernel.http import dumps

SOURCE = "orderhub.orders"
# Bookkeeping fields: never announced on their own.
_QUIET = frozenset(
    {"version", "updated_at", "marketplace_updated_at", "created_at", "hold_release_at", "correlation_id"}
)


def _envelope(order: dict) -> dict:
    return {
        "merchant_id": order["merchant_id"],
        "order_id": order["order_id"],
        "marketplace": order.get("marketplace"),
        "marketplace_order_no": order.get("marketplace_order_no"),
        "version": order.get("version"),
        # the change's correlation id (kernel/correlation.py): the delivery or request that made it
        "correlation_id": order.get("correlation_id"),
    }


# The most an OrderCreated event's order weighs as JSON; its envelope and the entry fit beside it.
ORDER_EVENT_BYTES = 200 * 1024


def changed_fields(old: dict, new: dict) -> dict[str, dict]:
    keys = (set(old) | set(new)) - _QUIET
    out: dict[str, dict] = {}
    for k in sorted(keys):
        before, after = old.get(k), new.get(k)
        if before != after:
            out[k] = (
                item_changes(before or [], after or []) if k == "items" else {"old": before, "new": after}
            )
    return out


def _bounded(order: dict) -> dict:
    """The order as an OrderCreated event carries it: whole, or its first lines that fit."""
    if order_bytes(order) <= ORDER_EVENT_BYTES:
        return order
    lines = order.get("items") or []
    size = order_bytes({**order, "items": [], "items_omitted": len(lines)})
    kept = []
    for line in lines:
        size += order_bytes(line) + 1
        if size > ORDER_EVENT_BYTES:
            break
        kept.append(line)
    return {**order, "items": kept, "items_omitted": len(lines) - len(kept)}


def events_for(old: dict | None, new: dict | None) -> list[tuple[str, dict]]:
    """(detail_type, detail) pairs for one stream record's images (already plain dicts)."""
    if new is None:
        return []
    if old is None:
        return [("OrderCreated", {**_envelope(new), "order": _bounded(new)})]
    changed = changed_fields(old, new)
    if not changed:
        return []
    out: list[tuple[str, dict]] = []
    if "status" in changed:
        out.append(
            (
                "OrderStatusChanged",
                {**_envelope(new), "from": old.get("status"), "to": new.get("status"), "changed": changed},
            )
        )
        if new.get("status") == "cancelled":
            out.append(
                ("OrderCancelled", {**_envelope(new), "reason": new.get("cancel_reason"), "changed": changed})
            )
    others = {k: v for k, v in changed.items() if k != "status"}
    if others and "status" not in changed:
        out.append(("OrderUpdated", {**_envelope(new), "changed": others}))
    return out


def entries(pairs: list[tuple[str, dict]], bus_name: str, time=None) -> list[dict]:
    return [
        {"Source": SOURCE, "DetailType": dt, "Detail": dumps(detail), "EventBusName": bus_name}
        for dt, detail in pairs
    ]


# ---------------------------------------------------------------- a stream batch, in PutEvents requests
# One PutEvents takes at most 10 entries and 256 KiB of them, an entry measured as EventBridge
# measures it: its Source, DetailType and Detail (and Resources, and 14 bytes for a Time) in UTF-8.
MAX_ENTRIES = 10
REQUEST_BYTES = 256 * 1024


def entry_bytes(entry: dict) -> int:
    size = 14 if entry.get("Time") else 0
    for name in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(name) or "").encode("utf-8"))
    return size + sum(len(r.encode("utf-8")) for r in entry.get("Resources") or [])


def requests(tagged: list[tuple[int, dict]]) -> list[list[tuple[int, dict]]]:
    """Entries, each with the index of the stream record it came from, in stream order, grouped
    into PutEvents requests: as many as fit (10 entries, 256 KiB), never reordered. An entry too
    big for a request of its own goes alone (EventBridge refuses it; its record is retried and
    then sent to the stream's on-failure queue, as before)."""
    out: list[list[tuple[int, dict]]] = []
    size = 0
    for item in tagged:
        weight = entry_bytes(item[1])
        if not out or len(out[-1]) >= MAX_ENTRIES or size + weight > REQUEST_BYTES:
            out.append([])
            size = 0
        out[-1].append(item)
        size += weight
    return out


def first_failed(batch: list[tuple[int, dict]], answer: dict) -> int | None:
    """The record index of the first entry a PutEvents answer refused (None when all were put)."""
    if not answer.get("FailedEntryCount"):
        return None
    for (index, _), result in zip(batch, answer.get("Entries") or [], strict=False):
        if result.get("ErrorCode"):
            return index
    return batch[0][0]  # a count without a failed entry: take the whole request as failed
