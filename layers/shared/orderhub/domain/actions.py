"""Merchant and warehouse actions on one order (docs/orders.md). Pure functions.

Each action takes the current order and returns an `Outcome`: the changed order (version not
yet bumped), the history action name, and the history details. A refusal raises a
`Conflict` (409: a state rule) or a `ValidationFailed` (400: a bad field), and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orderhub.domain import status as st
from orderhub.domain import tracking
from orderhub.domain.deadline import is_unfulfilled
from orderhub.domain.order import REFLECT_TAG, RELEASED_WHEN_PAID, WITHDRAWAL_TAG, mapping_result
from orderhub.kernel import clock
from orderhub.kernel.errors import Conflict, RuleRefused, ValidationFailed

CLOSE_REASONS = ("returned", "refunded")


@dataclass
class Outcome:
    order: dict
    action: str
    data: dict[str, Any] = field(default_factory=dict)
    accepted_only: bool = False  # recorded as a request (202), not done yet


def _refuse(rule: str, message: str, order: dict, field_name: str = "status") -> RuleRefused:
    return RuleRefused(
        message,
        field=field_name,
        rule=rule,
        status=order["status"],
        shipment_stage=order.get("shipment_stage", "none"),
        allowed_actions=st.allowed_actions(order["status"]),
    )


def _reason(value: Any, required: bool = True, field_name: str = "reason") -> str:
    if value is None or value == "":
        if required:
            raise ValidationFailed("a reason is required", field=field_name)
        return ""
    if not isinstance(value, str) or len(value) > 500:
        raise ValidationFailed("reason must be text of at most 500 characters", field=field_name)
    return value.strip()


def _transition(order: dict, action: str) -> dict:
    new = dict(order)
    new["status"] = st.next_status(order["status"], action)
    return new


def confirm(order: dict, now: datetime) -> Outcome:
    return Outcome(_transition(order, "confirm"), "confirmed")


def hold(order: dict, reason: Any, now: datetime) -> Outcome:
    text = _reason(reason)
    new = _transition(order, "hold")
    new["held_from"] = order["status"]
    new["hold_reason"] = text
    new["hold_release_at"] = None
    return Outcome(new, "held", {"reason": text})


def release(order: dict, reason: Any, now: datetime) -> Outcome:
    """Back from on_hold to the status the order was held from."""
    new = _transition(order, st.release_action(order))
    back = new["status"]
    new["held_from"] = None
    new["hold_reason"] = None
    if back == "pending":
        payment = order.get("payment") or {}
        deferred_unpaid = payment.get("method") in RELEASED_WHEN_PAID and not payment.get("paid_at")
        # Back under the payment rules: a card/COD order is due for the hold sweep at once.
        new["hold_release_at"] = None if deferred_unpaid else clock.iso(now)
    return Outcome(new, "released", {"reason": _reason(reason, required=False)})


def close(order: dict, reason: Any, note: Any, now: datetime) -> Outcome:
    if reason not in CLOSE_REASONS:
        raise ValidationFailed(f"reason must be one of {', '.join(CLOSE_REASONS)}", field="reason")
    parcel_left = order.get("shipment_stage") in st.PARCEL_LEFT_STAGES or bool(order.get("tracking"))
    if order["status"] == "on_hold" and not parcel_left:
        raise _refuse("close_after_shipping", "only an order whose parcel left can be closed", order)
    new = _transition(order, "close")
    new["close_reason"] = reason
    return Outcome(
        new, "closed", {"reason": reason, "note": _reason(note, required=False, field_name="note")}
    )


# Seeds 001 and 002: a cancellation request to the warehouse after the shipment is confirmed costs
# a fee. A merchant's own request that would start one needs the merchant's word for it.
PAID_CANCEL_NOTICE = (
    "the warehouse has started on this shipment: cancelling now sends it a cancellation request, "
    "which costs a fee; send accept_fee: true to request it"
)


def accepts_fee(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValidationFailed("accept_fee must be true or false", field="accept_fee")
    return value


def cancel(order: dict, reason: Any, now: datetime, accept_fee: Any = None) -> Outcome:
    """Merchant cancel (docs/sync-flows.md): at once before picking; a withdrawal request in picking/picked,
    a paid request, only with `accept_fee` (409 paid_request_consent otherwise); refused once packed
    (close the order after delivery instead)."""
    text = _reason(reason, required=False)
    consent = accepts_fee(accept_fee)
    stage = order.get("shipment_stage", "none")
    if stage in st.PARCEL_LEFT_STAGES or order.get("tracking"):
        left = f"the shipment is {stage}" if stage in st.PARCEL_LEFT_STAGES else "the parcel was shipped"
        raise _refuse(
            "cancel_after_packed",
            f"{left}; it cannot be cancelled (close the order after delivery instead)",
            order,
            "shipment_stage",
        )
    if stage in st.WITHDRAWABLE_STAGES:
        if not st.can(order["status"], "cancel"):
            raise st.refused(order["status"], "cancel")
        if order.get("withdrawal"):
            raise _refuse("withdrawal_pending", "a withdrawal is already requested for this order", order)
        if not consent:
            raise _refuse("paid_request_consent", PAID_CANCEL_NOTICE, order, "accept_fee")
        new = dict(order)
        new["withdrawal"] = {"requested_at": clock.iso(now), "reason": text, "by": "merchant"}
        new["tags"] = sorted({*order.get("tags", []), WITHDRAWAL_TAG})
        return Outcome(
            new,
            "cancel_requested",
            {"reason": text or "withdrawal requested from the warehouse"},
            accepted_only=True,
        )
    new = st.cancelled(order, now, "seller_cancelled", note=text)
    return Outcome(new, "cancelled", {"reason": text})


PAID_MODIFY_NOTICE = (
    "the warehouse has started on this shipment: changing the recipient now sends it a modification "
    "request, which costs a fee; send accept_fee: true to request it"
)
# What a merchant may change of the recipient (never the items).
RECIPIENT_FIELDS = (
    "name",
    "address1",
    "address2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
    "email",
)


def recipient_editable(order: dict) -> None:
    """Refuses (409, with the rule) an order whose recipient the merchant can no longer change:
    closed out, or the parcel packed or gone, or a change or withdrawal already waiting on the
    warehouse (docs/orders.md, "Edit the recipient")."""
    if order["status"] in st.TERMINAL_STATUSES:
        raise _refuse("recipient_locked", f"a {order['status']} order's recipient cannot be changed", order)
    stage = order.get("shipment_stage", "none")
    if stage in st.PARCEL_LEFT_STAGES or order.get("tracking"):
        left = f"the shipment is {stage}" if stage in st.PARCEL_LEFT_STAGES else "the parcel was shipped"
        raise _refuse(
            "modify_after_packed", f"{left}; the recipient change cannot reach it", order, "shipment_stage"
        )
    if order.get("modification"):
        raise _refuse("modification_pending", "a recipient change is already waiting on the warehouse", order)
    if order.get("withdrawal"):
        raise _refuse("withdrawal_pending", "a withdrawal is requested for this order", order)


def edit_recipient(order: dict, changes: dict, now: datetime, accept_fee: Any = None) -> Outcome:
    """Merchant recipient change (seeds 001, 004; docs/orders.md): `changes` are checked fields of
    RECIPIENT_FIELDS ("" clears one). Before picking: carried to the order and its shipment at once.
    In picking/picked: a paid modification request to the warehouse (the modify flow), only with
    `accept_fee` (409 paid_request_consent otherwise). Packed or later: refused."""
    consent = accepts_fee(accept_fee)
    recipient_editable(order)
    unknown = sorted(set(changes) - set(RECIPIENT_FIELDS))
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0]!r}", field=f"recipient.{unknown[0]}")
    current = dict(order.get("recipient") or {})
    merged = {**current, **changes}
    changed = [f for f in RECIPIENT_FIELDS if (merged.get(f) or "") != (current.get(f) or "")]
    if not changed:
        raise ValidationFailed("the recipient already reads so: nothing to change", field="recipient")
    if not str(merged.get("name") or "").strip():
        raise ValidationFailed("recipient.name: is required", field="recipient.name")
    new = dict(order)
    if order.get("shipment_stage", "none") in st.WITHDRAWABLE_STAGES:
        if not consent:
            raise _refuse("paid_request_consent", PAID_MODIFY_NOTICE, order, "accept_fee")
        new["modification"] = {"requested_at": clock.iso(now), "by": "merchant", "recipient": merged}
        return Outcome(new, "modify_requested", {"changed": changed}, accepted_only=True)
    new["recipient"] = merged
    return Outcome(new, "recipient_edited", {"changed": changed})


DEADLINE_REFUND_REASON = "deadline_refunded"
DEADLINE_OVERDUE = "deadline_overdue"


def deadline_refund(order: dict, now: datetime, auto_refund: bool = True) -> Outcome:
    """The deadline check (docs/fulfillment.md): an overdue unshipped order is cancelled with reason
    deadline_refunded while nothing physical has started (stage none/requested/withdrawn/deleted;
    requested -> deleted). From picking on the warehouse has it: only a history note
    (`deadline_missed`, once: `deadline_missed_at`) and the order is left as it is.
    Without `auto_refund` (the marketplace does not refund by itself, or a manual/CSV order:
    orderhub.domain.deadline.auto_refunds) the order is never cancelled: it is flagged overdue
    (`overdue_at`, a history entry `deadline_overdue`) and left as it is."""
    deadline = order.get("deadline_at")
    if not is_unfulfilled(order):
        raise _refuse("deadline_not_running", "the order is not released and unshipped", order)
    if clock.parse_iso(deadline) > now:
        raise _refuse("deadline_not_passed", f"the deadline {deadline} has not passed", order, "deadline_at")
    if not auto_refund:
        if order.get("overdue_at") and clock.parse_iso(order["overdue_at"]) >= clock.parse_iso(deadline):
            raise _refuse("deadline_noted", "the order is already flagged overdue", order, "deadline_at")
        new = dict(order)
        new["overdue_at"] = clock.iso(now)
        note = (
            f"deadline {deadline} passed; not refunded: auto-refund is off for this order (shown as overdue)"
        )
        return Outcome(new, DEADLINE_OVERDUE, {"note": note, "deadline_at": deadline})
    stage = order.get("shipment_stage", "none")
    if stage not in st.STAGES_NOT_STARTED:
        if order.get("deadline_missed_at"):
            raise _refuse("deadline_noted", "the missed deadline is already noted", order, "shipment_stage")
        new = dict(order)
        new["deadline_missed_at"] = clock.iso(now)
        note = f"deadline {deadline} missed; not refunded: the shipment is {stage} (the warehouse has it)"
        return Outcome(new, "deadline_missed", {"note": note, "deadline_at": deadline})
    new = st.cancelled(order, now, DEADLINE_REFUND_REASON, note=f"fulfillment deadline {deadline} passed")
    return Outcome(new, DEADLINE_REFUND_REASON, {"reason": DEADLINE_REFUND_REASON, "deadline_at": deadline})


def delete(order: dict, now: datetime) -> Outcome:
    if order.get("shipment_stage", "none") != "none":
        raise _refuse(
            "delete_before_work",
            "only an order whose shipment was never requested can be deleted",
            order,
            "shipment_stage",
        )
    new = _transition(order, "delete")
    new["deleted_at"] = clock.iso(now)
    new["deleted_reason"] = "seller_deleted_api" if order.get("origin") == "api" else "seller_deleted_manual"
    new["hold_release_at"] = None
    return Outcome(new, "deleted", {"reason": new["deleted_reason"]})


def ship_request(order: dict, now: datetime) -> Outcome:
    if order["status"] != "processing":
        raise _refuse(
            "ship_request_needs_processing", "send shipping info needs a confirmed (processing) order", order
        )
    if order.get("mapping") != "ok":
        unmapped = [i["sku"] for i in order.get("items", []) if not i.get("item_code")]
        raise _refuse(
            "mapping_incomplete", f"items without an item code: {', '.join(unmapped)}", order, "mapping"
        )
    if order.get("shipment_stage", "none") not in st.NO_SHIPMENT_STAGES:
        raise _refuse(
            "shipment_exists",
            f"a shipment request exists (stage {order['shipment_stage']})",
            order,
            "shipment_stage",
        )
    new = dict(order)
    new["shipment_stage"] = "requested"
    new["shipment_requested_at"] = clock.iso(now)
    return Outcome(new, "ship_requested")


def map_items(order: dict, codes: dict[str, str | None]) -> Outcome:
    """Apply item codes (marketplace SKU -> merchant item code) to an order's items."""
    if order["status"] in (*st.TERMINAL_STATUSES, "shipped"):
        raise st.refused(order["status"], "map the items of")
    if order.get("shipment_stage", "none") not in st.NO_SHIPMENT_STAGES:
        raise _refuse(
            "shipment_exists",
            "the shipment was requested with the current item codes",
            order,
            "shipment_stage",
        )
    new = dict(order)
    new["items"] = [{**i, "item_code": codes.get(i["sku"]) or i.get("item_code")} for i in order["items"]]
    new["mapping"] = mapping_result(new["items"])
    return Outcome(new, "items_mapped", {"mapping": new["mapping"]})


