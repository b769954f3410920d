"""Merchant routes on fulfillment: the CSV round trip (download, upload as a job), shipping with
tracking one or many at a time, carriers and tracking numbers, and the missed deadlines."""

from __future__ import annotations

from orderhub.api import request
from orderhub.api.common import csv_response, json_response, results_response
from orderhub.api.routing import Router
from orderhub.domain import tracking
from orderhub.fulfillment import shipments, shipping
from orderhub.jobs import runner
from orderhub.kernel import clock
from orderhub.orders import queries

router = Router()


@router.get("/orders/unfulfilled.csv")
def unfulfilled_csv():
    """Download the orders the merchant can fulfill now (new or processing, no tracking, no shipment
    with the warehouse) as CSV, to fill in
    carrier and tracking_number and upload to POST /fulfillment-jobs. The filters of GET /orders
    (status new|processing); encoding utf-8 (default, with BOM) or cp932. Cells that a spreadsheet
    would evaluate (= + - @) are written with a leading apostrophe. In cp932, a character CP932
    cannot hold is written as 〓 and its rows reported in X-Orderhub-Replaced-Rows and
    X-Orderhub-Replaced-Orders (unencodable=refuse: 422 listing them instead), as GET
    /orders/export.csv does. At most 10,000 orders.
    """
    from orderhub.fulfillment import csvfile  # CSV and multipart parsing: kept off the cold start

    out = csvfile.export(request.merchant_id(), request.query())
    stamp = clock.now().strftime("%Y%m%d-%H%M%S")
    return csv_response(out, f"unfulfilled-{stamp}.csv")


@router.get("/shipments")
def list_shipments():
    """The shipments the warehouse has or had, one stage at a time, newest request first: stage
    requested (default), picking, picked, packed, shipped or withdrawn. Filters: from/to (the date
    the shipment was requested: a day in the merchant's time zone or a timestamp with offset),
    marketplace, q (a packing number or a marketplace order number: answered in one page);
    page_size 25/50/100/200; opaque cursor. Each row: order id and number, marketplace, packing
    number, stage, requested_at, stage_at (when recorded), recipient name, item lines and
    quantity, tracking when shipped, withdrawal when requested or withdrawn. `counts` has every
    stage's count.
    """
    return json_response(200, shipments.list_page(request.merchant_id(), request.query()))


@router.get("/violations")
def list_violations():
    """Missed fulfillment deadlines: orders the deadline check refunded (order id, marketplace, order
    number, deadline_at, skus), newest first; page_size 25/50/100/200; opaque cursor.
    """
    return json_response(200, queries.list_violations(request.merchant_id(), request.query()))


@router.post("/orders/<order_id>/fulfill")
def fulfill(order_id: str):
    """Mark an order shipped with its tracking (the merchant ships it; no shipment at the warehouse):
    new or processing -> shipped. Body: {carrier, tracking_number, origin_country?, note?, version?}. The
    tracking number must match the carrier's format (GET /carriers) and may be shared only as the shared
    tracking rule allows. Reflected to the marketplace.
    """
    b = request.body(None, required=True)
    return json_response(200, queries.order_view(shipping.fulfill(request.merchant_id(), order_id, b)))


@router.put("/orders/<order_id>/tracking")
def change_tracking(order_id: str):
    """Change the tracking of a shipped order (a valid number is required again). Body: {carrier,
    tracking_number, origin_country?, note?, version?}: origin_country and note left out keep their
    values, "" clears them. The previous tracking is kept in previous_tracking and the history.
    Reflected to the marketplace.
    """
    b = request.body(None, required=True)
    return json_response(
        200, queries.order_view(shipping.change_tracking(request.merchant_id(), order_id, b))
    )


@router.post("/fulfillments")
def fulfill_many():
    """Fulfill many orders at once. Body: {fulfillments: [{order_id, carrier, tracking_number,
    origin_country?, note?}]} (at most 100); a result per order, in the order given.
    """
    b = request.body({"fulfillments"}, required=True)
    return results_response(shipping.fulfill_many(request.merchant_id(), b.get("fulfillments")))


@router.post("/fulfillment-jobs")
def start_fulfillment_job():
    """Upload a filled-in CSV (the download of GET /orders/unfulfilled.csv; UTF-8 or Shift_JIS/CP932, raw
    or multipart with a `file` part; columns order_id, carrier, tracking_number, origin_country?, note?).
    202 with the job; each row is fulfilled by a background job with a result per row.
    """
    from orderhub.fulfillment import csvfile  # CSV and multipart parsing: kept off the cold start

    data, content_type = request.upload()
    return json_response(202, csvfile.start(request.merchant_id(), data, content_type))


@router.get("/fulfillment-jobs")
def list_fulfillment_jobs():
    """The CSV fulfillment uploads, newest first, with state and counts; page_size 25/50/100/200; cursor."""
    return json_response(200, runner.list_page(request.merchant_id(), "fulfill_csv", request.query()))


@router.get("/fulfillment-jobs/<job_id>")
def get_fulfillment_job(job_id: str):
    """One CSV fulfillment upload: state, progress (processed, succeeded, failed, skipped) and one result
    per row (paged with cursor).
    """
    cursor = request.query().get("cursor")
    return json_response(200, runner.get_of_kind(request.merchant_id(), job_id, "fulfill_csv", cursor))


@router.get("/carriers")
def list_carriers():
    """The carriers a tracking number may name, with their tracking number formats."""
    return json_response(200, {"carriers": tracking.carriers(), "number_rule": tracking.number_rule()})


@router.get("/tracking/<tracking_number>")
def tracking_users(tracking_number: str):
    """The orders using a tracking number (with recipient and release date), to plan a shared parcel."""
    return json_response(200, shipping.tracking_users(request.merchant_id(), tracking_number))


@router.get("/flagged-skus")
def list_flagged_skus():
    """SKUs of orders refunded by the deadline check: refunds count and last order. Filter: marketplace;
    page_size 25/50/100/200; cursor.
    """
    return json_response(200, queries.list_flagged_skus(request.merchant_id(), request.query()))
