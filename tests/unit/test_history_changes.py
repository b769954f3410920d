"""How much of an order a history entry keeps, and how big an order may be (domain/order.py)."""

from __future__ import annotations

import json

from orderhub.domain.order import ITEM_CHANGES_BYTES, history_changes, item_changes


def line(n: int, **over) -> dict:
    return {"sku": f"SKU-{n}", "title": "商品" * 100, "quantity": 1, "price": "1000", **over}


def test_a_changed_line_keeps_only_the_fields_that_changed():
    old = [line(1), line(2)]
    new = [line(1), line(2, item_code="IT-2")]
    assert item_changes(old, new) == {
        "lines_before": 2,
        "lines_after": 2,
        "changed": [{"line": 2, "sku": "SKU-2", "fields": {"item_code": [None, "IT-2"]}}],
    }


def test_added_and_removed_lines_are_kept_whole():
    assert item_changes([line(1)], [line(1), line(2)])["changed"] == [{"line": 2, "added": line(2)}]
    assert item_changes([line(1), line(2)], [line(1)])["changed"] == [{"line": 2, "removed": line(2)}]


def test_500_changed_lines_are_bounded_and_the_rest_counted():
    old = [line(n) for n in range(500)]
    new = [line(n, item_code=f"IT-{n}" * 20) for n in range(500)]
    recorded = history_changes(
        {"items": old, "status": "new"}, {"items": new, "status": "new"}, ("items", "status")
    )
    assert set(recorded) == {"items"}
    size = len(json.dumps(recorded, ensure_ascii=False).encode())
    assert size <= ITEM_CHANGES_BYTES + 1024  # the lines kept, and the counts around them
    kept = recorded["items"]["changed"]
    assert kept and recorded["items"]["omitted"] == 500 - len(kept)
    assert [c["line"] for c in kept] == list(range(1, len(kept) + 1))  # the first lines, in order
    # a whole before-and-after copy would have been 20 times bigger (and over 400 KB)
    assert len(json.dumps([old, new], ensure_ascii=False).encode()) > 20 * size


def test_other_fields_keep_before_and_after():
    assert history_changes(
        {"status": "new", "tags": []}, {"status": "cancelled", "tags": ["x"]}, ("status", "tags")
    ) == {
        "status": ["new", "cancelled"],
        "tags": [[], ["x"]],
    }
