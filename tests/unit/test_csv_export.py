"""CSV downloads without AWS (docs/orders.md "Export"): the order export's rows, UTF-8 with a BOM,
CP932 with the characters it cannot hold written as 〓 and reported (or refused), the JIS
spellings CP932 writes as its own, formula cells, quoting, and the bounds that keep a file under
Lambda's 6 MB answer."""

from __future__ import annotations

import base64
import csv
import io
from zoneinfo import ZoneInfo

import pytest

from orderhub.kernel.errors import Unprocessable, ValidationFailed
from orderhub.orders import csvio

TOKYO = ZoneInfo("Asia/Tokyo")
LAMBDA_ANSWER_BYTES = 6 * 1024 * 1024


def view(n: int = 1, **over) -> dict:
    """An order as GET /orders shows it (the fields the export reads), realistic sizes."""
    v = {
        "order_id": f"ord_01JD8Z3QK5S0000000000000{n:02d}"[-30:],
        "marketplace": "rakuten",
        "marketplace_order_no": f"378221-20261125-{n:010d}",
        "status": "new",
        "shipment_stage": "none",
        "placed_at": "2026-11-25T01:00:00.000Z",
        "deadline_at": "2026-11-30T14:59:59.999Z",
        "days_remaining": 4,
        "overdue": False,
        "recipient": {"name": "山田 太郎", "country": "JP"},
        "items": [{"sku": "TSHIRT-RED-M"}, {"sku": "MUG-01"}],
        "mapping": "ok",
        "tags": ["gift", "mall_reflect_error"],
    }
    v.update(over)
    return v


def write(views: list[dict], encoding: str = "utf-8", unencodable: str = "replace", **bounds):
    w = csvio.CsvWriter(
        csvio.EXPORT_COLUMNS,
        encoding,
        max_rows=bounds.get("max_rows", csvio.MAX_EXPORT_ROWS),
        max_bytes=bounds.get("max_bytes", csvio.MAX_EXPORT_BYTES),
    )
    for v in views:
        w.add(v["order_id"], csvio.export_row(v, TOKYO), v.get("marketplace_order_no"))
    return w.finish(unencodable)


def rows_of(out: csvio.Download) -> list[dict]:
    text = out.data.decode("utf-8-sig" if out.encoding == "utf-8" else "cp932")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_utf8_has_a_bom_the_console_columns_and_crlf_lines():
    out = write([view()])
    assert out.data.startswith(b"\xef\xbb\xbf" + b"order_id,marketplace_order_no,marketplace,status,")
    assert out.data.endswith(b"\r\n") and out.data.count(b"\r\n") == 2
    [row] = rows_of(out)
    assert row == {
        "order_id": view()["order_id"],
        "marketplace_order_no": "378221-20261125-0000000001",
        "marketplace": "rakuten",
        "status": "new",
        "shipment_stage": "none",
        "placed_at": "2026-11-25T10:00:00+09:00",  # the merchant's time zone, with its offset
        "recipient_name": "山田 太郎",
        "items": "2",
        "mapping": "ok",
        "days_remaining": "4",
        "deadline_at": "2026-11-30T23:59:59+09:00",
        "overdue": "false",
        "tags": "gift; mall_reflect_error",
    }
    assert out.headers() == {}  # nothing to report in UTF-8: it holds every character


def test_cp932_round_trips_japanese_text_and_reports_nothing():
    names = ["山田 太郎", "髙橋 ①号室", "ｶﾀｶﾅ ﾀﾛｳ", "渡邊 さくら～"]
    out = write([view(i, recipient={"name": n}) for i, n in enumerate(names)], "cp932")
    assert not out.data.startswith(b"\xef\xbb\xbf")
    assert [r["recipient_name"] for r in rows_of(out)] == names
    assert out.replaced == () and out.headers() == {"X-Orderhub-Replaced-Rows": "0"}


def test_characters_cp932_cannot_hold_become_geta_and_their_rows_are_reported():
    views = [
        view(1),
        view(2, recipient={"name": "𠮷田 花子"}),
        view(3, recipient={"name": "Ann 😀"}, tags=["🎁"]),
    ]
    out = write(views, "cp932")
    rows = rows_of(out)
    assert [r["recipient_name"] for r in rows] == ["山田 太郎", "〓田 花子", "Ann 〓"]
    assert rows[2]["tags"] == "〓"
    assert b"?" not in out.data
    assert [r.to_dict() for r in out.replaced] == [
        {
            "row": 3,
            "order_id": views[1]["order_id"],
            "marketplace_order_no": views[1]["marketplace_order_no"],
            "columns": ["recipient_name"],
            "characters": ["U+20BB7"],
        },
        {
            "row": 4,
            "order_id": views[2]["order_id"],
            "marketplace_order_no": views[2]["marketplace_order_no"],
            "columns": ["recipient_name", "tags"],
            "characters": ["U+1F600", "U+1F381"],
        },
    ]
    assert out.headers() == {
        "X-Orderhub-Replaced-Rows": "2",
        "X-Orderhub-Replaced-Orders": f"{views[1]['order_id']},{views[2]['order_id']}",
    }


def test_refuse_answers_422_listing_the_rows_instead_of_a_file():
    with pytest.raises(Unprocessable) as exc:
        write([view(1), view(2, recipient={"name": "𠮷田"})], "cp932", "refuse")
    err = exc.value.to_body()["error"]
    assert exc.value.status == 422
    assert (err["field"], err["rule"], err["rows"]) == ("encoding", "cp932_unencodable", 1)
    assert err["replaced"][0]["row"] == 3 and err["replaced"][0]["characters"] == ["U+20BB7"]
    # nothing to replace: refuse gives the file
    assert rows_of(write([view(1)], "cp932", "refuse"))[0]["recipient_name"] == "山田 太郎"


