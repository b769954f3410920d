"""How one marketplace change applies to an order (docs/orders.md, docs/webhooks.md). Pure functions.

`decide(order, change, integration, now)` returns one of:
  Create(order, action)         a new order (status chosen by the payment rules)
  Update(order, action, changes) the changed order (version not yet bumped)
  Ignore(reason)                nothing changes; the reason is recorded
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from orderhub.domain import actions
from orderhub.domain import status as st
from orderhub.domain.order import MARKETPLACE_FIELDS, RELEASED_WHEN_PAID, history_changes, mapping_result
from orderhub.domain.release import release
from orderhub.domain.settings import Integration
from orderhub.kernel import clock
from orderhub.kernel.errors import Conflict

if TYPE_CHECKING:  # the payload model is pydantic; rules that never parse one need not import it
    from orderhub.domain.models import OrderChange

HOLD_METHODS = frozenset({"card", "cod", "other"})

# The carrier cancelled the tracking / the marketplace released a shipped order again (docs/fulfillment.md).
RERELEASE_TOPICS = ("rereleased", "tracking_cancelled")
# A buyer's cancel or return request opened / settled at the marketplace (docs/orders.md, "Claims").
CLAIM_TOPICS = ("claim_opened", "claim_closed")


@dataclass
class Create:
    order: dict
    action: str = "created"
    reason: str = ""


@dataclass
class Update:
    order: dict
    action: str
    changes: dict[str, list[Any]] = field(default_factory=dict)
    reason: str = ""
    ignored_fields: list[str] = field(default_factory=list)


@dataclass
class Ignore:
    reason: str
    detail: str = ""


def _iso(dt: datetime | None) -> str | None:
    return clock.iso(dt) if dt is not None else None


def _items(change: OrderChange, codes: dict[str, str] | None = None) -> list[dict]:
    codes = codes or {}
    return [
        {
            "sku": i.sku,
            "title": i.title,
            "quantity": i.quantity,
            "price": str(i.price),
            "item_code": i.item_code or codes.get(i.sku),
        }
        for i in change.items
    ]


def marketplace_fields(change: OrderChange, codes: dict[str, str] | None = None) -> dict:
    return {
        "placed_at": clock.iso(change.placed_at),
        "payment": {
            "method": change.payment.method,
            "paid_at": _iso(change.payment.paid_at),
            "gateway": change.payment.gateway,
        },
        "currency": change.currency,
        "total": str(change.total) if change.total is not None else None,
        "items": _items(change, codes),
        "recipient": change.recipient.model_dump(),
    }


def initial_state(change: OrderChange, integration: Integration, now: datetime) -> dict:
    """status, released_at and hold_release_at of an order seen for the first time."""
    method = change.payment.method
    paid = change.payment.paid_at is not None
    order: dict[str, Any] = {
        "status": "pending",
        "released_at": None,
        "deadline_at": None,
        "hold_release_at": None,
    }
    if method in RELEASED_WHEN_PAID:
        if paid:
            release(order, change.marketplace, integration, now)
        return order
    _start_hold(order, change, integration, now)
    return order


def _start_hold(order: dict, change: OrderChange, integration: Integration, now: datetime) -> None:
    """The payment hold of a card / COD order (in place): released now when its window, counted
    from the order's placing, has ended; else due at its end (the hold sweep)."""
    hold_until = change.placed_at + timedelta(minutes=integration.hold_minutes)
    if hold_until <= now:
        release(order, change.marketplace, integration, now)
    else:
        order["hold_release_at"] = clock.iso(hold_until)


def new_order(
    change: OrderChange,
    integration: Integration,
    now: datetime,
    *,
    merchant_id: str,
    order_id: str,
    packing_no: str,
    origin: str = "api",
    codes: dict[str, str] | None = None,
) -> dict:
    order: dict[str, Any] = {
        "order_id": order_id,
        "merchant_id": merchant_id,
        "marketplace": change.marketplace,
        "marketplace_order_no": change.marketplace_order_no,
        "origin": origin,
        "packing_no": packing_no,
        "shipment_stage": "none",
        "deadline_at": None,
        "cancelled_at": None,
        "cancel_reason": None,
        "tracking": None,
        "tags": [],
        "version": 0,
        "created_at": clock.iso(now),
        "updated_at": clock.iso(now),
        "marketplace_updated_at": clock.iso(change.marketplace_updated_at),
        **marketplace_fields(change, codes),
    }
    order.update(initial_state(change, integration, now))
    order["mapping"] = mapping_result(order["items"])
    if change.cancelled_at is not None:
        # Seen first as cancelled (deliveries are unordered): keep it, cancelled, so the number
        # is retired and a late orders/create cannot bring it back.
        order.update(st.cancelled(order, now, "marketplace_cancelled", at=_iso(change.cancelled_at)))
    return order


