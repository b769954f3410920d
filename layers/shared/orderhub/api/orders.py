"""Merchant routes on orders: reads, one order's actions, many orders at once, registration, and
the background jobs these start."""

from __future__ import annotations

from orderhub.api import request
from orderhub.api.common import csv_response, json_response, results_response
from orderhub.api.routing import Response, Router
from orderhub.domain import actions
from orderhub.jobs import runner
from orderhub.kernel.errors import ValidationFailed
from orderhub.orders import lifecycle, queries
from orderhub.orders.mapping_jobs import map_order_items

router = Router()


def _act(order_id: str, action, status: int = 200, actor: str = "merchant", **kw) -> Response:
    new, outcome = lifecycle.apply(request.merchant_id(), order_id, action, actor=actor, **kw)
    view = queries.order_view(new)
    return json_response(202 if outcome.accepted_only else status, view)


# ---------------------------------------------------------------- reads
@router.get("/orders")
def list_orders():
    """List orders. Filters: status, marketplace, country, mapping, date_basis with from/to, tag, q (order
    number), include_deleted, preset (today, last_7_days, unmapped, due_24h, overdue); page_size
    25/50/100/200; opaque cursor.
    """
    return json_response(200, queries.list_orders(request.merchant_id(), request.query()))


@router.get("/orders/counts")
def order_counts():
    """Order counts per tab (all, pending, new, processing, shipped, on_hold, cancelled, closed) and
    overdue (unshipped orders flagged overdue by the deadline check, as preset=overdue lists them);
    the unfulfilled orders (released, not shipped): unfulfilled, due_within_24h, past_deadline, by
    the daily digest's rule (urgency_complete false past 5,000 orders of one status)."""
    return json_response(200, queries.order_counts(request.merchant_id()))


@router.get("/orders/<order_id>")
def get_order(order_id: str):
    """One order with its newest 50 history entries (oldest first); history_next_cursor pages the
    older ones through GET /orders/{order_id}/history."""
    return json_response(200, queries.get_order_with_history(request.merchant_id(), order_id))


@router.get("/orders/<order_id>/history")
def get_order_history(order_id: str):
    """An order's history, newest first, paged (page_size 25/50/100/200, cursor)."""
    return json_response(200, queries.order_history(request.merchant_id(), order_id, request.query()))


@router.get("/jobs/<job_id>")
def get_job(job_id: str):
    """A background job: state, progress and one result per row (paged with cursor)."""
    return json_response(200, runner.get(request.merchant_id(), job_id, request.query().get("cursor")))


# ---------------------------------------------------------------- one order
@router.post("/orders/<order_id>/hold")
def hold(order_id: str):
    """Put an order on hold. Body: {reason, version?}."""
    b = request.body({"reason", "version"}, required=True)
    return _act(
        order_id, lambda o, now: actions.hold(o, b.get("reason"), now), expected_version=b.get("version")
    )


@router.post("/orders/<order_id>/release")
def release(order_id: str):
    """Release an order from hold, back to the status it was held from. Body: {reason?, version?}."""
    b = request.body({"reason", "version"})
    return _act(
        order_id, lambda o, now: actions.release(o, b.get("reason"), now), expected_version=b.get("version")
    )


@router.post("/orders/<order_id>/close")
def close(order_id: str):
    """Close a shipped order. Body: {reason: returned|refunded, note?, version?}."""
    b = request.body({"reason", "note", "version"}, required=True)
    return _act(
        order_id,
        lambda o, now: actions.close(o, b.get("reason"), b.get("note"), now),
        expected_version=b.get("version"),
    )


@router.post("/orders/<order_id>/cancel")
def cancel(order_id: str):
    """Cancel an order. Before picking: cancelled at once (200). In picking/picked: a withdrawal is
    requested from the warehouse (202) and the cancel flow waits for its answer; that request costs
    a fee, so it needs accept_fee: true (else 409, rule paid_request_consent, with the notice).
    Packed or later: 409. Body: {reason?, version?, accept_fee?}.
    """
    from orderhub.orders import cancel as cancellation  # the flows and the marketplace client (~25 ms): lazy

    b = request.body({"reason", "version", "accept_fee"})
    new, outcome = cancellation.cancel(
        request.merchant_id(), order_id, b.get("reason"), b.get("version"), b.get("accept_fee")
    )
    return json_response(202 if outcome.accepted_only else 200, queries.order_view(new))


