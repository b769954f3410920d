"""The one transition table for order status and shipment stage (SPEC 2.1, 2.2, 3).

Every path that changes an order's status asks `next_status(status, action)`; a refused
transition raises `TransitionRefused`, which the API maps to 409 with the allowed actions.
"""

from __future__ import annotations

from orderhub.kernel.errors import Conflict

STATUSES = ("pending", "new", "processing", "shipped", "on_hold", "cancelled", "closed", "deleted")
# The tabs of the order list (deleted orders are not listed or counted).
TABS = ("pending", "new", "processing", "shipped", "on_hold", "cancelled", "closed")
STAGES = ("none", "requested", "picking", "picked", "packed", "shipped", "withdrawn", "deleted")

# Stages in which nothing has physically started: a cancel can stop the shipment at once.
STAGES_NOT_STARTED = frozenset({"none", "requested", "withdrawn", "deleted"})

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
}


class TransitionRefused(Conflict):
    code = "transition_refused"


def allowed_actions(status: str) -> list[str]:
    return sorted({action for (s, action) in TRANSITIONS if s == status})


def next_status(status: str, action: str) -> str:
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise TransitionRefused(
            f"cannot {action} an order in status {status}",
            field="status",
            status=status,
            allowed_actions=allowed_actions(status),
        ) from None


def can(status: str, action: str) -> bool:
    return (status, action) in TRANSITIONS
