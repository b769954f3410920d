"""Releasing an order from its payment hold: the status it is released to, and what release
sets (released_at, the shipping deadline). Used by the webhook decisions (an order paid, or
placed with a method that needs no hold) and by the hold sweep (the hold ended); see
docs/orders.md. Pure; it imports only the transition table, the deadline rule and the
integration settings, so the sweeps load nothing of the webhook decisions."""

from __future__ import annotations

from datetime import datetime

from orderhub.domain import status as st
from orderhub.domain.deadline import deadline_for
from orderhub.domain.settings import Integration
from orderhub.kernel import clock

# Marketplaces whose "new" already means the merchant is processing the order.
NEW_MEANS_PROCESSING = frozenset({"amazon"})


def released_status(marketplace: str, integration: Integration) -> str:
    if marketplace in NEW_MEANS_PROCESSING or integration.auto_confirm:
        return "processing"
    return "new"


def release(order: dict, marketplace: str, integration: Integration, now: datetime) -> None:
    """Release `order` (in place) through the transition table, starting its shipping deadline."""
    action = (
        "release_to_processing" if released_status(marketplace, integration) == "processing" else "release"
    )
    order["status"] = st.next_status(order["status"], action)
    order["released_at"] = clock.iso(now)
    order["deadline_at"] = clock.iso(deadline_for(now, integration.fulfillment_days))
    order["hold_release_at"] = None


def release_due(order: dict, integration: Integration, now: datetime) -> dict | None:
    """The hold sweep's rule: a pending order whose hold has ended goes to new (or processing)."""
    due = order.get("hold_release_at")
    if order.get("status") != "pending" or not due or due > clock.iso(now):
        return None
    new = dict(order)
    release(new, order["marketplace"], integration, now)
    return new
