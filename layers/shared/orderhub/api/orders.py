"""Routes of the merchant API (a Powertools Router; functions/merchant_api/app.py mounts it).
Each route parses its input, calls one service function and returns JSON."""

from __future__ import annotations

import base64
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orderhub.api.common import claims, json_body, json_response
from orderhub.domain import actions
from orderhub.jobs import runner
from orderhub.kernel import clock
from orderhub.kernel.errors import Unauthorized, ValidationFailed
from orderhub.orders import lifecycle, mappings, queries

router = APIGatewayHttpRouter()


def merchant_id() -> str:
    """The merchant the JWT authorizer vouched for (claim merchant_id)."""
    mid = claims(router.current_event).get("merchant_id")
    if not mid:
        raise Unauthorized("the token has no merchant_id claim", field="Authorization")
    return mid


def query() -> dict[str, str]:
    return router.current_event.query_string_parameters or {}


def body(allowed: set[str] | None = None, required: bool = False) -> dict[str, Any]:
    return json_body(router.current_event, allowed, required)


def upload() -> tuple[bytes, str]:
    """The request body as raw bytes (a CSV file may be Shift_JIS) and its content type."""
    ev = router.current_event
    if not ev.body:
        data = b""
    elif ev.is_base64_encoded:
        data = base64.b64decode(ev.body)
    else:
        data = ev.body.encode("utf-8")
    return data, ev.headers.get("content-type", "")


def _act(order_id: str, action, status: int = 200, actor: str = "merchant", **kw) -> Response:
    new, outcome = lifecycle.apply(merchant_id(), order_id, action, actor=actor, **kw)
    view = queries.order_view(new)
    return json_response(202 if outcome.accepted_only else status, view)


# ---------------------------------------------------------------- reads
@router.get("/orders")
def list_orders():
    """List orders. Filters: status, marketplace, country, mapping, date_basis with from/to, tag, q (order
    number), include_deleted, preset; page_size 25/50/100/200; opaque cursor.
    """
    return json_response(200, queries.list_orders(merchant_id(), query()))


@router.get("/orders/counts")
def order_counts():
    """Order counts per tab (all, pending, new, processing, shipped, on_hold, cancelled, closed)."""
    return json_response(200, queries.counts(merchant_id()))


@router.get("/orders/unfulfilled.csv")
def unfulfilled_csv():
    """Download the orders that can be fulfilled (new or processing, no tracking) as CSV, to fill in
    carrier and tracking_number and upload to POST /fulfillment-jobs. The filters of GET /orders
    (status new|processing); encoding utf-8 (default, with BOM) or cp932. Cells that a spreadsheet
    would evaluate (= + - @) are written with a leading apostrophe. At most 10,000 orders.
    """
    from orderhub.fulfillment import csvfile

    data, encoding = csvfile.export(merchant_id(), query())
    stamp = clock.now().strftime("%Y%m%d-%H%M%S")
    return Response(
        status_code=200,
        content_type=f"text/csv; charset={'utf-8' if encoding == 'utf-8' else 'shift_jis'}",
        body=data,
        headers={"Content-Disposition": f'attachment; filename="unfulfilled-{stamp}.csv"'},
        compress=False,
    )


@router.get("/orders/<order_id>")
def get_order(order_id: str):
    """One order with its history."""
    return json_response(200, queries.get_order_with_history(merchant_id(), order_id))


@router.get("/cancelled-orders")
def list_cancelled_orders():
    """Deleted and cancelled orders, newest deletion/cancellation first, with reason, relink/restore state
    and the actions offered; counts by reason. Filters: reason, from/to (date of deletion/cancellation),
    marketplace, state; page_size 25/50/100/200; opaque cursor.
    """
    from orderhub.closeout import cancelled_orders

    return json_response(200, cancelled_orders.list_page(merchant_id(), query()))


@router.post("/cancelled-orders/<order_id>/restore")
def restore_order(order_id: str):
    """Restore a deleted CSV/manual order at once: back to new, stage none, the same packing number. 409
    naming the rule outside 14 days, before the service start, for other origins, or when an active order
    has the same number (recorded as restore_failed). Body: {version?}.
    """
    from orderhub.closeout import cancelled_orders

    b = body({"version"})
    return json_response(200, cancelled_orders.restore(merchant_id(), order_id, b.get("version")))