@router.patch("/orders/<order_id>/recipient")
def edit_recipient(order_id: str):
    """Change the recipient (name, address1, address2, city, region, postal_code, country, phone,
    email; "" clears one; items are never edited). Before picking: carried to the order and its
    shipment request at once (200). In picking/picked: a modification request to the warehouse
    (202), a paid request, so it needs accept_fee: true (else 409, rule paid_request_consent).
    Packed or later: 409 modify_after_packed. Body: {recipient: {...}, version?, accept_fee?}.
    """
    from orderhub.orders import recipient  # pydantic and the flows (~80 ms): kept off the cold start

    b = request.body({"recipient", "version", "accept_fee"}, required=True)
    new, outcome = recipient.edit(
        request.merchant_id(), order_id, b.get("recipient"), b.get("version"), b.get("accept_fee")
    )
    return json_response(202 if outcome.accepted_only else 200, queries.order_view(new))


@router.post("/orders/<order_id>/reflect-retry")
def reflect_retry(order_id: str):
    """Send the marketplace again the change it was not told (the order is tagged mall_reflect_error:
    a cancel, a fulfillment or a tracking change). 200 with the order, the tag gone; the marketplace's
    error (422) when it fails again, the order still tagged; 409 no_reflect_error without the tag.
    """
    from orderhub.sync import reflect  # the marketplace clients: lazy

    return json_response(200, queries.order_view(reflect.retry(request.merchant_id(), order_id)))


@router.post("/orders/<order_id>/reflect-error/clear")
def reflect_error_clear(order_id: str):
    """Take the mall_reflect_error tag off by hand (the merchant told the marketplace itself). Body:
    {reason} (required). Recorded in the history."""
    from orderhub.sync import reflect

    b = request.body({"reason"}, required=True)
    return json_response(
        200, queries.order_view(reflect.clear(request.merchant_id(), order_id, b.get("reason")))
    )


@router.delete("/orders/<order_id>")
def delete(order_id: str):
    """Delete an order nobody has started to work on (pending/new, stage none). It leaves lists and counts;
    its number may be registered again.
    """
    b = request.body({"version"})
    return _act(order_id, lambda o, now: actions.delete(o, now), expected_version=b.get("version"))


@router.post("/orders/<order_id>/ship-request")
def ship_request(order_id: str):
    """Send shipping info: create the shipment request (stage requested). Needs status processing and every
    item mapped.
    """
    b = request.body({"version"})
    return _act(order_id, lambda o, now: actions.ship_request(o, now), expected_version=b.get("version"))


@router.post("/orders/<order_id>/map-items")
def map_items(order_id: str):
    """Apply the item mapping table to this order's items now."""
    request.body(set())
    return json_response(200, queries.order_view(map_order_items(request.merchant_id(), order_id)))


@router.post("/orders/<order_id>/refresh")
def refresh_one(order_id: str):
    """Refresh this order from its marketplace."""
    from orderhub.orders import refresh  # the marketplace client (~13 ms): kept off the cold start

    request.body(set())
    return json_response(200, queries.order_view(refresh.refresh_order(request.merchant_id(), order_id)))


# ---------------------------------------------------------------- many orders
def _many(action, kind: str) -> Response:
    """{order_ids: [...]} (at most 100): run now, a result per order. {filter: {...}}: every order
    the GET /orders filter shows, as a background job (202) with a result per order."""
    b = request.body({"order_ids", "filter"}, required=True)
    m = request.merchant_id()
    if ("order_ids" in b) == ("filter" in b):
        raise ValidationFailed("send either order_ids or filter", field="order_ids")
    if "filter" in b:
        from orderhub.orders import bulk

        return json_response(202, bulk.start(m, kind, b.get("filter")))

    def run(oid: str) -> dict:
        new, outcome = lifecycle.apply(m, oid, action, actor="merchant")
        return {"status": new["status"], "shipment_stage": new["shipment_stage"], "version": new["version"]}

    results = lifecycle.apply_many(m, b.get("order_ids"), run)
    return results_response(results)


