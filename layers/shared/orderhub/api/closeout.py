"""Merchant routes on cancelled and deleted orders: the list, restore, relink."""

from __future__ import annotations

from orderhub.api import request
from orderhub.api.common import json_response
from orderhub.api.routing import Router
from orderhub.closeout import cancelled_orders

router = Router()


@router.get("/cancelled-orders")
def list_cancelled_orders():
    """Deleted and cancelled orders, newest deletion/cancellation first, with reason, relink/restore state
    and the actions offered; counts by reason under the other filters (counts_complete: false when
    more than 10,000 orders were counted). Filters: q (part of the order number or of the recipient's
    name), reason, from/to (date of deletion/cancellation), marketplace, state; page_size
    25/50/100/200; opaque cursor.
    """
    return json_response(200, cancelled_orders.list_page(request.merchant_id(), request.query()))


@router.post("/cancelled-orders/<order_id>/restore")
def restore_order(order_id: str):
    """Restore a deleted CSV/manual order at once: back to new, stage none, the same packing number. 409
    naming the rule outside 14 days, before the service start, for other origins, or when an active order
    has the same number (recorded as restore_failed). Body: {version?}.
    """
    b = request.body({"version"})
    return json_response(200, cancelled_orders.restore(request.merchant_id(), order_id, b.get("version")))


@router.post("/cancelled-orders/<order_id>/relink")
def relink_order(order_id: str):
    """Request a relink of a deleted marketplace (origin api) order: 202, state relinking; the relink
    sweep (every 10 minutes) fetches the order from the marketplace and creates it again with a new
    packing number, or records relink_failed with the reason. 409 naming the rule otherwise. Body:
    {version?}.
    """
    from orderhub.closeout import relink  # the marketplace client and the sweeps (~15 ms): lazy

    b = request.body({"version"})
    return json_response(202, relink.request(request.merchant_id(), order_id, b.get("version")))
