"""A merchant's change of an order's recipient (PATCH /orders/{id}/recipient; docs/orders.md).

The rule (domain.actions.edit_recipient) decides: before picking the order (and its shipment
request) takes the new recipient at once; in picking/picked the modify flow sends the warehouse a
paid modification request, with the merchant's consent to the fee; packed or later it is refused.
Either way the change is in the order's history and in the sync history.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from orderhub.domain import actions
from orderhub.domain.actions import Outcome
from orderhub.domain.models import Recipient
from orderhub.kernel.errors import ValidationFailed
from orderhub.orders import lifecycle
from orderhub.orders.registration import pydantic_error
from orderhub.sync import flows
from orderhub.sync import history as sync_history


def parse_changes(value: Any) -> dict[str, str]:
    """The fields the request sets, checked by the recipient model's rules (lengths, country)."""
    if not isinstance(value, dict):
        raise ValidationFailed("recipient must be an object of the fields to change", field="recipient")
    unknown = sorted(set(value) - set(actions.RECIPIENT_FIELDS))
    if unknown:
        raise ValidationFailed(
            f"unknown field {unknown[0]!r} (items are never edited; the recipient's fields are "
            f"{', '.join(actions.RECIPIENT_FIELDS)})",
            field=f"recipient.{unknown[0]}",
        )
    for name, text in value.items():
        if not isinstance(text, str):
            raise ValidationFailed(f"recipient.{name}: must be text", field=f"recipient.{name}")
    try:
        checked = Recipient.model_validate(value)
    except ValidationError as exc:
        raise pydantic_error(exc, "recipient") from None
    return {name: getattr(checked, name).strip() for name in value}


def edit(
    merchant_id: str, order_id: str, recipient: Any, expected_version: Any = None, accept_fee: Any = None
) -> tuple[dict, Outcome]:
    """Apply the rule and write; then record the sync history (carried at once) or start the
    modify flow (the warehouse must answer). Returns the latest order and the outcome
    (`accepted_only` while the warehouse has yet to answer)."""
    changes = parse_changes(recipient)
    new, outcome = lifecycle.apply(
        merchant_id,
        order_id,
        lambda o, now: actions.edit_recipient(o, changes, now, accept_fee),
        actor="merchant",
        expected_version=expected_version,
    )
    if outcome.action == "modify_requested":
        flow = {
            "merchant_id": merchant_id,
            "order_id": order_id,
            "source": "merchant",
            "recipient": new["modification"]["recipient"],
        }
        flows.start("modify", flow, f"v{new['version']}")
    else:
        stage = new.get("shipment_stage", "none")
        sync_history.record(
            merchant_id,
            "modify",
            "applied",
            reason="recipient changed by the merchant"
            + ("; carried to the shipment request" if stage == "requested" else ""),
            order_id=order_id,
            marketplace=new.get("marketplace"),
            marketplace_order_no=new.get("marketplace_order_no"),
            source="merchant",
        )
    return new, outcome
