"""Reading an order-registration CSV upload (docs/registration.md). Pure: no AWS.

An upload is the raw file (text/csv, application/octet-stream...) or a multipart/form-data form
with a `file` part. The file is UTF-8 (with or without BOM) or Shift_JIS/CP932, detected.
The first row is the header; data rows are numbered as in a spreadsheet (header = row 1, first
data row = row 2). Rows with the same (marketplace, marketplace_order_no) are the lines of one
order. File-level problems (encoding, header, size, quoting) are a 400 at upload; row-level
problems are reported per row by the import job.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser

from orderhub.kernel.errors import PayloadTooLarge, ValidationFailed

# Columns in their documented order.
COLUMNS = (
    "marketplace",
    "marketplace_order_no",
    "placed_at",
    "payment_method",
    "paid_at",
    "currency",
    "sku",
    "title",
    "quantity",
    "price",
    "item_code",
    "recipient_name",
    "address1",
    "address2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
    "email",
)
REQUIRED_COLUMNS = (
    "marketplace",
    "marketplace_order_no",
    "sku",
    "quantity",
    "price",
    "recipient_name",
    "address1",
    "city",
    "postal_code",
    "country",
)
# Columns that describe the order (read from the first row of an order); the rest describe a line.
ORDER_COLUMNS = (
    "placed_at",
    "payment_method",
    "paid_at",
    "currency",
    "recipient_name",
    "address1",
    "address2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
    "email",
)
ITEM_COLUMNS = ("sku", "title", "quantity", "price", "item_code")

MAX_DATA_ROWS = 10_000
MAX_CELL_CHARS = 1_000
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
RAW_TYPES = frozenset(
    {
        "text/csv",
        "application/csv",
        "text/plain",
        "application/vnd.ms-excel",
        "application/octet-stream",
    }
)
# jobs.create stores the job's input 500 elements per item; DynamoDB items hold 400 KB.
JOB_WINDOW = 500
JOB_WINDOW_BYTES = 300_000


@dataclass
class Upload:
    columns: list[str]
    rows: list[dict]  # {"n": row number, "c": cells, "long": {column: length}?, "extra": count?}
    encoding: str
    file_name: str | None = None


@dataclass
class Group:
    """The rows of one order (same marketplace and order number), in file order."""

    marketplace: str
    order_no: str
    rows: list[dict] = field(default_factory=list)


# ------------------------------------------------------------------ file
def extract_file(data: bytes, content_type: str) -> tuple[bytes, str | None]:
    """The CSV bytes of the request and the file name when the form gave one."""
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
        msg = BytesParser(policy=policy.HTTP).parsebytes(head + data)
        if not msg.is_multipart():
            raise ValidationFailed("the multipart form could not be read (boundary?)", field="file")
        for part in msg.iter_parts():
            if part.get_param("name", header="content-disposition") == "file":
                payload = part.get_payload(decode=True)
                return (payload if isinstance(payload, bytes) else b""), part.get_filename()
        raise ValidationFailed("the form has no part named 'file'", field="file")
    if ctype and ctype not in RAW_TYPES:
        raise ValidationFailed(
            f"content type {ctype!r} is not accepted; send text/csv, application/octet-stream "
            "or multipart/form-data with a 'file' part",
            field="content-type",
        )
    return data, None


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 (BOM optional) if the bytes are valid UTF-8, else CP932."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError:
        raise ValidationFailed(
            "unsupported encoding: the file is neither UTF-8 nor Shift_JIS (CP932) text", field="file"
        ) from None


def _blank(cells: list[str]) -> bool:
    return all(not c.strip() for c in cells)


def header(
    cells: list[str],
    known: tuple[str, ...] | None = COLUMNS,
    required: tuple[str, ...] = REQUIRED_COLUMNS,
) -> list[str]:
    """Normalized column names; refuses repeated and missing required columns, and columns outside
    `known` (None: other columns are allowed and left to the caller to ignore)."""
    names = [c.strip().lstrip("\ufeff").lower() for c in cells]
    if _blank(names):
        raise ValidationFailed("the first row must be the header row", field="columns")
    unknown = [n for n in names if known is not None and n not in known]
    if unknown:
        shown = unknown[0] or "(empty)"
        raise ValidationFailed(f"unknown column {shown!r}", field="columns", column=shown)
    seen: set[str] = set()
    for n in names:
        if n and n in seen:
            raise ValidationFailed(f"column {n!r} appears twice", field="columns", column=n)
        seen.add(n)
    missing = [c for c in required if c not in seen]
    if missing:
        word = "column" if len(missing) == 1 else "columns"
        raise ValidationFailed(
            f"missing required {word}: {', '.join(missing)}", field="columns", missing=missing
        )
    return names


def read(text: str, header_fn=None) -> tuple[list[str], list[dict]]:
    """(columns, data rows). Blank rows are skipped but keep their row numbers. `header_fn`
    checks the header row (the registration columns by default)."""
    header_fn = header_fn or header
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    columns: list[str] | None = None
    rows: list[dict] = []
    n = 0
    try:
        for cells in reader:
            n += 1
            if columns is None:
                columns = header_fn(cells)
                continue
            if not cells or _blank(cells):
                continue
            if len(rows) >= MAX_DATA_ROWS:
                raise ValidationFailed(
                    f"the file has more than {MAX_DATA_ROWS} data rows; split it", field="file"
                )
            rows.append(_row(n, cells, len(columns)))
    except csv.Error as exc:
        raise ValidationFailed(
            f"row {n + 1} (line {reader.line_num}) is not valid CSV: {exc}", field="file", row=n + 1
        ) from None
    if columns is None:
        raise ValidationFailed("the file is empty", field="file")
    if not rows:
        raise ValidationFailed("the file has a header but no data rows", field="file")
    return columns, rows


def _row(n: int, cells: list[str], width: int) -> dict:
    row: dict = {"n": n}
    long = {}
    kept = []
    for i, cell in enumerate(cells[:width]):
        if len(cell) > MAX_CELL_CHARS:
            long[i] = len(cell)
            cell = ""
        kept.append(cell)
    kept += [""] * (width - len(kept))
    row["c"] = kept
    if long:
        row["long"] = {str(i): length for i, length in long.items()}
    extra = sum(1 for c in cells[width:] if c.strip())
    if extra:
        row["extra"] = len(cells)
    return row


def parse_upload(data: bytes, content_type: str, header_fn=None) -> Upload:
    if len(data) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(
            f"the upload is {len(data)} bytes; the limit is {MAX_UPLOAD_BYTES}", field="file"
        )
    raw, file_name = extract_file(data, content_type)
    if not raw.strip():
        raise ValidationFailed("the file is empty", field="file")
    text, encoding = decode(raw)
    columns, rows = read(text, header_fn)
    return Upload(columns, rows, encoding, file_name)


# ------------------------------------------------------------------ rows
def cells(row: dict, columns: list[str]) -> dict[str, str]:
    """column -> cell text (stripped) of one stored row."""
    return {name: (row["c"][i] if i < len(row["c"]) else "").strip() for i, name in enumerate(columns)}


def too_long(row: dict, columns: list[str]) -> tuple[str, int] | None:
    for i, length in sorted((int(k), v) for k, v in (row.get("long") or {}).items()):
        return columns[i], length
    return None


def group(rows: list[dict], columns: list[str]) -> tuple[list[Group], list[dict]]:
    """Order groups in order of their first row, and the rows that name no order."""
    groups: dict[tuple[str, str], Group] = {}
    orphans: list[dict] = []
    for row in rows:
        c = cells(row, columns)
        mp, no = c["marketplace"].lower(), c["marketplace_order_no"]
        if not mp or not no:
            orphans.append(row)
            continue
        groups.setdefault((mp, no), Group(mp, no)).rows.append(row)
    return list(groups.values()), orphans


# ------------------------------------------------------------------ job input
def pack(rows: list[dict]) -> list:
    """The rows as job input elements. jobs.create stores 500 elements per DynamoDB item; a
    filler (0) closes a window early when its rows would pass JOB_WINDOW_BYTES."""
    out: list = []
    used = 0
    for row in rows:
        size = len(json.dumps(row, ensure_ascii=False).encode("utf-8")) + 2
        if used + size > JOB_WINDOW_BYTES and len(out) % JOB_WINDOW:
            out.extend([0] * (JOB_WINDOW - len(out) % JOB_WINDOW))
            used = 0
        out.append(row)
        used += size
        if len(out) % JOB_WINDOW == 0:
            used = 0
    return out


def unpack(elements) -> list[dict]:
    return [e for e in elements if isinstance(e, dict)]
