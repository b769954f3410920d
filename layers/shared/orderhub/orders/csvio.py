"""CSV files of orders. Pure: no AWS.

Reading an order-registration CSV upload (docs/registration.md). An upload is the raw file
(text/csv, application/octet-stream...) or a multipart/form-data form with a `file` part. The
file is UTF-8 (with or without BOM) or Shift_JIS/CP932, detected. The first row is the header;
data rows are numbered as in a spreadsheet (header = row 1, first
data row = row 2). Rows with the same (marketplace, marketplace_order_no) are the lines of one
order. File-level problems (encoding, header, size, quoting) are a 400 at upload; row-level
problems are reported per row by the import job.

Writing a download (docs/orders.md "Export"): the cells of a row are neutralized (never a
formula), then encoded as UTF-8 with a BOM or as CP932; a character CP932 cannot hold becomes
the geta mark 〓 and its row is reported (or the file is refused, as the client asks). Every CSV
download orderhub writes (the order export, the unfulfilled orders) goes through `CsvWriter`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from orderhub.kernel.errors import PayloadTooLarge, Unprocessable, ValidationFailed

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
        # imported here: the email package is only for an upload's form, which the import job
        # (a cold start of the job worker) never reads
        from email import policy
        from email.parser import BytesParser

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


# ------------------------------------------------------------------ download
DOWNLOAD_ENCODINGS = ("utf-8", "cp932")
_ENCODING_SPELLINGS = {"shift-jis": "cp932", "sjis": "cp932", "windows-31j": "cp932", "utf8": "utf-8"}
UNENCODABLE_CHOICES = ("replace", "refuse")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^-?\d+$")
# What a character CP932 cannot hold becomes: the geta mark, which CP932 holds (0x81AC) and
# Japanese systems have long printed for a character they could not print.
GETA = "\u3013"
# Characters CP932 holds under another code point than the one JIS-based text (Shift_JIS read
# by a JIS table, EUC-JP, ISO-2022-JP, most Unix and Mac software) spells them with: written as
# the CP932 character, as Windows itself does, not replaced. Python's cp932 codec already
# writes WAVE DASH U+301C (as 0x8160, FULLWIDTH TILDE when read back), DOUBLE VERTICAL LINE
# U+2016, MINUS SIGN U+2212 and the cent, pound and not signs; these four it refuses.
CP932_SPELLINGS = str.maketrans(
    {
        "\u2014": "\u2015",  # EM DASH -> HORIZONTAL BAR (0x815C)
        "\u00a5": "\uffe5",  # YEN SIGN -> FULLWIDTH YEN SIGN (0x818F)
        "\u203e": "\uffe3",  # OVERLINE -> FULLWIDTH MACRON (0x8150)
        "\u00a6": "\uffe4",  # BROKEN BAR -> FULLWIDTH BROKEN BAR (0xFA55)
    }
)
# The report of replaced rows: response headers stay ASCII and short; a refusal lists more.
HEADER_ORDERS = 20
REFUSAL_ROWS = 100


def neutralize(cell: Any) -> str:
    """A spreadsheet must show the cell, never evaluate it (CSV/formula injection): text starting
    with = + - @, tab or carriage return gets a leading apostrophe. The whole numbers orderhub
    writes itself (days remaining, counts, possibly negative) stay numbers."""
    text = "" if cell is None else str(cell)
    if text.startswith(FORMULA_START) and not (isinstance(cell, int) and _PLAIN_NUMBER.match(text)):
        return "'" + text
    return text


def take_download_options(qs: dict[str, str]) -> tuple[str, str]:
    """(encoding, unencodable) taken out of a download's query string: `encoding` utf-8
    (default) or cp932 (shift_jis, sjis, windows-31j spell it too); `unencodable` replace
    (default) or refuse, for cp932 only. A 400 naming the field otherwise."""
    raw = str(qs.pop("encoding", None) or "utf-8").strip().lower().replace("_", "-")
    encoding = _ENCODING_SPELLINGS.get(raw, raw)
    if encoding not in DOWNLOAD_ENCODINGS:
        raise ValidationFailed(f"encoding must be one of {', '.join(DOWNLOAD_ENCODINGS)}", field="encoding")
    unencodable = str(qs.pop("unencodable", None) or "replace").strip().lower()
    if unencodable not in UNENCODABLE_CHOICES:
        raise ValidationFailed(
            f"unencodable must be one of {', '.join(UNENCODABLE_CHOICES)}", field="unencodable"
        )
    return encoding, unencodable


@dataclass(frozen=True)
class Replaced:
    """A row of a CP932 download with characters CP932 cannot hold (each written as 〓)."""

    row: int  # as a spreadsheet numbers it: the header is row 1
    key: str  # the order id
    columns: tuple[str, ...]
    characters: tuple[str, ...]  # "U+20BB7", in the order met, each once
    order_no: str | None = None  # the marketplace's order number

    def to_dict(self) -> dict:
        return {
            "row": self.row,
            "order_id": self.key,
            "marketplace_order_no": self.order_no,
            "columns": list(self.columns),
            "characters": list(self.characters),
        }


@dataclass(frozen=True)
class Download:
    data: bytes
    encoding: str
    rows: int
    replaced: tuple[Replaced, ...] = ()

    def headers(self) -> dict[str, str]:
        """The replacement report of a CP932 file, ASCII and bounded: X-Orderhub-Replaced-Rows
        (how many rows had a character written as 〓; 0 when none) and X-Orderhub-Replaced-Orders
        (the order ids of the first HEADER_ORDERS of them, comma separated)."""
        if self.encoding != "cp932":
            return {}
        out = {"X-Orderhub-Replaced-Rows": str(len(self.replaced))}
        if self.replaced:
            out["X-Orderhub-Replaced-Orders"] = ",".join(r.key for r in self.replaced[:HEADER_ORDERS])
        return out


def _code_point(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def to_cp932(text: str) -> tuple[str, list[str]]:
    """(text CP932 holds, the characters replaced): the JIS spellings written as CP932 writes
    them (CP932_SPELLINGS), then each character CP932 still cannot hold as one GETA."""
    text = text.translate(CP932_SPELLINGS)
    try:
        text.encode("cp932")
        return text, []
    except UnicodeEncodeError:
        pass
    kept: list[str] = []
    lost: list[str] = []
    for ch in text:
        try:
            ch.encode("cp932")
            kept.append(ch)
        except UnicodeEncodeError:
            kept.append(GETA)
            lost.append(ch)
    return "".join(kept), lost


class CsvWriter:
    """A CSV download written row by row: cells neutralized, CRLF line ends, UTF-8 with a BOM or
    CP932 with the replaced rows reported. Bounded: more than `max_rows` rows or `max_bytes`
    bytes is a 400 (rule export_too_large) naming the limit."""

    def __init__(self, columns: tuple[str, ...], encoding: str, *, max_rows: int, max_bytes: int):
        if encoding not in DOWNLOAD_ENCODINGS:
            raise ValueError(encoding)
        self.columns = columns
        self.encoding = encoding
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.rows = 0
        self.replaced: list[Replaced] = []
        self._chunks: list[bytes] = []
        self._size = 0
        self._line = io.StringIO(newline="")
        self._writer = csv.writer(self._line, lineterminator="\r\n")
        self._put(None, [neutralize(c) for c in columns], bom=encoding == "utf-8")

    def add(self, key: str, cells: list[Any], order_no: str | None = None) -> None:
        """One row (the order `key`, numbered `order_no` by its marketplace, names it in the
        report)."""
        if self.rows >= self.max_rows:
            raise ValidationFailed(
                f"more than {self.max_rows} orders match; narrow the filter (tab, marketplace, from/to)",
                field="filter",
                rule="export_too_large",
                max_rows=self.max_rows,
            )
        self.rows += 1
        self._put(key, [neutralize(c) for c in cells], order_no=order_no)

    def _put(self, key: str | None, cells: list[str], bom: bool = False, order_no: str | None = None) -> None:
        if self.encoding == "cp932":
            columns: list[str] = []
            lost: list[str] = []
            for i, cell in enumerate(cells):
                cells[i], missing = to_cp932(cell)
                if missing:
                    columns.append(self.columns[i] if i < len(self.columns) else str(i))
                    lost.extend(m for m in missing if m not in lost)
            if lost and key is not None:
                chars = tuple(dict.fromkeys(_code_point(c) for c in lost))
                self.replaced.append(Replaced(self.rows + 1, key, tuple(columns), chars, order_no))
        self._line.seek(0)
        self._line.truncate()
        self._writer.writerow(cells)
        text = ("\ufeff" if bom else "") + self._line.getvalue()
        data = text.encode(self.encoding)
        self._size += len(data)
        if self._size > self.max_bytes:
            raise ValidationFailed(
                f"the file would pass {self.max_bytes} bytes; narrow the filter (tab, marketplace, from/to)",
                field="filter",
                rule="export_too_large",
                max_bytes=self.max_bytes,
            )
        self._chunks.append(data)

    def finish(self, unencodable: str = "replace") -> Download:
        """The file; with `unencodable=refuse`, a CP932 file with a replaced character is a 422
        (rule cp932_unencodable) listing the rows, the first REFUSAL_ROWS of them."""
        if self.replaced and unencodable == "refuse":
            n = len(self.replaced)
            raise Unprocessable(
                f"{n} {'row has' if n == 1 else 'rows have'} characters Shift_JIS (CP932) cannot "
                "hold; download UTF-8, or CP932 with unencodable=replace (written as 〓)",
                field="encoding",
                rule="cp932_unencodable",
                rows=n,
                replaced=[r.to_dict() for r in self.replaced[:REFUSAL_ROWS]],
            )
        return Download(b"".join(self._chunks), self.encoding, self.rows, tuple(self.replaced))


# ------------------------------------------------------------------ the order export
# The columns of the console's order list (console/js/screens/orders.js), as the API names them.
EXPORT_COLUMNS = (
    "order_id",
    "marketplace_order_no",
    "marketplace",
    "status",
    "shipment_stage",
    "placed_at",
    "recipient_name",
    "items",
    "mapping",
    "days_remaining",
    "deadline_at",
    "overdue",
    "tags",
)
MAX_EXPORT_ROWS = MAX_DATA_ROWS
# A Lambda answer holds 6 MiB, and a file goes in it base64-encoded (4 bytes for 3): 4 MiB of
# file is 5.33 MiB, the rest is room for the headers. A realistic row is about 180 bytes, so
# MAX_EXPORT_ROWS rows (1.8 MB, 2.4 MB base64) stay far below it (docs/orders.md "Export"); the
# byte bound holds for rows with the longest names the API accepts.
MAX_EXPORT_BYTES = 4 * 1024 * 1024


def _local(stamp: str | None, tz: ZoneInfo) -> str:
    """A stored UTC timestamp in the merchant's time zone, ISO 8601 with its offset."""
    if not stamp:
        return ""
    at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return at.astimezone(tz).isoformat(timespec="seconds")


def export_row(view: dict, tz: ZoneInfo) -> list[Any]:
    """The cells of one order (as GET /orders shows it) in EXPORT_COLUMNS order."""
    overdue = view.get("overdue")
    return [
        view["order_id"],
        view.get("marketplace_order_no"),
        view.get("marketplace"),
        view.get("status"),
        view.get("shipment_stage"),
        _local(view.get("placed_at"), tz),
        (view.get("recipient") or {}).get("name"),
        len(view.get("items") or []),
        view.get("mapping"),
        view.get("days_remaining"),
        _local(view.get("deadline_at"), tz),
        "" if overdue is None else str(bool(overdue)).lower(),
        "; ".join(view.get("tags") or []),
    ]