def warehouse_stage(order: dict, stage: Any, carrier: Any, tracking_number: Any, now: datetime) -> Outcome:
    """The warehouse reports progress; stages only move forward. shipped needs carrier and
    tracking number and moves the order to shipped."""
    if stage not in st.STAGES_STARTED:
        raise ValidationFailed(f"stage must be one of {', '.join(st.STAGES_STARTED)}", field="stage")
    current = order.get("shipment_stage", "none")
    if order["status"] in st.TERMINAL_STATUSES:
        raise _refuse("shipment_cancelled", f"the order is {order['status']}; its shipment is void", order)
    if current not in st.STAGE_RANK:
        raise _refuse(
            "no_shipment_request", f"no active shipment request (stage {current})", order, "shipment_stage"
        )
    if st.STAGE_RANK[stage] <= st.STAGE_RANK[current]:
        raise _refuse("stage_forward_only", f"stage {current} cannot go to {stage}", order, "stage")
    new = dict(order)
    new["shipment_stage"] = stage
    data: dict[str, Any] = {"stage": stage}
    if stage == "shipped":
        for name, value in (("carrier", carrier), ("tracking_number", tracking_number)):
            if not isinstance(value, str) or not value.strip():
                raise ValidationFailed(f"{name} is required when the stage is shipped", field=name)
        code, number = tracking.validate(carrier, tracking_number)
        new["tracking"] = _tracking(code, number, None, "", "warehouse", now)
        if order["status"] == "on_hold":
            new["held_from"] = "shipped"
        else:
            new["status"] = st.next_status(order["status"], "ship")
        data.update(carrier=code, tracking_number=number)
    return Outcome(new, f"stage_{stage}", data)