def _stage(order: dict) -> str:
    """The order's shipment stage, where an order the merchant shipped itself (tracking, no
    warehouse stage) counts as shipped."""
    return "shipped" if order.get("tracking") else order.get("shipment_stage", "none")


def _cancel(order: dict, change: OrderChange, now: datetime) -> tuple[str, str]:
    """Marketplace cancel by stage (docs/sync-flows.md). Returns (action, reason)."""
    stage = _stage(order)
    if stage in st.STAGES_NOT_STARTED and st.can(order["status"], "cancel"):
        order.update(st.cancelled(order, now, "marketplace_cancelled", at=_iso(change.cancelled_at)))
        if stage == "requested":
            return "cancelled", "shipment request deleted automatically"
        return "cancelled", ""
    if order["status"] == "on_hold":
        return "cancel_not_reflected", f"marketplace cancel while on hold at stage {stage}"
    if st.can(order["status"], "hold"):
        order["status"] = st.next_status(order["status"], "hold")
        order["hold_release_at"] = None
        if stage in st.PARCEL_LEFT_STAGES:
            return "cancel_not_reflected", "the parcel may be delivered; ask the recipient to refuse it"
        return "cancel_not_reflected", f"shipment already at stage {stage}; the warehouse must withdraw it"
    return "cancel_not_reflected", f"order already {order['status']}"


def topic_disagreement(change: OrderChange) -> str | None:
    """Why a topic taken from an unsigned header disagrees with the signed body, or None.

    Anyone who captured one signed body can replay it with another topic header, so such a
    topic only labels the change: a cancel needs the body's cancelled_at, a payment the body's
    paid_at, and a rerelease (which no marketplace body shows) a signed topic."""
    if change.topic_source == "body":
        return None
    if change.topic == "cancelled" and change.cancelled_at is None:
        return "the topic says cancelled; the body has no cancelled_at"
    if change.topic == "paid" and change.payment.paid_at is None:
        return "the topic says paid; the body is not paid"
    if change.topic in (*RERELEASE_TOPICS, *CLAIM_TOPICS):
        return f"{change.topic} is taken only from a signed body (the generic format's type)"
    return None


def _claim(new: dict, old: dict, change: OrderChange, now: datetime) -> tuple[str, str] | None:
    """A claim the body shows opened or closed (docs/orders.md, "Claims"); (action, reason), or
    None when the order's claim does not change. An open claim puts an order that may be held on
    hold (`claim.held`); when it closes, an order it held goes back to where it was. An order
    already on hold, for the merchant's own reason or a cancel that could not be reflected,
    stays on hold when the claim closes."""
    claim = change.claim
    current = old.get("claim") or {}
    was_open = current.get("state") == "open"
    if claim is None or (claim.state == "open") == was_open:
        return None
    stamp = clock.iso(now)
    if claim.state == "open":
        what = {"cancel": "a cancel request", "return": "a return request"}.get(claim.kind, "a claim")
        held = new["status"] != "on_hold" and st.can(new["status"], "hold")
        if held:
            new.update(actions.hold(new, f"the marketplace shows {what}", now).order)
        new["claim"] = {
            "state": "open",
            "kind": claim.kind,
            "reason": claim.reason,
            "opened_at": stamp,
            "held": held,
        }
        if held:
            return "claim_opened", f"{what}: on hold until the claim closes"
        return "claim_opened", f"{what}; the order stays {new['status']}"
    new["claim"] = {**current, "state": "closed", "closed_at": stamp}
    if current.get("held") and new["status"] == "on_hold":
        new.update(actions.release(new, "the claim closed", now).order)
        return "claim_closed", f"back to {new['status']}"
    return "claim_closed", f"the order stays {new['status']}"