@router.post("/cancelled-orders/<order_id>/relink")
def relink_order(order_id: str):
    """Request a relink of a deleted marketplace (origin api) order: 202, state relinking; the relink
    sweep (every 10 minutes) fetches the order from the marketplace and creates it again with a new
    packing number, or records relink_failed with the reason. 409 naming the rule otherwise. Body:
    {version?}.
    """
    from orderhub.closeout import relink

    b = body({"version"})
    return json_response(202, relink.request(merchant_id(), order_id, b.get("version")))


@router.get("/quarantine")
def list_quarantine():
    """Signed but malformed webhook payloads, newest first, with the reason."""
    return json_response(200, queries.list_quarantine(merchant_id(), query()))


@router.get("/violations")
def list_violations():
    """Missed fulfillment deadlines: orders the deadline check refunded (order id, marketplace, order
    number, deadline_at, skus), newest first; page_size 25/50/100/200; opaque cursor.
    """
    return json_response(200, queries.list_violations(merchant_id(), query()))


@router.get("/webhook-deliveries/<adapter>/<delivery_id>")
def get_delivery(adapter: str, delivery_id: str):
    """What became of one webhook delivery (applied or ignored with the reason, duplicates)."""
    return json_response(200, queries.get_delivery(merchant_id(), adapter, delivery_id))


@router.get("/jobs/<job_id>")
def get_job(job_id: str):
    """A background job: state, progress and one result per row (paged with cursor)."""
    return json_response(200, runner.get(merchant_id(), job_id, query().get("cursor")))


# ---------------------------------------------------------------- one order
@router.post("/orders/<order_id>/hold")
def hold(order_id: str):
    """Put an order on hold. Body: {reason, version?}."""
    b = body({"reason", "version"}, required=True)
    return _act(
        order_id, lambda o, now: actions.hold(o, b.get("reason"), now), expected_version=b.get("version")
    )


@router.post("/orders/<order_id>/release")
def release(order_id: str):
    """Release an order from hold, back to the status it was held from. Body: {reason?, version?}."""
    b = body({"reason", "version"})
    return _act(
        order_id, lambda o, now: actions.release(o, b.get("reason"), now), expected_version=b.get("version")
    )


@router.post("/orders/<order_id>/close")
def close(order_id: str):
    """Close a shipped order. Body: {reason: returned|refunded, note?, version?}."""
    b = body({"reason", "note", "version"}, required=True)
    return _act(
        order_id,
        lambda o, now: actions.close(o, b.get("reason"), b.get("note"), now),
        expected_version=b.get("version"),
    )


@router.post("/orders/<order_id>/cancel")
def cancel(order_id: str):
    """Cancel an order. Before picking: cancelled at once (200). In picking/picked: a withdrawal is
    requested from the warehouse (202) and the cancel flow waits for its answer. Packed or later: 409.
    Body: {reason?, version?}.
    """
    from orderhub.sync import reflect

    b = body({"reason", "version"})
    new, outcome = lifecycle.apply(
        merchant_id(),
        order_id,
        lambda o, now: actions.cancel(o, b.get("reason"), now),
        actor="merchant",
        expected_version=b.get("version"),
    )
    if outcome.action == "cancelled":
        new = reflect.after_merchant_cancel(new)
    elif outcome.action == "cancel_requested":
        _start_withdrawal_flow(new, b.get("reason"))
    return json_response(202 if outcome.accepted_only else 200, queries.order_view(new))


def _start_withdrawal_flow(order: dict, reason: Any) -> None:
    """A merchant cancel in picking/picked: the cancel flow asks the warehouse (docs/sync-flows.md).
    Named by the order's version, so one request starts one flow."""
    import os

    from orderhub.sync import flows

    if not os.environ.get(flows.CANCEL_SM_ENV):
        return
    flow = {
        "merchant_id": order["merchant_id"],
        "order_id": order["order_id"],
        "source": "merchant",
        "reason": reason if isinstance(reason, str) else "",
    }
    flows.start_cancel(flow, f"v{order['version']}")


@router.delete("/orders/<order_id>")
def delete(order_id: str):
    """Delete an order nobody has started to work on (pending/new, stage none). It leaves lists and counts;
    its number may be registered again.
    """
    b = body({"version"})
    return _act(order_id, lambda o, now: actions.delete(o, now), expected_version=b.get("version"))


