"""The CSV import (POST /orders/import; docs/registration.md): the upload is checked and queued as
an `import_csv` job, whose runner groups the rows into orders, validates each group (an order is
all or nothing, each row gets its own error) and registers it with orderhub.orders.registration.
One result per data row, in file order; a retried job skips the groups already done.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from orderhub.domain.parts import Item, Recipient
from orderhub.jobs import runner
from orderhub.kernel import clock
from orderhub.kernel.errors import OrderhubError, ValidationFailed
from orderhub.merchants import profiles
from orderhub.orders import csvio, mappings
from orderhub.orders.registration import MAX_ITEMS, Registration, item, order_fields, register

# Field path of the JSON body -> CSV column.
PATH_COLUMNS = {
    "marketplace": "marketplace",
    "marketplace_order_no": "marketplace_order_no",
    "placed_at": "placed_at",
    "payment": "payment_method",
    "payment.method": "payment_method",
    "payment.paid_at": "paid_at",
    "currency": "currency",
    "recipient": "recipient_name",
    "recipient.name": "recipient_name",
    "recipient.address1": "address1",
    "recipient.address2": "address2",
    "recipient.city": "city",
    "recipient.region": "region",
    "recipient.postal_code": "postal_code",
    "recipient.country": "country",
    "recipient.phone": "phone",
    "recipient.email": "email",
}


def _csv_order_data(c: dict[str, str]) -> dict:
    payment = {"method": c.get("payment_method") or None, "paid_at": c.get("paid_at") or None}
    recipient = {
        "name": c.get("recipient_name", ""),
        **{key: c.get(key, "") for key in Recipient.model_fields if key != "name"},
    }
    return {
        "marketplace": c.get("marketplace"),
        "marketplace_order_no": c.get("marketplace_order_no"),
        "placed_at": c.get("placed_at") or None,
        "payment": payment,
        "currency": c.get("currency") or None,
        "recipient": recipient,
    }


def _csv_item_data(c: dict[str, str]) -> dict:
    return {key: c.get(key) for key in csvio.ITEM_COLUMNS}


def _column_of(path: str) -> str:
    if path.startswith("items["):
        return path.split(".", 1)[1] if "." in path else "sku"
    return PATH_COLUMNS.get(path, path)


def _row_error(column: str, message: str, code: str = "validation_failed", **extra) -> dict:
    return {"code": code, "field": column, "message": message, **extra}


def _csv_error(exc: ValidationFailed) -> dict:
    column = _column_of(exc.field or "")
    return _row_error(column, getattr(exc, "short", exc.message))


def _row_problem(row: dict, columns: list[str]) -> dict | None:
    long = csvio.too_long(row, columns)
    if long:
        return _row_error(long[0], f"is {long[1]} characters long; at most {csvio.MAX_CELL_CHARS}")
    if row.get("extra"):
        return _row_error("columns", f"the row has {row['extra']} cells; the header has {len(columns)}")
    return None


def validate_group(
    group: csvio.Group, columns: list[str], now: datetime, tz: tzinfo | None
) -> tuple[Registration | None, dict[int, dict]]:
    """The order of one CSV group, or the error of each row (an order is all or nothing)."""
    errors: dict[int, dict] = {}
    first = group.rows[0]
    first_cells = csvio.cells(first, columns)
    fields: dict | None = None
    lines: list[Item] = []
    if len(group.rows) > MAX_ITEMS:
        message = f"an order has at most {MAX_ITEMS} item rows; this one has {len(group.rows)}"
        return None, {r["n"]: _row_error("marketplace_order_no", message) for r in group.rows}
    for row in group.rows:
        n = row["n"]
        problem = _row_problem(row, columns)
        if problem:
            errors[n] = problem
            continue
        c = csvio.cells(row, columns)
        try:
            if row is first:
                fields = order_fields(_csv_order_data(c), now, tz)
            else:
                for col in csvio.ORDER_COLUMNS:
                    if c.get(col) and c[col] != first_cells.get(col):
                        errors[n] = _row_error(
                            col,
                            f"differs from row {first['n']}, the first row of order {group.order_no} "
                            "(leave it empty or repeat the same value)",
                        )
                        break
                if n in errors:
                    continue
            lines.append(item(_csv_item_data(c), "items[0]", csv_cells=True))
        except ValidationFailed as exc:
            errors[n] = _csv_error(exc)
    if errors:
        bad = sorted(errors)
        for row in group.rows:
            if row["n"] not in errors:
                errors[row["n"]] = _row_error(
                    "marketplace_order_no",
                    f"not registered: row {bad[0]} of order {group.order_no} has an error "
                    f"({errors[bad[0]]['field']})",
                    code="order_rejected",
                    rows=bad,
                )
        return None, errors
    assert fields is not None
    return Registration(items=tuple(lines), **fields), {}


def orphan_error(row: dict, columns: list[str]) -> dict:
    """The error of a row that names no order (no marketplace or no order number)."""
    problem = _row_problem(row, columns)
    if problem:
        return problem
    c = csvio.cells(row, columns)
    column = "marketplace" if not c.get("marketplace") else "marketplace_order_no"
    return _row_error(column, "is required")


# ------------------------------------------------------------------ the import job
def start_import(merchant_id: str, data: bytes, content_type: str) -> dict:
    """POST /orders/import: check the file now (encoding, header, size) and queue the rows."""
    upload = csvio.parse_upload(data, content_type)
    params = {
        "columns": upload.columns,
        "encoding": upload.encoding,
        "file_name": upload.file_name,
        "rows": len(upload.rows),
    }
    return runner.create(
        merchant_id,
        "import_csv",
        {k: v for k, v in params.items() if v is not None},
        rows=csvio.pack(upload.rows),
        total=len(upload.rows),
    )


# A group of at most this many rows has its results written in the order's own transaction
# (DynamoDB's 100 items, with the order's own 7 at most); a larger group writes them after it.
RESULTS_IN_TRANSACTION = 50


@runner.register("import_csv")
def run_import(job: dict, ctx: runner.JobContext) -> None:
    """Register each order group of the file; one result per data row, in file order."""
    m = job["merchant_id"]
    columns = list(job["params"]["columns"])
    rows = csvio.unpack(element for _, element in ctx.rows())
    groups, orphans = csvio.group(rows, columns)
    work: list[tuple[int, Any]] = [(g.rows[0]["n"], g) for g in groups] + [(r["n"], r) for r in orphans]
    work.sort(key=lambda w: w[0])
    tz = profiles.zone_of(m)
    fresh = True
    for _, unit in work:
        if isinstance(unit, dict):  # a row that names no order
            ctx.result(unit["n"], False, error=orphan_error(unit, columns))
            continue
        group: csvio.Group = unit
        if ctx.done(group.rows[-1]["n"]):
            continue  # results are written in row order: this group finished in an earlier attempt
        reg, errors = validate_group(group, columns, clock.now(), tz)
        if reg is None:
            for row in group.rows:
                ctx.result(row["n"], False, marketplace_order_no=group.order_no, error=errors[row["n"]])
            continue
        row_numbers = [r["n"] for r in group.rows]
        staged: dict[str, str] = {}

        def results(
            order: dict, rows: list[int] = row_numbers, no: str = group.order_no, staged: dict = staged
        ) -> list[dict]:
            # the rows' results, written in the transaction that registers the order
            staged["order_id"] = order["order_id"]
            return [
                ctx.result_op(
                    n,
                    True,
                    marketplace_order_no=no,
                    order_id=order["order_id"],
                    packing_no=order["packing_no"],
                )
                for n in rows
            ]

        small = len(row_numbers) <= RESULTS_IN_TRANSACTION
        try:
            codes = mappings.codes_for(m, reg.marketplace, {i.sku for i in reg.items}, fresh=fresh)
            fresh = False
            order = register(
                m,
                reg,
                origin="csv",
                codes=codes,
                job_id=job["job_id"],
                rows=row_numbers,
                also=results if small else None,
            )
        except OrderhubError as exc:
            error = exc.to_body()["error"]
            for n in row_numbers:
                ctx.result(
                    n, False, marketplace_order_no=group.order_no, order_id=error.get("order_id"), error=error
                )
            continue
        if staged.get("order_id") == order["order_id"]:  # written with the order
            for _ in row_numbers:
                ctx.recorded(True)
            continue
        for n in row_numbers:  # a large group, or an order an earlier attempt of this job registered
            ctx.result(
                n,
                True,
                marketplace_order_no=group.order_no,
                order_id=order["order_id"],
                packing_no=order["packing_no"],
            )
