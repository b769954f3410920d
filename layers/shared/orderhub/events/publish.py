"""Domain events from the table stream (README.md, Architecture): what changed on an order, as
EventBridge entries.

Event types (detail-type), source `orderhub.orders`:
  OrderCreated        detail: {merchant_id, order_id, marketplace, marketplace_order_no, version, order}
  OrderStatusChanged  detail: ... + {from, to, changed}
  OrderCancelled      detail: ... + {reason, changed}
  OrderUpdated        detail: ... + {changed: {field: {old, new}}} for fields other than status
An order change that touches only bookkeeping fields publishes nothing.
"""

from __future__ import annotations

from orderhub.kernel.http import dumps

SOURCE = "orderhub.orders"
# Bookkeeping fields: never announced on their own.
_QUIET = frozenset({"version", "updated_at", "marketplace_updated_at", "created_at", "hold_release_at"})


def _envelope(order: dict) -> dict:
    return {
        "merchant_id": order["merchant_id"],
        "order_id": order["order_id"],
        "marketplace": order.get("marketplace"),
        "marketplace_order_no": order.get("marketplace_order_no"),
        "version": order.get("version"),
    }


def changed_fields(old: dict, new: dict) -> dict[str, dict]:
    keys = (set(old) | set(new)) - _QUIET
    return {k: {"old": old.get(k), "new": new.get(k)} for k in sorted(keys) if old.get(k) != new.get(k)}


def events_for(old: dict | None, new: dict | None) -> list[tuple[str, dict]]:
    """(detail_type, detail) pairs for one stream record's images (already plain dicts)."""
    if new is None:
        return []
    if old is None:
        return [("OrderCreated", {**_envelope(new), "order": new})]
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