def decide(order: dict | None, change: OrderChange, integration: Integration, now: datetime, **new_kw):
    """Apply `change` to `order` (None when the order is unknown)."""
    disagreement = topic_disagreement(change)
    if disagreement is not None:
        return Ignore("topic_disagrees_with_body", disagreement)
    if change.topic in (*CLAIM_TOPICS, *RERELEASE_TOPICS) and order is None:
        return Ignore("unknown_order", f"{change.topic} for an order orderhub does not have")
    if order is None and change.awaiting_shipment is False and change.cancelled_at is None:
        # The marketplace shows it shipped before orderhub heard of it (a pull's back-fill, a
        # connector switched on late): shipped outside orderhub, nothing for the warehouse.
        return Ignore(
            "shipped_at_marketplace",
            "the marketplace shows this order shipped; it was shipped outside orderhub",
        )
    if order is None:
        created = new_order(change, integration, now, **new_kw)
        claimed = _claim(created, {}, change, now)
        return Create(created, reason=claimed[1] if claimed else "")
    if order.get("origin", "api") != "api":
        return Ignore(
            "registered_by_hand", f"the order was registered by {order['origin']}; webhooks do not change it"
        )

    status = order["status"]
    if status == "deleted":
        return Ignore("deleted", "the merchant deleted this order; webhooks do not bring it back")
    if status == "cancelled":
        return Ignore("cancelled_number", "the order is cancelled; its number cannot come back")
    incoming = clock.iso(change.marketplace_updated_at)
    if incoming < order["marketplace_updated_at"]:
        return Ignore("stale", f"updated_at {incoming} is older than {order['marketplace_updated_at']}")

    if change.topic in RERELEASE_TOPICS:
        return _rerelease(order, change, integration, now, incoming)
    if released_again(order, change):
        return _rerelease(order, change, integration, now, incoming, why="rereleased")
    if refunded_after_shipping(order, change):
        closed = actions.close(order, "refunded", None, now).order
        new = {**closed, "marketplace_updated_at": incoming}
        return Update(new, "closed", history_changes(order, new, ("status",)), "refunded after shipping")

    new = {**order, "marketplace_updated_at": incoming}
    # Item codes: the mapping table's, else what the merchant already set on this order.
    known = {i["sku"]: i["item_code"] for i in order.get("items", []) if i.get("item_code")}
    fields = marketplace_fields(change, {**known, **(new_kw.get("codes") or {})})
    ignored: list[str] = []
    stage = order.get("shipment_stage", "none")
    if stage == "none":
        new.update(fields)
        new["mapping"] = mapping_result(new["items"])
    else:
        # The shipment exists: only the recipient is carried; item changes are never carried.
        new["recipient"] = fields["recipient"]
        new["payment"] = fields["payment"]
        if fields["items"] != order["items"]:
            ignored.append("items")

    action, reason = {"created": "updated", "updated": "updated", "paid": "paid"}.get(change.topic, ""), ""
    if change.cancelled_at is not None:  # the body says so (a signed cancel topic sets it)
        action, reason = _cancel(new, change, now)
    elif (
        status == "pending"
        and new["payment"]["method"] in RELEASED_WHEN_PAID
        and new["payment"]["paid_at"] is not None
    ):
        release(new, change.marketplace, integration, now)
        action = "paid"
    elif (
        status == "pending"
        and new["payment"]["method"] not in RELEASED_WHEN_PAID
        and not new.get("hold_release_at")
    ):
        # It waited for the marketplace (Amazon Pending) and now takes a hold window (COD,
        # card): the window counts from the order's placing, as for a new order.
        _start_hold(new, change, integration, now)

    if change.cancelled_at is None:  # a cancel settles the claim with it
        claimed = _claim(new, order, change, now)
        if claimed is not None:
            action, reason = claimed
    changes = history_changes(
        order, new, (*MARKETPLACE_FIELDS, "status", "shipment_stage", "released_at", "cancel_reason", "claim")
    )
    return Update(new, action, changes, reason, ignored)


def refunded_after_shipping(order: dict, change: OrderChange) -> bool:
    """Seed 003: an order refunded (or returned and refunded) after shipping is closed. Shipped
    means a tracking number, or a shipment the warehouse reported shipped (`_stage`)."""
    return change.refunded and _stage(order) == "shipped" and st.can(order["status"], "close")


def released_again(order: dict, change: OrderChange) -> bool:
    """Whether the signed body shows a shipped order released again (seed 004: Wish re-releases
    an order whose tracking the carrier cancelled): the marketplace shows it waiting to be
    shipped, with a release (payment) time later than the one recorded, while orderhub holds
    it shipped with a tracking number."""
    if change.awaiting_shipment is not True or not order.get("tracking"):
        return False
    released = change.payment.paid_at
    recorded = (order.get("payment") or {}).get("paid_at")
    return released is not None and recorded is not None and released > clock.parse_iso(recorded)


def _rerelease(
    order: dict,
    change: OrderChange,
    integration: Integration,
    now: datetime,
    incoming: str,
    why: str | None = None,
):
    """Seed 004: the carrier cancelled the tracking; the marketplace releases the order again."""
    why = why or change.topic
    try:
        outcome = actions.rerelease(order, now, integration.fulfillment_days, why)
    except Conflict:
        return Ignore(
            "not_shipped", f"{change.topic} for an order without tracking (status {order['status']})"
        )
    new = {**outcome.order, "marketplace_updated_at": incoming}
    if change.payment.paid_at is not None and "payment" in new:  # the marketplace's new release time
        new["payment"] = {**new["payment"], "paid_at": clock.iso(change.payment.paid_at)}
    changes = history_changes(
        order, new, ("status", "shipment_stage", "tracking", "released_at", "deadline_at", "payment")
    )
    return Update(new, "rereleased", changes, f"{why}: tracking {outcome.data['previous_tracking_number']}")