@router.post("/orders/<order_id>/ship-request")
def ship_request(order_id: str):
    """Send shipping info: create the shipment request (stage requested). Needs status processing and every
    item mapped.
    """
    b = body({"version"})
    return _act(order_id, lambda o, now: actions.ship_request(o, now), expected_version=b.get("version"))


@router.post("/orders/<order_id>/map-items")
def map_items(order_id: str):
    """Apply the item mapping table to this order's items now."""
    from orderhub.orders.mapping_jobs import map_order_items

    body(set())
    return json_response(200, queries.order_view(map_order_items(merchant_id(), order_id)))


@router.post("/orders/<order_id>/refresh")
def refresh_one(order_id: str):
    """Refresh this order from its marketplace."""
    from orderhub.orders import refresh

    body(set())
    return json_response(200, queries.order_view(refresh.refresh_order(merchant_id(), order_id)))


# ---------------------------------------------------------------- fulfillment
@router.post("/orders/<order_id>/fulfill")
def fulfill(order_id: str):
    """Mark an order shipped with its tracking (the merchant ships it; no shipment at the warehouse):
    new or processing -> shipped. Body: {carrier, tracking_number, origin_country?, note?, version?}. The
    tracking number must match the carrier's format (GET /carriers) and may be shared only as the shared
    tracking rule allows. Reflected to the marketplace.
    """
    from orderhub.fulfillment import shipping

    b = body(None, required=True)
    return json_response(200, queries.order_view(shipping.fulfill(merchant_id(), order_id, b)))


@router.put("/orders/<order_id>/tracking")
def change_tracking(order_id: str):
    """Change the tracking of a shipped order (a valid number is required again). Body: {carrier,
    tracking_number, origin_country?, note?, version?}. The previous tracking is kept in
    previous_tracking and the history. Reflected to the marketplace.
    """
    from orderhub.fulfillment import shipping

    b = body(None, required=True)
    return json_response(200, queries.order_view(shipping.change_tracking(merchant_id(), order_id, b)))


def _results_response(results: list[dict]) -> Response:
    """200 with a result per entry and the counts of those that succeeded and failed."""
    ok = sum(r["ok"] for r in results)
    return json_response(200, {"results": results, "succeeded": ok, "failed": len(results) - ok})


@router.post("/fulfillments")
def fulfill_many():
    """Fulfill many orders at once. Body: {fulfillments: [{order_id, carrier, tracking_number,
    origin_country?, note?}]} (at most 100); a result per order, in the order given.
    """
    from orderhub.fulfillment import shipping

    b = body({"fulfillments"}, required=True)
    results = shipping.fulfill_many(merchant_id(), b.get("fulfillments"))
    return _results_response(results)


@router.post("/fulfillment-jobs")
def start_fulfillment_job():
    """Upload a filled-in CSV (the download of GET /orders/unfulfilled.csv; UTF-8 or Shift_JIS/CP932, raw
    or multipart with a `file` part; columns order_id, carrier, tracking_number, origin_country?, note?).
    202 with the job; each row is fulfilled by a background job with a result per row.
    """
    from orderhub.fulfillment import csvfile

    data, content_type = upload()
    return json_response(202, csvfile.start(merchant_id(), data, content_type))


@router.get("/fulfillment-jobs")
def list_fulfillment_jobs():
    """The CSV fulfillment uploads, newest first, with state and counts; page_size 25/50/100/200; cursor."""
    return json_response(200, runner.list_page(merchant_id(), "fulfill_csv", query()))


@router.get("/fulfillment-jobs/<job_id>")
def get_fulfillment_job(job_id: str):
    """One CSV fulfillment upload: state, progress (processed, succeeded, failed, skipped) and one result
    per row (paged with cursor).
    """
    return json_response(200, runner.get_of_kind(merchant_id(), job_id, "fulfill_csv", query().get("cursor")))


@router.get("/carriers")
def list_carriers():
    """The carriers a tracking number may name, with their tracking number formats."""
    from orderhub.domain import tracking

    return json_response(200, {"carriers": tracking.carriers()})


@router.get("/tracking/<tracking_number>")
def tracking_users(tracking_number: str):
    """The orders using a tracking number (with recipient and release date), to plan a shared parcel."""
    from orderhub.fulfillment import shipping

    return json_response(200, shipping.tracking_users(merchant_id(), tracking_number))