def test_report_headers_stay_ascii_and_bounded():
    views = [view(i, recipient={"name": f"{i} 😀" * 50}) for i in range(1, 31)]
    out = write(views, "cp932")
    headers = out.headers()
    assert headers["X-Orderhub-Replaced-Rows"] == "30"
    ids = headers["X-Orderhub-Replaced-Orders"].split(",")
    assert ids == [v["order_id"] for v in views[: csvio.HEADER_ORDERS]]
    for value in headers.values():
        assert value.isascii() and len(value) < 1000


@pytest.mark.parametrize(
    ("written", "cp932_bytes", "read_back"),
    [
        ("\u301c", b"\x81\x60", "\uff5e"),  # WAVE DASH: 0x8160, read back as FULLWIDTH TILDE
        ("\uff5e", b"\x81\x60", "\uff5e"),
        ("\u2212", b"\x81\x7c", "\uff0d"),  # MINUS SIGN
        ("\u2016", b"\x81\x61", "\u2225"),  # DOUBLE VERTICAL LINE
        ("\u2014", b"\x81\x5c", "\u2015"),  # EM DASH: Python's codec refuses it, Windows writes 0x815C
        ("\u00a5", b"\x81\x8f", "\uffe5"),  # YEN SIGN
    ],
)
def test_jis_spellings_are_written_as_cp932_writes_them_not_replaced(written, cp932_bytes, read_back):
    out = write([view(recipient={"name": f"A{written}B"})], "cp932")
    assert b"A" + cp932_bytes + b"B" in out.data
    assert rows_of(out)[0]["recipient_name"] == f"A{read_back}B"
    assert out.replaced == ()


def test_formula_cells_are_neutralized_in_every_column():
    evil = '=HYPERLINK("http://x")'
    out = write(
        [
            view(
                marketplace_order_no="+81-3",
                recipient={"name": evil},
                tags=["@SUM(A1)"],
                mapping="-1",
                status="=1+1",
                days_remaining=-2,
            )
        ],
        "cp932",
    )
    [row] = rows_of(out)
    assert row["recipient_name"] == "'" + evil
    assert row["marketplace_order_no"] == "'+81-3"
    assert row["tags"] == "'@SUM(A1)"
    assert row["mapping"] == "'-1"
    assert row["status"] == "'=1+1"
    assert row["days_remaining"] == "-2"  # a number orderhub writes stays a number


def test_a_name_with_comma_quote_and_newline_stays_one_cell():
    name = 'Smith, "Bob"\nApt 3'
    out = write([view(recipient={"name": name}), view(2)])
    rows = rows_of(out)
    assert [r["recipient_name"] for r in rows] == [name, "山田 太郎"]
    assert b'"Smith, ""Bob""\nApt 3"' in out.data


def test_more_rows_or_bytes_than_the_bounds_is_a_400_naming_the_rule():
    with pytest.raises(ValidationFailed) as exc:
        write([view(i) for i in range(4)], max_rows=3)
    assert (exc.value.field, exc.value.details["rule"], exc.value.details["max_rows"]) == (
        "filter",
        "export_too_large",
        3,
    )
    with pytest.raises(ValidationFailed) as exc:
        write([view(i) for i in range(10)], max_bytes=1000)
    assert exc.value.details["rule"] == "export_too_large" and exc.value.details["max_bytes"] == 1000
    assert len(write([view(i) for i in range(3)], max_rows=3).data) < 1000


def test_the_bounds_keep_the_answer_under_lambdas_6_mb():
    """A file travels base64-encoded in the Lambda answer (4 bytes for 3). The byte bound keeps
    any file under 6 MB; a realistic row (about 180 bytes in UTF-8) makes the row bound the one
    that applies: 10,000 rows are about 1.8 MB, 2.4 MB in the answer."""
    assert csvio.MAX_EXPORT_BYTES * 4 / 3 + 64 * 1024 < LAMBDA_ANSWER_BYTES
    realistic = write([view(i) for i in range(1, 101)])
    per_row = (len(realistic.data) - len(",".join(csvio.EXPORT_COLUMNS)) - 5) / 100
    assert 150 < per_row < 300, per_row
    full = len(base64.b64encode(b"x" * int(per_row * csvio.MAX_EXPORT_ROWS)))
    assert full < LAMBDA_ANSWER_BYTES / 2
    # The longest name the API accepts (300 characters), 4 bytes each: the byte bound stops it.
    longest = view(recipient={"name": "𠮷" * 300}, marketplace_order_no="9" * 100)
    with pytest.raises(ValidationFailed):
        write([longest] * csvio.MAX_EXPORT_ROWS)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ("utf-8", "replace")),
        ({"encoding": "UTF-8"}, ("utf-8", "replace")),
        ({"encoding": "shift_jis"}, ("cp932", "replace")),
        ({"encoding": "Windows-31J", "unencodable": "refuse"}, ("cp932", "refuse")),
    ],
)
def test_download_options(query, expected):
    qs = dict(query, status="new")
    assert csvio.take_download_options(qs) == expected
    assert qs == {"status": "new"}  # taken out: what is left is GET /orders' filter


@pytest.mark.parametrize(
    ("query", "field"), [({"encoding": "latin1"}, "encoding"), ({"unencodable": "skip"}, "unencodable")]
)
def test_bad_download_options_name_the_field(query, field):
    with pytest.raises(ValidationFailed) as exc:
        csvio.take_download_options(dict(query))
    assert exc.value.field == field
