"""Fulfillment (docs/fulfillment.md): fulfill one order, many, or a CSV job; change a tracking
number; the shared tracking rule checked against the tracking index; the fulfillment reflected
to the marketplace.

The tracking index: one item per tracking number (`M#<m>#TRACK#<number>`) holds the orders
using it and a version. A new use rewrites the item on the condition that the version is the
one read, so two orders claiming one number at the same time cannot both pass a rule that each
checked alone (the loser re-reads and is checked against the winner). A use ends (tracking
changed, or cancelled by the carrier) with the order's write: db.update_order_ops.
"""

from __future__ import annotations

from typing import Any

from orderhub.domain import actions, tracking
from orderhub.kernel import aws, clock
from orderhub.kernel.config import settings
from orderhub.kernel.errors import OrderhubError, ValidationFailed
from orderhub.merchants import profiles
from orderhub.orders import lifecycle
from orderhub.store import db, keys

MAX_MANY = 100
FULFILL_FIELDS = {"carrier", "tracking_number", "origin_country", "note", "version"}


# ---------------------------------------------------------------- the tracking index
MAX_SHARING = 50  # orders in one parcel


def users(merchant_id: str, number: str) -> tuple[int | None, list[tracking.Use]]:
    """(version of the number's index item or None, the orders using `number`): one GetItem."""
    item = (
        aws.table(settings().table_name)
        .get_item(Key=keys.tracking_key(merchant_id, number), ConsistentRead=True)
        .get("Item")
    )
    if not item:
        return None, []
    uses = [v for k, v in item.items() if k.startswith(db.USE_PREFIX)]
    return int(item.get("ver", 0)), [tracking.Use.from_item(u) for u in uses]


def claim_ops(old: dict, new: dict) -> list[dict]:
    """The op that records `new`'s use of its tracking number, after checking the shared rule
    against every order already using it. Nothing when the number did not change."""
    number = (new.get("tracking") or {}).get("tracking_number")
    if not number or number == (old.get("tracking") or {}).get("tracking_number"):
        return []
    m = new["merchant_id"]
    use = tracking.Use.of(new, profiles.timezone_of(m))
    head, current = users(m, number)
    tracking.check_share(use, current, number)
    others = [u for u in current if u.order_id != use.order_id]
    if len(others) >= MAX_SHARING:
        raise tracking.SharedTrackingRefused(
            f"tracking number {number} is already used by {len(others)} orders (at most {MAX_SHARING})",
            field="tracking_number",
            rule="tracking_shared_limit",
        )
    uses = {db.USE_PREFIX + u.order_id: u.to_item() for u in others}
    mine = {**use.to_item(), "carrier": new["tracking"]["carrier"], "at": clock.iso(clock.now())}
    uses[db.USE_PREFIX + use.order_id] = mine
    item = {
        **keys.tracking_key(m, number),
        "entity": "tracking",
        "tracking_number": number,
        "ver": (head or 0) + 1,
        **uses,
    }
    if head is None:
        return [db.put_op(item, "attribute_not_exists(pk)")]
    return [db.put_op(item, "ver = :v", {":v": head})]


def tracking_users(merchant_id: str, number: Any) -> dict:
    """GET /tracking/{number}: the orders using a tracking number (to plan a shared parcel)."""
    normalized = tracking.normalize_number(number)
    _, found = users(merchant_id, normalized)
    return {
        "tracking_number": normalized,
        "orders": [u.to_item() for u in sorted(found, key=lambda u: (u.released_on, u.order_id))],
    }


# ---------------------------------------------------------------- reflect to the marketplace
def reflect(order: dict, change: bool = False) -> dict:
    """Tell the order's marketplace it shipped (or that its tracking changed), when the order came
    from a marketplace whose API orderhub can call. A failure after the client's retries tags the
    order `mall_reflect_error` with a history entry; the fulfillment stands."""
    if order.get("origin", "api") != "api" or not order.get("tracking"):
        return order
    from orderhub.sync import reflect as marketplace_reflect

    return marketplace_reflect.send(
        order,
        marketplace_reflect.fulfillment_call(order, change),
        what="fulfillment",
        done="fulfillment_reflected",
        failed="fulfillment_reflect_failed",
        change=change or None,
    )


# ---------------------------------------------------------------- services
def _fields(body: dict) -> dict:
    unknown = set(body) - FULFILL_FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationFailed(f"unknown field {name!r}", field=name)
    return body


def _ship(merchant_id: str, order_id: str, body: dict, action, change: bool, also=None) -> dict:
    """Apply `action` (actions.fulfill or actions.change_tracking) with the body's tracking fields,
    recording the number's use in the tracking index in the same transaction (and `also`'s
    items: `also(old, new)`, a job row's result); then reflect."""
    b = _fields(body)
    ops = claim_ops if also is None else (lambda old, new: claim_ops(old, new) + also(old, new))
    new, _ = lifecycle.apply(
        merchant_id,
        order_id,
        lambda o, now: action(
            o, b.get("carrier"), b.get("tracking_number"), b.get("origin_country"), b.get("note"), now
        ),
        actor="merchant",
        expected_version=b.get("version"),
        extra_ops=ops,
    )
    return reflect(new, change=change)


def fulfill(merchant_id: str, order_id: str, body: dict, also=None) -> dict:
    """POST /orders/{id}/fulfill: ship with carrier + tracking number (-> shipped), then reflect.
    `also(old, new)`: more items for the order's transaction (a CSV row's result)."""
    return _ship(merchant_id, order_id, body, actions.fulfill, change=False, also=also)


def change_tracking(merchant_id: str, order_id: str, body: dict) -> dict:
    """PUT /orders/{id}/tracking: a new valid tracking number for a shipped order, then reflect."""
    return _ship(merchant_id, order_id, body, actions.change_tracking, change=True)


def fulfill_many(merchant_id: str, items: Any) -> list[dict]:
    """POST /fulfillments: one result per entry, in the order given (an entry may share a tracking
    number with an earlier one: each is checked against the orders already using it)."""
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise ValidationFailed("fulfillments must be a non-empty list of objects", field="fulfillments")
    if len(items) > MAX_MANY:
        raise ValidationFailed(f"at most {MAX_MANY} fulfillments at once", field="fulfillments")
    seen: set[str] = set()
    for n, entry in enumerate(items):
        oid = entry.get("order_id")
        if not isinstance(oid, str) or not oid:
            raise ValidationFailed("order_id is required", field=f"fulfillments[{n}].order_id")
        if oid in seen:
            raise ValidationFailed(f"order {oid} is given twice", field=f"fulfillments[{n}].order_id")
        seen.add(oid)
    results = []
    for entry in items:
        oid = entry["order_id"]
        body = {k: v for k, v in entry.items() if k != "order_id"}
        try:
            new = fulfill(merchant_id, oid, body)
            results.append(
                {
                    "order_id": oid,
                    "ok": True,
                    "status": new["status"],
                    "tracking_number": new["tracking"]["tracking_number"],
                    "version": new["version"],
                }
            )
        except OrderhubError as exc:
            results.append({"order_id": oid, "ok": False, "status": exc.status, **exc.to_body()})
    return results