@router.get("/flagged-skus")
def list_flagged_skus():
    """SKUs of orders refunded by the deadline check: refunds count and last order. Filter: marketplace;
    page_size 25/50/100/200; cursor.
    """
    return json_response(200, queries.list_flagged_skus(merchant_id(), query()))


# ---------------------------------------------------------------- many orders
def _many(action) -> Response:
    b = body({"order_ids"}, required=True)
    m = merchant_id()

    def run(oid: str) -> dict:
        new, outcome = lifecycle.apply(m, oid, action, actor="merchant")
        return {"status": new["status"], "shipment_stage": new["shipment_stage"], "version": new["version"]}

    results = lifecycle.apply_many(m, b.get("order_ids"), run)
    return _results_response(results)


@router.post("/orders/confirm")
def confirm_many():
    """Confirm orders (new -> processing). Body: {order_ids: [...]} (at most 100); a result per order."""
    return _many(lambda o, now: actions.confirm(o, now))


@router.post("/orders/ship-requests")
def ship_request_many():
    """Send shipping info for many orders. Body: {order_ids: [...]}; a result per order."""
    return _many(lambda o, now: actions.ship_request(o, now))


@router.post("/orders/refresh")
def refresh_many():
    """Refresh every order a filter shows, as a background job. Body: {filter: {GET /orders parameters}}."""
    from orderhub.orders import refresh

    b = body({"filter"})
    return json_response(202, refresh.start_refresh_job(merchant_id(), b.get("filter") or {}))


# ---------------------------------------------------------------- registration
@router.post("/orders")
def register():
    """Register an order by hand (origin manual)."""
    from orderhub.orders import registration

    return json_response(201, registration.register_manual(merchant_id(), body(required=True)))


@router.post("/orders/import")
def import_csv():
    """Register orders from a CSV file (UTF-8 or Shift_JIS/CP932), as a background job with a result per
    row.
    """
    from orderhub.orders import registration

    data, content_type = upload()
    return json_response(202, registration.start_import(merchant_id(), data, content_type))


# ---------------------------------------------------------------- item mappings
@router.get("/item-mappings")
def list_mappings():
    """List item mappings (marketplace SKU -> merchant item code). Query: marketplace, page_size, cursor."""
    return json_response(200, mappings.list_page(merchant_id(), query()))


@router.put("/item-mappings")
def put_mappings():
    """Create, change or remove item mappings. Body: {mappings: [{marketplace|*, sku, item_code|null}]} (at
    most 500).
    """
    b = body({"mappings"}, required=True)
    return json_response(200, mappings.put(merchant_id(), b.get("mappings")))


@router.post("/item-mappings/apply")
def apply_mappings():
    """Apply the item mapping table to every order a filter shows, as a background job. Body: {filter}."""
    b = body({"filter"})
    flt = b.get("filter") or {}
    if not isinstance(flt, dict):
        raise ValidationFailed("filter must be an object of GET /orders query parameters", field="filter")
    queries.parse_list_params(
        {k: str(v) for k, v in flt.items()}
    )  # a bad filter is a 400 now, not a failed job
    return json_response(202, runner.create(merchant_id(), "apply_mappings", {"filter": flt}))


# ---------------------------------------------------------------- integrations and sync history
@router.get("/integrations/<marketplace>")
def get_integration(marketplace: str):
    """A marketplace's integration settings (defaults filled in; api_token shown only as api_token_set)."""
    from orderhub.sync import integrations

    return json_response(200, integrations.get(merchant_id(), marketplace))


@router.put("/integrations/<marketplace>")
def put_integration(marketplace: str):
    """Change a marketplace's integration settings: cancel_sync, cancel_after_confirmed, modify_sync,
    modify_after_confirmed, reflect_cancel_to_marketplace, auto_confirm, hold_minutes, fulfillment_days,
    api_base_url, api_token (write-only), warehouse_timeout_seconds, warehouse_heartbeat_seconds. Keys not
    given are kept.
    """
    from orderhub.sync import integrations

    return json_response(200, integrations.put(merchant_id(), marketplace, body(required=True)))


@router.get("/sync-history")
def list_sync_history():
    """Every attempt to carry a marketplace cancel or modify to the shipment, newest first. Filters: kind,
    outcome, from/to; page_size 25/50/100/200; opaque cursor.
    """
    from orderhub.sync import history as sync_history

    return json_response(200, sync_history.list_page(merchant_id(), query()))
