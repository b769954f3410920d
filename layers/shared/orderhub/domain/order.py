"""Facts about one order that several domain rules read. Pure, and it imports nothing from the
domain, so actions, ingest and the sync rules can all build on it (docs/orders.md)."""

from __future__ import annotations

import json

# Payment methods paid after the order is placed: the order waits in pending until the
# marketplace reports the payment (no hold sweep).
DEFERRED_METHODS = frozenset({"bank_transfer", "konbini"})
# Methods released when the marketplace shows the order paid, with no hold window: the deferred
# ones, and "marketplace" (the marketplace collects and clears the payment: Wish's orders arrive
# paid and are released at once; an Amazon order still Pending waits until Amazon clears it).
RELEASED_WHEN_PAID = DEFERRED_METHODS | {"marketplace"}

# Fields a marketplace owns; the merchant's own fields (tags, mapping codes...) are kept.
MARKETPLACE_FIELDS = ("placed_at", "payment", "currency", "total", "items", "recipient")

# Tags only orderhub sets (a registration refuses them): a reflect to the marketplace failed; a
# paid cancel request waits for the warehouse.
REFLECT_TAG = "mall_reflect_error"
WITHDRAWAL_TAG = "withdrawal_requested"


def mapping_result(items: list[dict]) -> str:
    """ok when every item has a merchant item code."""
    return "ok" if items and all(i.get("item_code") for i in items) else "fail"


# The most an order may weigh, as JSON, when it is registered: DynamoDB stores an item of up to
# 400 KB (names and values); the rest is room for what the order gathers later (tags, tracking,
# the item codes of up to 500 lines, the index attributes).
ORDER_BYTES = 300 * 1024


def order_bytes(order: dict) -> int:
    return _json_size(order)


# What a history entry keeps of a change to an order's item lines: the lines that differ, up to
# this many bytes of JSON (an order has up to 500 lines; a whole before-and-after copy of them
# could pass DynamoDB's 400 KB item limit). The rest is counted, not copied.
ITEM_CHANGES_BYTES = 32 * 1024


def history_changes(before: dict, after: dict, fields) -> dict:
    """What a history entry records of a change: `[before, after]` for each field that changed,
    except the item lines, recorded line by line (`item_changes`)."""
    out: dict = {}
    for key in fields:
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        out[key] = item_changes(old or [], new or []) if key == "items" else [old, new]
    return out


def item_changes(old: list[dict], new: list[dict]) -> dict:
    """The lines that differ, by position (line numbers from 1): a changed line with the fields
    that changed as `[before, after]`, an added or removed line whole; at most
    ITEM_CHANGES_BYTES of them, the others counted in `omitted`."""
    lines: list[dict] = []
    omitted = 0
    size = 0
    for n in range(max(len(old), len(new))):
        a = old[n] if n < len(old) else None
        b = new[n] if n < len(new) else None
        if a == b:
            continue
        if a is None:
            line: dict = {"line": n + 1, "added": b}
        elif b is None:
            line = {"line": n + 1, "removed": a}
        else:
            diff = {k: [a.get(k), b.get(k)] for k in sorted({*a, *b}) if a.get(k) != b.get(k)}
            line = {"line": n + 1, "sku": b.get("sku"), "fields": diff}
        cost = _json_size(line)
        if omitted or size + cost > ITEM_CHANGES_BYTES:
            omitted += 1
            continue
        lines.append(line)
        size += cost
    out: dict = {"lines_before": len(old), "lines_after": len(new), "changed": lines}
    if omitted:
        out["omitted"] = omitted
    return out


def _json_size(value) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str).encode("utf-8"))
