"""The one transition table for order status and shipment stage (docs/orders.md).

Every path that changes an order's status asks `next_status(status, action)`; a refused
transition raises `TransitionRefused`, which the API maps to 409 with the allowed actions.
"""

from __future__ import annotations

from datetime import datetime

from orderhub.kernel import clock
from orderhub.kernel.errors import Conflict

STATUSES = ("pending", "new", "processing", "shipped", "on_hold", "cancelled", "closed", "deleted")
# The tabs of the order list (deleted orders are not listed or counted).
TABS = ("pending", "new", "processing", "shipped", "on_hold", "cancelled", "closed")
# Nothing more happens to the order or its shipment.
TERMINAL_STATUSES = ("cancelled", "deleted", "closed")
# Released and not shipped: the fulfillment deadline runs (the unfulfilled list, the deadline
# sweep's queue, the deadline refund).
UNFULFILLED_STATUSES = ("new", "processing", "on_hold")

STAGES = ("none", "requested", "picking", "picked", "packed", "shipped", "withdrawn", "deleted")
# Forward order of a live shipment's stages: the warehouse's reports only move it forward.
STAGE_RANK = {"requested": 1, "picking": 2, "picked": 3, "packed": 4, "shipped": 5}
# Work started: the stages the warehouse reports (in order); it has the parcel in hand.
STAGES_STARTED = ("picking", "picked", "packed", "shipped")
# A shipment request in the warehouse's queue (listed by the by_stage index).
WAREHOUSE_QUEUE_STAGES = ("requested", "picking", "picked", "packed")
# The merchant's shipment list (GET /shipments, the by_merchant_stage index): every stage of a
# shipment the warehouse has or had, withdrawn ones included (docs/fulfillment.md).
SHIPMENT_LIST_STAGES = ("requested", "picking", "picked", "packed", "shipped", "withdrawn")
# Work started but the parcel is still in the warehouse: it can be asked to withdraw it.
WITHDRAWABLE_STAGES = ("picking", "picked")
# The parcel is packed or gone: a cancel cannot stop it.
PARCEL_LEFT_STAGES = ("packed", "shipped")
# No shipment at the warehouse (never requested, withdrawn or its request deleted): the items
# may be mapped again, a new request sent, or the merchant ships the parcel itself.
NO_SHIPMENT_STAGES = ("none", "withdrawn", "deleted")
# Stages in which nothing has physically started: a cancel can stop the shipment at once.
STAGES_NOT_STARTED = frozenset({*NO_SHIPMENT_STAGES, "requested"})

# (status, action) -> new status. Actions are named from the user's point of view.
TRANSITIONS: dict[tuple[str, str], str] = {
    # payment hold ends (sweep) or the marketplace reports payment of a deferred method
    ("pending", "release"): "new",
    ("pending", "release_to_processing"): "processing",
    # merchant confirm
    ("new", "confirm"): "processing",
    # tracking registered (by the warehouse, or by the merchant who ships it: a released order
    # may be fulfilled without a separate confirm)
    ("new", "ship"): "shipped",
    ("processing", "ship"): "shipped",
    # the carrier cancelled the tracking: unfulfilled again, with a new release and deadline
    ("shipped", "rerelease"): "processing",
    # cancel (merchant or marketplace), allowed before anything shipped
    ("pending", "cancel"): "cancelled",
    ("new", "cancel"): "cancelled",
    ("processing", "cancel"): "cancelled",
    ("on_hold", "cancel"): "cancelled",
    # hold: a marketplace cancel/claim that needs the merchant, or the merchant's own hold
    ("pending", "hold"): "on_hold",
    ("new", "hold"): "on_hold",
    ("processing", "hold"): "on_hold",
    ("shipped", "hold"): "on_hold",
    # close after shipping: returned or refunded
    ("shipped", "close"): "closed",
    ("on_hold", "close"): "closed",
    # delete: nobody has started work on the order
    ("pending", "delete"): "deleted",
    ("new", "delete"): "deleted",
    # release from a hold: back to the status the order was held from, or shipped once the parcel
    # left meanwhile (`release_action` picks the one)
    ("on_hold", "release_to_pending"): "pending",
    ("on_hold", "release_to_new"): "new",
    ("on_hold", "release_to_processing"): "processing",
    ("on_hold", "release_to_shipped"): "shipped",
    # restore a deleted CSV/manual order (the window and origin rules: domain/closeout.py)
    ("deleted", "restore"): "new",
}
# Transitions a refusal does not list by name: the merchant asks to "release" (one of the
# release_to_* rows applies), and restore is offered by the cancelled-orders view.
UNLISTED = frozenset(
    {
        ("on_hold", "release_to_pending"),
        ("on_hold", "release_to_new"),
        ("on_hold", "release_to_processing"),
        ("on_hold", "release_to_shipped"),
        ("deleted", "restore"),
    }
)
# The statuses a parcel can be fulfilled (shipped) from.
FULFILLABLE_STATUSES = tuple(s for s in STATUSES if (s, "ship") in TRANSITIONS)


class TransitionRefused(Conflict):
    code = "transition_refused"


def allowed_actions(status: str) -> list[str]:
    return sorted({action for (s, action) in TRANSITIONS if s == status and (s, action) not in UNLISTED})


def refused(status: str, what: str) -> TransitionRefused:
    """The refusal of `what` (an action, or a phrase: "map the items of") in `status`."""
    return TransitionRefused(
        f"cannot {what} an order in status {status}",
        field="status",
        status=status,
        allowed_actions=allowed_actions(status),
    )


def next_status(status: str, action: str) -> str:
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise refused(status, action) from None


def can(status: str, action: str) -> bool:
    return (status, action) in TRANSITIONS


def release_action(order: dict) -> str:
    """The transition that ends a hold: back to the status the order was held from (new when
    unknown), or shipped once its parcel left. Refused (as "release") unless the order is held."""
    if order["status"] != "on_hold":
        raise refused(order["status"], "release")
    back = "shipped" if order.get("shipment_stage") == "shipped" else (order.get("held_from") or "new")
    return f"release_to_{back}"


def cancelled(
    order: dict, now: datetime, reason: str, *, at: str | None = None, note: str | None = None
) -> dict:
    """The order cancelled, whoever cancels it (refused by the table unless it may be): the
    time (`at`, else now), the reason, the note when given, no hold sweep any more, and a
    shipment request the warehouse has not started on is deleted."""
    new = dict(order)
    new["status"] = next_status(order["status"], "cancel")
    new["cancelled_at"] = at or clock.iso(now)
    new["cancel_reason"] = reason
    if note is not None:
        new["cancel_note"] = note
    new["hold_release_at"] = None
    if order.get("shipment_stage", "none") == "requested":
        new["shipment_stage"] = "deleted"
    return new
