"""The cancelled-orders view (docs/orders.md): reasons, relink/restore states and the actions offered.
Pure functions, tested without AWS.

A deleted order of origin `api` can be relinked; one of origin `csv`/`manual` can be restored;
both only within 14 days of the deletion and never when deleted before the merchant's service
start. Cancelled orders (any cancel reason) can be neither.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from orderhub.domain import status as st
from orderhub.domain.deadline import deadline_for
from orderhub.domain.settings import Integration
from orderhub.kernel import clock
from orderhub.kernel.errors import Conflict

WINDOW = timedelta(days=14)
REASONS = (
    "seller_deleted_api",
    "seller_deleted_manual",
    "marketplace_cancelled",
    "seller_cancelled",
    "deadline_refunded",
)
STATES = (
    "relinkable",
    "relinking",
    "relinked",
    "relink_failed",
    "not_relinkable",
    "restorable",
    "restore_failed",
    "not_restorable",
    "none",
)
RESTORE_ORIGINS = ("csv", "manual")
# States stored on the order (closeout_state); the others are computed from the rules.
STORED_STATES = ("relinking", "relinked", "relink_failed", "restore_failed")
ACTIONS = {
    "relinkable": ["relink"],
    "relink_failed": ["relink"],
    "restorable": ["restore"],
    "restore_failed": ["restore"],
}


class CloseoutRefused(Conflict):
    code = "rule_refused"


def window_start(now: datetime, service_start: datetime | None) -> datetime:
    """The earliest deletion time that can still be relinked or restored."""
    start = now - WINDOW
    return max(start, service_start) if service_start else start


def _family(order: dict) -> str:
    return "restore" if order.get("origin") in RESTORE_ORIGINS else "relink"


def _out_of_window(order: dict, now: datetime, service_start: datetime | None) -> str | None:
    """The rule an order's deletion time breaks, or None."""
    deleted_at = clock.parse_iso(order["deleted_at"])
    if service_start and deleted_at < service_start:
        return "deleted_before_service_start"
    if deleted_at < now - WINDOW:
        return "deleted_over_14_days_ago"
    return None


def state(order: dict, now: datetime, service_start: datetime | None = None) -> str:
    if order.get("status") != "deleted":
        return "none"
    family = _family(order)
    stored = order.get("closeout_state")
    if stored in ("relinking", "relinked"):  # a request in flight or done is shown as is
        return stored
    able = "restorable" if family == "restore" else "relinkable"
    if _out_of_window(order, now, service_start):
        return f"not_{able}"
    if stored in STORED_STATES:
        return stored
    return able


def actions(state_: str) -> list[str]:
    return list(ACTIONS.get(state_, []))


def _refuser(order: dict, current: str):
    """A function making the 409 for a refused restore or relink (rule, state, allowed actions)."""

    def refuse(rule: str, message: str) -> CloseoutRefused:
        return CloseoutRefused(
            message,
            field="order_id",
            rule=rule,
            state=current,
            status=order.get("status"),
            allowed_actions=actions(current),
        )

    return refuse


def check_restore(order: dict, now: datetime, service_start: datetime | None = None) -> None:
    """Raise CloseoutRefused naming the rule unless the order may be restored now."""
    current = state(order, now, service_start)
    refuse = _refuser(order, current)

    if order.get("status") != "deleted":
        raise refuse(
            "restore_needs_deleted", f"only a deleted order can be restored (status {order.get('status')})"
        )
    if order.get("origin") not in RESTORE_ORIGINS:
        raise refuse(
            "restore_needs_csv_or_manual",
            "only orders registered by CSV or by hand can be restored (origin api: relink it)",
        )
    rule = _out_of_window(order, now, service_start)
    if rule == "deleted_before_service_start":
        raise refuse(rule, "the order was deleted before the merchant's service start")
    if rule:
        raise refuse(rule, "the order was deleted more than 14 days ago")


def restored(order: dict, now: datetime, integration: Integration | None = None) -> dict:
    """The order back in `new` with stage none and the same packing number. It is released
    again now, so its fulfillment deadline counts from the restore (an old deadline may have
    passed while it was deleted)."""
    integration = integration or Integration()
    new = {k: v for k, v in order.items() if k not in ("closeout_state", "closeout_failure")}
    new["status"] = st.next_status(order["status"], "restore")
    new["shipment_stage"] = "none"
    new["deleted_at"] = None
    new["deleted_reason"] = None
    new["restored_at"] = clock.iso(now)
    new["released_at"] = clock.iso(now)
    new["deadline_at"] = clock.iso(deadline_for(now, integration.fulfillment_days))
    return new


def restore_failed(order: dict, reason: str, now: datetime, **details) -> dict:
    new = dict(order)
    new["closeout_state"] = "restore_failed"
    new["closeout_failure"] = {"reason": reason, "at": clock.iso(now), **details}
    return new


