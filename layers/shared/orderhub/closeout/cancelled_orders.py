"""The cancelled-orders view (docs/orders.md): list deleted and cancelled orders with reason, state and
actions, counts by reason, and restore. Lists are Queries on the sparse by_closed_out index."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from orderhub.domain import closeout
from orderhub.kernel import clock
from orderhub.kernel.errors import ValidationFailed
from orderhub.merchants import profiles
from orderhub.orders import lifecycle, queries
from orderhub.store import db, keys, paging
from orderhub.store.conditions import all_of, in_range
from orderhub.sync import integrations

FILTERS = ("reason", "from", "to", "marketplace", "state", "q")
# The counts by reason under filters are counted by reading the filtered orders (the all-time
# counts are counters): at most this many, newest first; beyond it `counts_complete` is false.
COUNT_LIMIT = 10_000


class DuplicateActive(Exception):
    def __init__(self, order_id: str):
        self.order_id = order_id


def service_start(merchant_id: str) -> datetime | None:
    text = (profiles.get_profile(merchant_id) or {}).get("service_start")
    return clock.parse_iso(text) if text else None


def _state_filter(state: str, now: datetime, start: datetime | None) -> tuple[str | None, str | None, Any]:
    """(lowest sk, highest sk, filter) that select the orders in `state`. Pure."""
    edge = clock.iso(closeout.window_start(now, start))
    before_edge = keys.through(clock.iso(closeout.window_start(now, start) - timedelta(milliseconds=1)))
    deleted = Attr("status").eq("deleted")
    api = Attr("origin").eq("api")
    by_hand = Attr("origin").is_in(list(closeout.RESTORE_ORIGINS))
    no_state = Attr("closeout_state").not_exists()
    if state == "none":
        return None, None, Attr("status").eq("cancelled")
    if state in ("relinking", "relinked"):
        return None, None, deleted & api & Attr("closeout_state").eq(state)
    family = api if state in ("relinkable", "relink_failed", "not_relinkable") else by_hand
    if state.startswith("not_"):
        return None, before_edge, deleted & family & ~Attr("closeout_state").is_in(["relinking", "relinked"])
    stored = no_state if state in ("relinkable", "restorable") else Attr("closeout_state").eq(state)
    return edge, None, deleted & family & stored


def plan(merchant_id: str, qs: dict[str, str], tz, now: datetime, start: datetime | None) -> dict | None:
    """The Query for a cancelled-orders request, or None when the filters select nothing. Pure."""
    reason, state = qs.get("reason"), qs.get("state")
    if reason is not None and reason not in closeout.REASONS:
        raise ValidationFailed(f"reason must be one of {', '.join(closeout.REASONS)}", field="reason")
    if state is not None and state not in closeout.STATES:
        raise ValidationFailed(f"state must be one of {', '.join(closeout.STATES)}", field="state")
    lo = clock.iso(queries._bound(qs["from"], "from", tz, end=False)) if qs.get("from") else None
    hi = keys.through(clock.iso(queries._bound(qs["to"], "to", tz, end=True))) if qs.get("to") else None
    if lo and hi and lo > hi:
        raise ValidationFailed("from must not be after to", field="from")
    filters = []
    if state:
        s_lo, s_hi, flt = _state_filter(state, now, start)
        lo = max(x for x in (lo, s_lo) if x) if (lo or s_lo) else None
        hi = min(x for x in (hi, s_hi) if x) if (hi or s_hi) else None
        filters.append(flt)
        if lo and hi and lo > hi:
            return None
    if reason:
        filters.append(Attr("closed_reason").eq(reason))
    if qs.get("q") is not None:
        text = qs["q"].strip()
        if not 1 <= len(text) <= 100:
            raise ValidationFailed("q must be 1 to 100 characters", field="q")
        # a part of the order number or of the recipient's name (as written: case counts)
        filters.append(Attr("marketplace_order_no").contains(text) | Attr("recipient.name").contains(text))
    if qs.get("marketplace"):
        filters.append(Attr("marketplace").eq(qs["marketplace"]))
    key = in_range(Key("cancel_pk").eq(keys.cancel_pk(merchant_id)), "cancel_sk", lo, hi)
    query: dict[str, Any] = {
        "IndexName": keys.BY_CLOSED_OUT,
        "KeyConditionExpression": key,
        "ScanIndexForward": False,
    }
    if filters:
        query["FilterExpression"] = all_of(filters)
    return query


def view(order: dict, now: datetime, start: datetime | None) -> dict:
    state = closeout.state(order, now, start)
    return {
        "order_id": order["order_id"],
        "marketplace": order.get("marketplace"),
        "marketplace_order_no": order.get("marketplace_order_no"),
        "origin": order.get("origin"),
        "packing_no": order.get("packing_no"),
        "status": order["status"],
        "reason": db.closed_reason(order),
        "closed_at": order.get("deleted_at") or order.get("cancelled_at") or order.get("updated_at"),
        "placed_at": order.get("placed_at"),
        "recipient_name": (order.get("recipient") or {}).get("name"),
        "state": state,
        "failure": order.get("closeout_failure"),
        "actions": closeout.actions(state),
        "version": order.get("version"),
    }


def list_page(merchant_id: str, query_string: dict[str, str] | None) -> dict:
    qs = dict(query_string or {})
    now, start = clock.now(), service_start(merchant_id)
    query = plan(merchant_id, qs, profiles.zone_of(merchant_id), now, start)
    rest = {k: v for k, v in qs.items() if k not in FILTERS}
    fingerprint = "closeout:" + paging.fingerprint(merchant_id, {k: qs[k] for k in FILTERS if k in qs})
    if query is None:  # the filters contradict each other: a Query on a key that holds nothing
        query = {
            "IndexName": keys.BY_CLOSED_OUT,
            "KeyConditionExpression": Key("cancel_pk").eq(keys.NOTHING_PK),
        }
    items, cursor = paging.page(query, rest, fingerprint)
    counts, complete = reason_counts(merchant_id, qs, now, start)
    return {
        "orders": [view(db.order_from_item(i), now, start) for i in items],
        "counts": counts,
        "counts_complete": complete,
        "next_cursor": cursor,
    }


def reason_counts(
    merchant_id: str, qs: dict[str, str], now: datetime, start: datetime | None
) -> tuple[dict[str, int], bool]:
    """The counts by reason under the request's filters other than `reason` itself (so each
    reason's count is what choosing it would list). Without such filters: the all-time counters,
    changed in the order's own transactions. With them: the filtered orders read by the same
    Query (their reason only), up to COUNT_LIMIT; (counts, complete)."""
    narrowing = {k: v for k, v in qs.items() if k in FILTERS and k != "reason"}
    if not narrowing:
        return db.get_reason_counts(merchant_id, closeout.REASONS), True
    counts = dict.fromkeys(closeout.REASONS, 0)
    query = plan(merchant_id, narrowing, profiles.zone_of(merchant_id), now, start)
    if query is None:
        return counts, True
    items, complete = db.query_items_upto({**query, "ProjectionExpression": "closed_reason"}, COUNT_LIMIT)
    for item in items:
        if item.get("closed_reason") in counts:
            counts[item["closed_reason"]] += 1
    return counts, complete


def restore(merchant_id: str, order_id: str, expected_version: Any = None) -> dict:
    """Restore a deleted csv/manual order at once (docs/orders.md), or record restore_failed (duplicate)."""
    start = service_start(merchant_id)

    def action(order: dict, now: datetime):
        closeout.check_restore(order, now, start)
        integration = integrations.for_ingestion(merchant_id, order["marketplace"])
        return lifecycle.Outcome(closeout.restored(order, now, integration), "restored")

    def lookup_ops(old: dict, new: dict) -> list[dict]:
        lookup = db.get_lookup(merchant_id, old["marketplace"], old["marketplace_order_no"])
        pointed = lookup["order_id"] if lookup else None
        if pointed and pointed != order_id:
            other = db.get_order(merchant_id, pointed)
            if other is not None and other["status"] != "deleted":
                raise DuplicateActive(pointed)
            return [db.repoint_lookup_op(new, pointed), db.still_deleted_op(merchant_id, pointed)]
        return [db.repoint_lookup_op(new, pointed)]

    try:
        new, _ = lifecycle.apply(
            merchant_id,
            order_id,
            action,
            actor="merchant",
            expected_version=expected_version,
            extra_ops=lookup_ops,
        )
    except DuplicateActive as dup:
        active = dup.order_id
        failed, _ = lifecycle.apply(
            merchant_id,
            order_id,
            lambda o, now: lifecycle.Outcome(
                closeout.restore_failed(o, "duplicate", now, active_order_id=active),
                "restore_failed",
                {"reason": "duplicate", "active_order_id": active},
            ),
            actor="merchant",
        )
        raise closeout.CloseoutRefused(
            f"an active order {active} has the same marketplace order number",
            field="order_id",
            rule="duplicate",
            state="restore_failed",
            active_order_id=active,
            status=failed["status"],
            allowed_actions=["restore"],
        ) from None
    return queries.order_view(new)
