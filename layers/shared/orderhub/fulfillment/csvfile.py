"""Fulfillment by CSV (docs/fulfillment.md): download the unfulfilled orders, fill in carrier and
tracking number, upload the file; a background job fulfills one order per row and keeps a
result per row; the merchant's upload history is GET /fulfillment-jobs.

Export: the filters of GET /orders, limited to orders the merchant can fulfill now (new or
processing, no tracking, no shipment with the warehouse). Written by orders/csvio.py's CsvWriter,
as every CSV download: UTF-8 with a BOM (spreadsheets open it as UTF-8) or CP932
(`encoding=cp932`; a character CP932 cannot hold is written as 〓 and its row reported, or the
file refused with `unencodable=refuse`); a cell that a spreadsheet would run as a formula
(starting with = + - @, tab or carriage return) is written with a leading apostrophe; the
numbers orderhub itself writes are left alone.

Upload: UTF-8 (BOM optional) or CP932, raw or multipart (`file`). Columns: order_id, carrier,
tracking_number (required), origin_country, note (optional); every other column of the export
is ignored, so the downloaded file goes back as it is. A row without carrier and tracking
number is skipped (not every order of the download has shipped yet).
"""

from __future__ import annotations

from typing import Any

from orderhub.domain.actions import offers
from orderhub.domain.deadline import days_remaining
from orderhub.domain.status import FULFILLABLE_STATUSES
from orderhub.jobs import runner
from orderhub.kernel import clock
from orderhub.kernel.errors import OrderhubError, ValidationFailed
from orderhub.merchants import profiles
from orderhub.orders import csvio, queries

KIND = "fulfill_csv"
EXPORT_COLUMNS = (
    "order_id",
    "marketplace",
    "marketplace_order_no",
    "packing_no",
    "status",
    "released_at",
    "deadline_at",
    "days_remaining",
    "recipient_name",
    "recipient_country",
    "items",
    "origin_country",
    "carrier",
    "tracking_number",
    "note",
)
UPLOAD_COLUMNS = ("order_id", "carrier", "tracking_number", "origin_country", "note")
REQUIRED_UPLOAD_COLUMNS = ("order_id", "carrier", "tracking_number")
MAX_EXPORT_ROWS = csvio.MAX_EXPORT_ROWS
neutralize = csvio.neutralize  # the one rule of every CSV download


def _row(order: dict, now, tz: str) -> list[Any]:
    recipient = order.get("recipient") or {}
    items = "; ".join(f"{i.get('sku')} x{i.get('quantity')}" for i in order.get("items", []))
    return [
        order["order_id"],
        order["marketplace"],
        order["marketplace_order_no"],
        order.get("packing_no"),
        order["status"],
        order.get("released_at"),
        order.get("deadline_at"),
        days_remaining(order.get("deadline_at"), now, tz),
        recipient.get("name"),
        recipient.get("country"),
        items,
        "",
        "",
        "",
        "",
    ]


def export(merchant_id: str, query_string: dict[str, str] | None) -> csvio.Download:
    """The file of the unfulfilled orders a GET /orders filter shows (csvio.CsvWriter: UTF-8 with
    a BOM or CP932, the characters CP932 cannot hold written as 〓 and reported, or refused)."""
    qs = dict(query_string or {})
    encoding, unencodable = csvio.take_download_options(qs)
    status = qs.get("status")
    if status is not None and status not in FULFILLABLE_STATUSES:
        raise ValidationFailed(
            f"status must be one of {', '.join(FULFILLABLE_STATUSES)} (orders that can be fulfilled)",
            field="status",
        )
    for name in ("cursor", "page_size", "include_deleted"):
        if name in qs:
            raise ValidationFailed(f"{name} does not apply to the CSV download", field=name)
    queries.parse_list_params(qs)  # a bad filter is a 400 before anything is read
    tz = profiles.timezone_of(merchant_id)
    now = clock.now()
    writer = csvio.CsvWriter(
        EXPORT_COLUMNS, encoding, max_rows=MAX_EXPORT_ROWS, max_bytes=csvio.MAX_EXPORT_BYTES
    )
    for order in _unfulfilled(merchant_id, qs):
        writer.add(order["order_id"], _row(order, now, tz), order.get("marketplace_order_no"))
    return writer.finish(unencodable)


