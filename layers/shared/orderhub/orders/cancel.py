"""A merchant's cancel of one order (POST /orders/{id}/cancel; docs/sync-flows.md).

The rule (domain.actions.cancel) decides: before picking the order is cancelled at once; in
picking/picked a withdrawal is requested and the cancel flow asks the warehouse; packed or
later it is refused. What follows once a merchant's cancel took effect is
`sync.reflect.after_merchant_cancel`: here at once, or in the cancel flow when the warehouse
withdrew the shipment (sync.flows.warehouse_accepted).
"""

from __future__ import annotations

from typing import Any

from orderhub.domain import actions
from orderhub.domain.actions import Outcome
from orderhub.orders import lifecycle
from orderhub.sync import flows, reflect


def cancel(
    merchant_id: str, order_id: str, reason: Any, expected_version: Any = None, accept_fee: Any = None
) -> tuple[dict, Outcome]:
    """Apply the cancel rule and write; then reflect the cancel to the marketplace (cancelled at
    once) or start the cancel flow (withdrawal requested). Returns the latest order and the outcome
    (`accepted_only` when the warehouse has yet to answer)."""
    new, outcome = lifecycle.apply(
        merchant_id,
        order_id,
        lambda o, now: actions.cancel(o, reason, now, accept_fee),
        actor="merchant",
        expected_version=expected_version,
    )
    if outcome.action == "cancelled":
        new = reflect.after_merchant_cancel(new)
    elif outcome.action == "cancel_requested":
        _start_withdrawal_flow(new, reason)
    return new, outcome


def _start_withdrawal_flow(order: dict, reason: Any) -> None:
    """A merchant cancel in picking/picked: the cancel flow asks the warehouse. Named by the
    order's version, so one request starts one flow."""
    flow = {
        "merchant_id": order["merchant_id"],
        "order_id": order["order_id"],
        "source": "merchant",
        "reason": reason if isinstance(reason, str) else "",
    }
    flows.start_cancel(flow, f"v{order['version']}")