# ---------------------------------------------------------------- fulfillment (docs/fulfillment.md)
MAX_NOTE_CHARS = 500
MAX_PREVIOUS_TRACKING = 20


def _tracking(carrier: str, number: str, origin: str | None, note: str, by: str, now: datetime) -> dict:
    return {
        "carrier": carrier,
        "tracking_number": number,
        "origin_country": origin,
        "note": note or None,
        "shipped_at": clock.iso(now),
        "by": by,
    }


def origin_country(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not (len(value.strip()) == 2 and value.strip().isascii()):
        raise ValidationFailed("origin_country must be a two-letter ISO 3166-1 code", field="origin_country")
    code = value.strip().upper()
    if not code.isalpha():
        raise ValidationFailed("origin_country must be a two-letter ISO 3166-1 code", field="origin_country")
    return code


def _note(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_NOTE_CHARS:
        raise ValidationFailed(f"note must be text of at most {MAX_NOTE_CHARS} characters", field="note")
    return value.strip()


def fulfill(order: dict, carrier: Any, number: Any, origin: Any, note: Any, now: datetime) -> Outcome:
    """The merchant ships the order itself and registers its tracking (docs/fulfillment.md): new or
    processing, with no shipment at the warehouse, -> shipped. Carrier and a tracking number in
    the carrier's format are required (the shared-number rule is checked by the caller against
    the tracking index)."""
    code, normalized = tracking.validate(carrier, number)
    country, text = origin_country(origin), _note(note)
    if order.get("tracking"):
        raise _refuse(
            "already_fulfilled", "the order already has a tracking number (change it instead)", order
        )
    stage = order.get("shipment_stage", "none")
    if stage not in st.NO_SHIPMENT_STAGES:
        raise _refuse(
            "shipment_in_warehouse",
            f"the warehouse has this shipment (stage {stage}); it reports the tracking when it ships",
            order,
            "shipment_stage",
        )
    new = _transition(order, "ship")
    new["tracking"] = _tracking(code, normalized, country, text, "merchant", now)
    return Outcome(
        new,
        "fulfilled",
        {"carrier": code, "tracking_number": normalized, "origin_country": country, "note": text},
    )


def change_tracking(order: dict, carrier: Any, number: Any, origin: Any, note: Any, now: datetime) -> Outcome:
    """Modify the tracking of a shipped order (docs/fulfillment.md: a valid number is required again). The
    previous tracking is kept on the order (`previous_tracking`) and in the history."""
    code, normalized = tracking.validate(carrier, number)
    old = order.get("tracking")
    if order["status"] not in ("shipped", "on_hold") or not old:
        raise _refuse("tracking_needs_shipped", "only a shipped order's tracking can be changed", order)
    country = origin_country(origin) if origin is not None else old.get("origin_country")
    text = _note(note) if note is not None else (old.get("note") or "")
    if (code, normalized, country, text or None) == (
        old.get("carrier"),
        old.get("tracking_number"),
        old.get("origin_country"),
        old.get("note"),
    ):
        raise _refuse("tracking_unchanged", "the order already has this tracking", order, "tracking_number")
    new = dict(order)
    new["tracking"] = {
        **_tracking(code, normalized, country, text, old.get("by") or "merchant", now),
        "shipped_at": old.get("shipped_at") or clock.iso(now),
        "changed_at": clock.iso(now),
    }
    new["previous_tracking"] = _previous(order, old, now, "changed")
    return Outcome(
        new,
        "tracking_changed",
        {
            "carrier": code,
            "tracking_number": normalized,
            "previous_tracking_number": old.get("tracking_number"),
        },
    )


def _previous(order: dict, old: dict, now: datetime, why: str) -> list[dict]:
    kept = [*(order.get("previous_tracking") or []), {**old, "replaced_at": clock.iso(now), "why": why}]
    return kept[-MAX_PREVIOUS_TRACKING:]


def rerelease(order: dict, now: datetime, fulfillment_days: int, why: str) -> Outcome:
    """The marketplace reports the carrier cancelled the tracking (or re-released the order): the
    order is unfulfilled again (processing, no shipment), released now with a new deadline. The
    old tracking stays in `previous_tracking` and the history."""
    from orderhub.domain.deadline import deadline_for

    old = order.get("tracking")
    if not old or order["status"] not in ("shipped", "on_hold"):
        raise _refuse("rerelease_needs_tracking", "the order has no tracking to cancel", order)
    new = dict(order)
    if order["status"] == "on_hold":
        new["held_from"] = "processing"
    else:
        new["status"] = st.next_status(order["status"], "rerelease")
    new["tracking"] = None
    new["previous_tracking"] = _previous(order, old, now, why)
    new["shipment_stage"] = "none"
    new["released_at"] = clock.iso(now)
    new["deadline_at"] = clock.iso(deadline_for(now, fulfillment_days))
    new["deadline_missed_at"] = None
    return Outcome(
        new,
        "rereleased",
        {
            "reason": why,
            "previous_tracking_number": old.get("tracking_number"),
            "deadline_at": new["deadline_at"],
        },
    )


# ------------------------------------------------- a failed reflect (seed 002: モール反映エラー)
# What the marketplace was not told, as `reflect_failed.what` on the order: a cancel, a fulfillment
# or a tracking change (sync/reflect.py records it with the tag).
REFLECT_KINDS = ("cancel", "fulfillment", "tracking")


def _tagged(order: dict) -> None:
    if REFLECT_TAG not in (order.get("tags") or []):
        raise _refuse("no_reflect_error", f"the order has no {REFLECT_TAG} tag", order, "tags")


def retry_reflect(order: dict, now: datetime) -> str:
    """What a retry sends the marketplace again: the change recorded with the tag, else the one
    the order shows (cancelled: the cancel; with a tracking: the fulfillment)."""
    _tagged(order)
    what = (order.get("reflect_failed") or {}).get("what")
    if what not in REFLECT_KINDS:
        what = (
            "cancel" if order["status"] == "cancelled" else "fulfillment" if order.get("tracking") else None
        )
    if what is None:
        raise _refuse("nothing_to_reflect", "the order holds no cancel or tracking to send again", order)
    return what


def _untag(order: dict) -> dict:
    new = dict(order)
    new["tags"] = sorted(set(order.get("tags") or []) - {REFLECT_TAG})
    new["reflect_failed"] = None
    return new


def reflected_again(order: dict, what: str, now: datetime) -> Outcome:
    """The marketplace took the change at last: the tag goes."""
    _tagged(order)
    return Outcome(_untag(order), "reflect_retried", {"what": what})


def clear_reflect_error(order: dict, reason: Any, now: datetime) -> Outcome:
    """The merchant fixed it at the marketplace by hand: the tag goes, with the merchant's reason."""
    _tagged(order)
    text = _reason(reason)
    return Outcome(_untag(order), "reflect_error_cleared", {"reason": text})


# ---------------------------------------------------------------- what the merchant may do now
# The merchant's actions by the name the API and the console use, each tried with inputs that
# pass every field check, so that only a state rule can refuse it. An action is offered when its
# own rule function accepts the order: the console never decides this itself (docs/console.md).
_TRY_CARRIER, _TRY_NUMBER = "other", "OFFERCHECK1"


def _try_map_items(order: dict, now: datetime) -> Outcome:
    return map_items(order, {})


MERCHANT_ACTIONS: dict[str, Any] = {
    "confirm": confirm,
    "ship_request": ship_request,
    "map_items": _try_map_items,
    "fulfill": lambda o, now: fulfill(o, _TRY_CARRIER, _TRY_NUMBER, None, None, now),
    "change_tracking": lambda o, now: change_tracking(o, _TRY_CARRIER, _TRY_NUMBER + "0", None, None, now),
    "hold": lambda o, now: hold(o, "offer check", now),
    "release": lambda o, now: release(o, None, now),
    "cancel": lambda o, now: cancel(o, None, now, accept_fee=True),  # offered; a paid one asks first
    "close": lambda o, now: close(o, CLOSE_REASONS[0], None, now),
    "delete": delete,
    "edit_recipient": lambda o, now: recipient_editable(o),  # offered; a paid one asks first
    "retry_reflect": retry_reflect,
    "clear_reflect_error": lambda o, now: clear_reflect_error(o, "offer check", now),
}


def offers(order: dict, action: str, now: datetime | None = None) -> bool:
    """Whether the rule of one merchant action accepts the order now (see `available`)."""
    try:
        MERCHANT_ACTIONS[action](order, now or clock.now())
    except (Conflict, ValidationFailed):
        return False
    return True


def available(order: dict, now: datetime | None = None) -> list[str]:
    """The merchant actions the rules accept for this order now, in the console's order. Refresh
    (an api order asks its marketplace) is offered for every order that came from one."""
    now = now or clock.now()
    offered = []
    for name, rule in MERCHANT_ACTIONS.items():
        try:
            rule(order, now)
        except (Conflict, ValidationFailed):
            continue
        offered.append(name)
    if order.get("origin", "api") == "api" and order.get("status") != "deleted":
        offered.append("refresh")
    return offered