def _unfulfilled(merchant_id: str, qs: dict[str, str]):
    """The orders of the filter the merchant can fulfill now: not those with a tracking number,
    nor those whose shipment is with the warehouse (it reports their tracking; a row filled in
    for one would fail with shipment_in_warehouse). The fulfill rule decides (domain/actions.py)."""
    statuses = [qs["status"]] if qs.get("status") else list(FULFILLABLE_STATUSES)
    now = clock.now()
    for status in statuses:
        for order in runner.each_order_of_filter(merchant_id, {**qs, "status": status}):
            if offers(order, "fulfill", now):
                yield order


# ---------------------------------------------------------------- upload
def upload_header(cells: list[str]) -> list[str]:
    """The export's other columns may stay in the file: only the upload columns are read."""
    return csvio.header(cells, known=None, required=REQUIRED_UPLOAD_COLUMNS)


def start(merchant_id: str, data: bytes, content_type: str) -> dict:
    """POST /fulfillment-jobs: check the file now (encoding, header, size), queue its rows."""
    upload = csvio.parse_upload(data, content_type, upload_header)
    keep = [i for i, name in enumerate(upload.columns) if name in UPLOAD_COLUMNS]
    columns = [upload.columns[i] for i in keep]
    rows = []
    for row in upload.rows:
        slim = {"n": row["n"], "c": [row["c"][i] for i in keep]}
        long = {str(keep.index(int(i))): n for i, n in (row.get("long") or {}).items() if int(i) in keep}
        if long:
            slim["long"] = long
        rows.append(slim)
    params = {
        "columns": columns,
        "encoding": upload.encoding,
        "file_name": upload.file_name,
        "rows": len(rows),
    }
    return runner.create(
        merchant_id,
        KIND,
        {k: v for k, v in params.items() if v is not None},
        rows=csvio.pack(rows),
        total=len(rows),
    )


def _cell_error(column: str, message: str, code: str = "validation_failed") -> dict:
    return {"code": code, "message": message, "field": column, "column": column}


@runner.register(KIND)
def run(job: dict, ctx: runner.JobContext) -> None:
    """Fulfill one order per row, in file order; a result per row (ok, skipped, or the error)."""
    from orderhub.fulfillment import shipping

    m = job["merchant_id"]
    columns = list(job["params"]["columns"])
    ctx.counts.setdefault("skipped", 0)
    for row in csvio.unpack(element for _, element in ctx.rows()):
        n = row["n"]
        if ctx.done(n):
            continue
        c = csvio.cells(row, columns)
        long = csvio.too_long(row, columns)
        if long:
            message = f"{long[0]} is {long[1]} characters long; at most {csvio.MAX_CELL_CHARS}"
            ctx.result(n, False, error=_cell_error(long[0], message))
            continue
        order_id = c.get("order_id", "")
        if not order_id:
            ctx.result(n, False, error=_cell_error("order_id", "order_id is required"))
            continue
        if not c.get("carrier") and not c.get("tracking_number"):
            ctx.result(n, True, order_id=order_id, skipped=True, reason="no carrier and tracking number")
            continue
        body = {k: c[k] for k in ("carrier", "tracking_number", "origin_country", "note") if c.get(k)}
        for k in ("carrier", "tracking_number"):
            body.setdefault(k, "")

        def shipped(_old: dict, new: dict, n: int = n, order_id: str = order_id) -> list[dict]:
            # the row's result, written in the transaction that ships the order
            tracking = new["tracking"]
            return [
                ctx.result_op(
                    n,
                    True,
                    order_id=order_id,
                    status=new["status"],
                    carrier=tracking["carrier"],
                    tracking_number=tracking["tracking_number"],
                )
            ]

        try:
            new = shipping.fulfill(m, order_id, body, also=shipped)
        except OrderhubError as exc:
            error = exc.to_body()["error"]
            if error.get("field") in UPLOAD_COLUMNS:
                error["column"] = error["field"]
            ctx.result(n, False, order_id=order_id, error=error)
            continue
        if "mall_reflect_error" in new.get("tags", []):  # the reflect after the transaction failed
            ctx.amend(n, tags=["mall_reflect_error"])
        ctx.recorded(True)
