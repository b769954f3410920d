"""Facts about one order that several domain rules read. Pure, and it imports nothing from the
domain, so actions, ingest and the sync rules can all build on it (docs/orders.md)."""

from __future__ import annotations

# Payment methods paid after the order is placed: the order waits in pending until the
# marketplace reports the payment (no hold sweep).
DEFERRED_METHODS = frozenset({"bank_transfer", "konbini"})

# Fields a marketplace owns; the merchant's own fields (tags, mapping codes...) are kept.
MARKETPLACE_FIELDS = ("placed_at", "payment", "currency", "total", "items", "recipient")


def mapping_result(items: list[dict]) -> str:
    """ok when every item has a merchant item code."""
    return "ok" if items and all(i.get("item_code") for i in items) else "fail"