@router.post("/orders/confirm")
def confirm_many():
    """Confirm orders (new -> processing). Body: {order_ids: [...]} (at most 100; a result per order),
    or {filter: {GET /orders parameters}}: every order the filter shows, as a background job (202)."""
    return _many(lambda o, now: actions.confirm(o, now), "confirm")


@router.post("/orders/ship-requests")
def ship_request_many():
    """Send shipping info for many orders. Body: {order_ids: [...]} (at most 100; a result per order),
    or {filter: {GET /orders parameters}}: every order the filter shows, as a background job (202)."""
    return _many(lambda o, now: actions.ship_request(o, now), "ship_request")


@router.post("/orders/reflect-retry")
def reflect_retry_many():
    """Retry the failed reflect of every order a filter shows (usually {tag: mall_reflect_error}), as a
    background job (202); orders without one are skipped. Body: {filter: {GET /orders parameters}}."""
    from orderhub.orders import bulk

    b = request.body({"filter"}, required=True)
    return json_response(202, bulk.start(request.merchant_id(), "retry_reflect", b.get("filter")))


@router.post("/orders/refresh")
def refresh_many():
    """Refresh every order a filter shows, as a background job. Body: {filter: {GET /orders parameters}}."""
    from orderhub.orders import refresh  # the marketplace client (~13 ms): kept off the cold start

    b = request.body({"filter"})
    return json_response(202, refresh.start_refresh_job(request.merchant_id(), b.get("filter") or {}))


# ---------------------------------------------------------------- registration
@router.post("/orders")
def register():
    """Register an order by hand (origin manual)."""
    from orderhub.orders import registration  # pydantic (~80 ms): kept off the cold start

    b = request.body(required=True)
    return json_response(201, registration.register_manual(request.merchant_id(), b))


@router.post("/orders/import")
def import_csv():
    """Register orders from a CSV file (UTF-8 or Shift_JIS/CP932), as a background job with a result per
    row.
    """
    from orderhub.orders import csv_import  # registration's pydantic (~80 ms): kept off the cold start

    data, content_type = request.upload()
    return json_response(202, csv_import.start_import(request.merchant_id(), data, content_type))


# ---------------------------------------------------------------- export
_CSV_FILE = {
    "description": "The CSV file (UTF-8 with a BOM, or Shift_JIS/CP932)",
    "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
    "headers": {
        "X-Orderhub-Replaced-Rows": {
            "description": "cp932 only: how many rows had a character CP932 cannot hold (written as 〓)",
            "schema": {"type": "integer"},
        },
        "X-Orderhub-Replaced-Orders": {
            "description": "cp932 only: the order ids of the first 20 of those rows, comma separated",
            "schema": {"type": "string"},
        },
    },
}


@router.get("/orders/export.csv", responses={200: _CSV_FILE})
def export_csv():
    """Download every order a GET /orders filter shows as CSV, with the columns of the console's
    order list. The filters of GET /orders (no cursor/page_size); encoding utf-8 (default, with BOM)
    or cp932; unencodable replace (default: a character CP932 cannot hold is written as 〓 and the
    rows are reported in X-Orderhub-Replaced-Rows and X-Orderhub-Replaced-Orders) or refuse (422,
    rule cp932_unencodable, listing the rows). Cells that a spreadsheet would evaluate (= + - @) are
    written with a leading apostrophe. At most 10,000 orders and 4 MiB (400, rule export_too_large).
    """
    from orderhub.kernel import clock
    from orderhub.orders import export  # the CSV machinery: kept off the cold start

    query = request.query()
    out = export.export(request.merchant_id(), query)
    name = export.file_name(query, clock.now().strftime("%Y%m%d-%H%M%S"))
    return csv_response(out, name)
