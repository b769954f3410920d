"""The pure rules of the cancel and modify flows (docs/sync-flows.md): which branch a cancel or
a recipient change takes, the reasons recorded, the execution names, and the order changes the
steps in orderhub/sync/flows.py apply. No AWS.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from orderhub.domain import status as st
from orderhub.domain.actions import WITHDRAWAL_TAG, Outcome
from orderhub.kernel import clock

DELIVERED_NOTICE = "the parcel may be delivered; ask the recipient to refuse it"
MAX_NAME = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
JOINED = "marketplace_cancel_joined_at"  # a marketplace cancel joined the waiting withdrawal


def cancel_branch(stage: str, settings_: dict, source: str = "marketplace") -> str:
    """Which way a cancel goes (docs/sync-flows.md): Cancel, RequestWarehouse or NotReflected."""
    if stage in st.STAGES_NOT_STARTED:
        return "Cancel"
    if stage in st.WITHDRAWABLE_STAGES and (source == "merchant" or settings_.get("cancel_after_confirmed")):
        return "RequestWarehouse"
    return "NotReflected"


def modify_branch(stage: str, settings_: dict, source: str = "marketplace") -> str:
    """Which way a recipient change goes (docs/sync-flows.md): Apply, RequestWarehouse or NotReflected.
    A merchant's own change asks the warehouse whatever modify_after_confirmed says: the merchant
    accepted the fee (domain.actions.edit_recipient)."""
    if stage in st.STAGES_NOT_STARTED:
        return "Apply"
    if stage in st.WITHDRAWABLE_STAGES and (source == "merchant" or settings_.get("modify_after_confirmed")):
        return "RequestWarehouse"
    return "NotReflected"


def not_reflected_reason(
    stage: str, outcome: str = "not_reflected", detail: str = "", kind: str = "cancel"
) -> str:
    what = "cancellation" if kind == "cancel" else "modification"
    if outcome == "rejected":
        return f"the warehouse rejected the {what}" + (f": {detail}" if detail else "")
    if outcome == "timeout":
        return "the warehouse did not answer in time"
    if stage in st.PARCEL_LEFT_STAGES:
        if kind == "modify":
            return "the parcel is packed; the recipient change cannot reach it"
        return DELIVERED_NOTICE
    if stage in st.WITHDRAWABLE_STAGES:
        setting = "cancel_after_confirmed" if kind == "cancel" else "modify_after_confirmed"
        return f"shipment already at stage {stage}; {setting} is off"
    return f"not reflected at stage {stage}"


def execution_name(kind: str, order_id: str, business_id: str) -> str:
    """`<kind>-<order_id>-<business id>`, only [A-Za-z0-9_-], at most 80 characters; a long
    business id is shortened with a hash so distinct ids stay distinct."""
    name = _UNSAFE.sub("_", f"{kind}-{order_id}-{business_id}")
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(business_id.encode()).hexdigest()[:16]
    head = _UNSAFE.sub("_", f"{kind}-{order_id}-")
    return (head + _UNSAFE.sub("_", business_id))[: MAX_NAME - 17] + "_" + digest


def wants_cancel_flow(order: dict | None, settings_: dict) -> bool:
    """A marketplace cancel of this order goes through the state machine (not inline)."""
    if order is None or order.get("origin", "api") != "api":
        return False
    if order.get("status") in st.TERMINAL_STATUSES:
        return False
    return bool(settings_.get("cancel_sync")) and order.get("shipment_stage", "none") in st.STAGES_STARTED


def waiting_withdrawal(order: dict) -> dict | None:
    """The withdrawal this order already waits on (a merchant's cancel, or a marketplace cancel
    whose flow claimed it), or None. A cancel arriving meanwhile joins it (docs/sync-flows.md,
    "One request per cancellation")."""
    if order.get("status") in st.TERMINAL_STATUSES:
        return None
    return order.get("withdrawal") or None


def claim_withdrawal(order: dict, now: datetime, delivery_id: str) -> dict:
    """The order (version + 1) whose withdrawal slot a marketplace cancel claims before its flow
    starts; written conditionally on the order's version, so of two cancels at once one claims
    and the other joins. The flow is named by the claiming version, as a merchant's is."""
    version = order["version"] + 1
    new = {**order, "version": version, "updated_at": clock.iso(now)}
    new["withdrawal"] = {
        "requested_at": clock.iso(now),
        "by": "marketplace",
        "delivery_id": delivery_id,
        "claim": f"v{version}",
        "execution": execution_name("cancel", order["order_id"], f"v{version}"),
    }
    return new


def join_withdrawal(order: dict, now: datetime) -> dict:
    """The order (version + 1) noting that a marketplace cancel joined its waiting withdrawal; the
    withdrawal itself is left as it is. Should the warehouse refuse a merchant's withdrawal, the
    order is then held as for a marketplace cancel (held_not_reflected)."""
    return {
        **order,
        "version": order["version"] + 1,
        "updated_at": clock.iso(now),
        JOINED: order.get(JOINED) or clock.iso(now),
    }


def cancelled(order: dict, now: datetime, reason: str, withdrawn: bool = False) -> Outcome:
    new = st.cancelled(order, now, reason)
    new["tags"] = sorted(set(order.get("tags", [])) - {WITHDRAWAL_TAG})
    new.pop(JOINED, None)
    if withdrawn:
        new["shipment_stage"] = "withdrawn"
        new["withdrawal"] = {**(order.get("withdrawal") or {}), "answer": "accepted"}
        return Outcome(new, "cancelled", {"reason": "the warehouse withdrew the shipment"})
    if order.get("shipment_stage", "none") == "requested":
        return Outcome(new, "cancelled", {"reason": "shipment request deleted automatically"})
    return Outcome(new, "cancelled")


def modified(order: dict, recipient: dict, accepted: bool = False) -> Outcome:
    """The recipient change carried to the order (and so to its shipment)."""
    new = dict(order)
    new["recipient"] = recipient
    if order.get("modification"):
        new["modification"] = None
    data = {"reason": "the warehouse accepted the modification"} if accepted else {}
    return Outcome(new, "recipient_modified", data)


def held_not_reflected(order: dict, now: datetime, reason: str, source: str, kind: str = "cancel") -> Outcome:
    new = dict(order)
    if kind == "modify":
        if order.get("modification"):
            new["modification"] = None
        action = "modify_not_reflected"
    else:
        new["tags"] = sorted(set(order.get("tags", [])) - {WITHDRAWAL_TAG})
        if order.get("withdrawal"):
            new["withdrawal"] = None
        if new.pop(JOINED, None):  # a marketplace cancel joined it: not reflected either
            source = "marketplace"
        action = "cancel_not_reflected"
    if source == "marketplace" and st.can(order["status"], "hold"):
        new["status"] = st.next_status(order["status"], "hold")
        new["held_from"] = order["status"]
        new["hold_reason"] = reason
        new["hold_release_at"] = None
    return Outcome(new, action, {"reason": reason})