# ------------------------------------------------------------------ relink (docs/orders.md)
RELINK_ORIGIN = "api"
RELINKABLE = ("relinkable", "relink_failed")
RELINK_FAILURES = (
    "duplicate",
    "claim",
    "shipping_started",
    "payment_date_differs",
    "marketplace_error",
    "no_marketplace_api",
    "deleted_over_14_days_ago",
    "deleted_before_service_start",
    "internal_error",
)
# How long the sweep keeps trying a request its own error stopped (6 sweeps); then it ends it.
RELINK_RETRY_FOR = timedelta(hours=1)


def check_relink(order: dict, now: datetime, service_start: datetime | None = None) -> None:
    """Raise CloseoutRefused naming the rule unless a relink may be requested now."""
    current = state(order, now, service_start)
    refuse = _refuser(order, current)

    if order.get("status") != "deleted":
        raise refuse(
            "relink_needs_deleted", f"only a deleted order can be relinked (status {order.get('status')})"
        )
    if order.get("origin") != RELINK_ORIGIN:
        raise refuse(
            "relink_needs_api", "only orders from a marketplace API can be relinked (csv/manual: restore it)"
        )
    rule = _out_of_window(order, now, service_start)
    if rule == "deleted_before_service_start":
        raise refuse(rule, "the order was deleted before the merchant's service start")
    if rule:
        raise refuse(rule, "the order was deleted more than 14 days ago")
    if current not in RELINKABLE:
        raise refuse(f"relink_{current}", f"the order is {current}")


def relink_requested(order: dict, now: datetime) -> dict:
    new = {k: v for k, v in order.items() if k != "closeout_failure"}
    new["closeout_state"] = "relinking"
    new["relink_requested_at"] = clock.iso(now)
    return new


def relink_problem(
    order: dict,
    change,
    shipping_started: bool | None,
    now: datetime,
    service_start: datetime | None = None,
) -> tuple[str, dict] | None:
    """(reason, details) why the fetched marketplace order cannot be relinked now, or None.

    - claim: the marketplace shows the order cancelled (`cancelled_at` set or topic cancelled),
      refunded (a buyer's return ends in a refund), or with an open cancel or return request
      (`claim` open) (docs/orders.md, "Relink"; seed 000: クレーム状態でない);
    - shipping_started: the client reports fulfilment started (Shopify `fulfillment_status`);
      None (the marketplace's format cannot tell) passes.
    - payment_date_differs: the fetched payment date is not the recorded `payment.paid_at`.
    - the 14-day and service-start rules, again at relink time."""
    rule = _out_of_window(order, now, service_start)
    if rule:
        return rule, {}
    claim_open = change.claim is not None and change.claim.state == "open"
    if change.topic == "cancelled" or change.cancelled_at is not None or change.refunded or claim_open:
        cancelled = clock.iso(change.cancelled_at) if change.cancelled_at else None
        details = {"cancelled_at": cancelled, "refunded": change.refunded}
        if claim_open:
            details["claim"] = {"kind": change.claim.kind, "reason": change.claim.reason}
        return "claim", details
    if shipping_started:
        return "shipping_started", {}
    recorded = (order.get("payment") or {}).get("paid_at")
    fetched = clock.iso(change.payment.paid_at) if change.payment.paid_at else None
    if (clock.iso(clock.parse_iso(recorded)) if recorded else None) != fetched:
        return "payment_date_differs", {"recorded": recorded, "marketplace": fetched}
    return None


def relink_number_problem(order: dict, holder_id: str | None, holder: dict | None) -> tuple[str, dict] | None:
    """("duplicate", {active_order_id}) when another order holds the order's marketplace number
    (`holder_id`: whom the number's lookup points to; `holder`: that order, None if not found),
    or None. A deleted holder frees the number (the relink takes it over, as a registration
    would); any other status holds it, as for a restore. Permanent until the merchant deletes
    the holder, so the request ends (retry allowed) rather than waiting."""
    if holder_id is None or holder_id == order["order_id"]:
        return None
    if holder is not None and holder.get("status") == "deleted":
        return None
    return "duplicate", {"active_order_id": holder_id}


def relink_gives_up(order: dict, now: datetime) -> bool:
    """Whether a request the sweep could not finish for its own reason (an unexpected error, a
    lost write) ends now as `internal_error`, rather than waiting for the next sweep: once it
    has been `relinking` for RELINK_RETRY_FOR (at once when the request time is unknown)."""
    requested = order.get("relink_requested_at")
    return not requested or now - clock.parse_iso(requested) >= RELINK_RETRY_FOR


def relink_failed(order: dict, reason: str, now: datetime, **details) -> dict:
    new = dict(order)
    new["closeout_state"] = "relink_failed"
    new["closeout_failure"] = {"reason": reason, "at": clock.iso(now), **details}
    return new


def relinked(order: dict, new_order_id: str, new_packing_no: str, now: datetime) -> dict:
    new = {k: v for k, v in order.items() if k != "closeout_failure"}
    new["closeout_state"] = "relinked"
    new["relinked_to"] = new_order_id
    new["relinked_to_packing_no"] = new_packing_no
    new["relinked_at"] = clock.iso(now)
    return new
