"""GET /orders/export.csv (docs/orders.md "Export"): every order a GET /orders filter shows, as
a CSV file with the columns of the console's order list. The rows and the encoding are
orders/csvio.py's; this reads the orders, page by page (Queries only)."""

from __future__ import annotations

from orderhub.jobs import runner
from orderhub.kernel.errors import ValidationFailed
from orderhub.merchants import profiles
from orderhub.orders import csvio, list_params

PAGING = ("cursor", "page_size")


def export(merchant_id: str, query_string: dict[str, str] | None) -> csvio.Download:
    """The file of the filter: GET /orders' parameters (no paging) plus encoding and
    unencodable (csvio.take_download_options). A bad parameter is a 400 before anything is read."""
    qs = dict(query_string or {})
    encoding, unencodable = csvio.take_download_options(qs)
    for name in PAGING:
        if name in qs:
            raise ValidationFailed(f"{name} does not apply to the CSV export", field=name)
    list_params.parse(qs)
    tz = profiles.zone_of(merchant_id)
    writer = csvio.CsvWriter(
        csvio.EXPORT_COLUMNS,
        encoding,
        max_rows=csvio.MAX_EXPORT_ROWS,
        max_bytes=csvio.MAX_EXPORT_BYTES,
    )
    for order in runner.each_order_of_filter(merchant_id, qs):
        writer.add(order["order_id"], csvio.export_row(order, tz), order.get("marketplace_order_no"))
    return writer.finish(unencodable)


def file_name(query_string: dict[str, str] | None, stamp: str) -> str:
    """orders-<tab>-<stamp>.csv (the tab is `all` without a status); ASCII by the status rule."""
    status = (query_string or {}).get("status") or "all"
    return f"orders-{status}-{stamp}.csv"
