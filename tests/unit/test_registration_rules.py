"""Registration rules without AWS: the JSON body, CSV decoding, header, grouping and per-row
validation (docs/registration.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from orderhub.kernel.errors import PayloadTooLarge, ValidationFailed
from orderhub.orders import csv_import, csvio, registration
from tests.support.http import ROOT

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
TOKYO = ZoneInfo("Asia/Tokyo")
SAMPLES = ROOT / "events" / "csv"
HEADER = ",".join(csvio.COLUMNS)


def body(**over) -> dict:
    b = {
        "marketplace": "rakuten",
        "marketplace_order_no": "R-1",
        "placed_at": "2026-11-25T10:00:00+09:00",
        "payment": {"method": "card", "paid_at": "2026-11-25T10:01:00+09:00"},
        "currency": "JPY",
        "items": [{"sku": "SKU-1", "title": "Tシャツ", "quantity": 2, "price": "1980"}],
        "recipient": {
            "name": "山田 太郎",
            "address1": "神南1-2-3",
            "city": "渋谷区",
            "postal_code": "150-0041",
            "country": "JP",
        },
    }
    b.update(over)
    return b


def field_error(fn, *args) -> tuple[str, str]:
    with pytest.raises(ValidationFailed) as info:
        fn(*args)
    return info.value.field, info.value.message


def row(**cells) -> str:
    base = {
        "marketplace": "rakuten",
        "marketplace_order_no": "R-1",
        "placed_at": "2026/11/20 10:00",
        "payment_method": "card",
        "sku": "SKU-1",
        "title": "Tシャツ",
        "quantity": "1",
        "price": "1980",
        "recipient_name": "山田 太郎",
        "address1": "神南1-2-3",
        "city": "渋谷区",
        "postal_code": "150-0041",
        "country": "JP",
    }
    base.update(cells)
    return ",".join(base.get(c, "") for c in csvio.COLUMNS)


def csv_bytes(*rows: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join([header, *rows]) + "\r\n").encode(encoding)


def validate(data: bytes):
    upload = csvio.parse_upload(data, "text/csv")
    groups, orphans = csvio.group(upload.rows, upload.columns)
    results = {}
    regs = {}
    for g in groups:
        reg, errors = csv_import.validate_group(g, upload.columns, NOW, TOKYO)
        results.update(errors)
        if reg:
            regs[g.order_no] = reg
    for o in orphans:
        results[o["n"]] = csv_import.orphan_error(o, upload.columns)
    return regs, results


# ------------------------------------------------------------------ JSON body
class TestManualBody:
    def test_valid_body_is_normalized(self):
        reg = registration.parse_body(
            body(marketplace=" Rakuten ", marketplace_order_no=" R-1 ", tags=["vip", "vip", "gift"]), NOW
        )
        assert reg.marketplace == "rakuten"
        assert reg.marketplace_order_no == "R-1"
        assert reg.placed_at == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
        assert reg.payment.method == "card"
        assert reg.tags == ("gift", "vip")
        assert reg.items[0].quantity == 2

    def test_defaults(self):
        b = body()
        del b["placed_at"], b["payment"], b["currency"]
        reg = registration.parse_body(b, NOW)
        assert reg.placed_at == NOW
        assert reg.payment.method == "other"
        assert reg.payment.paid_at is None
        assert reg.currency == ""

    @pytest.mark.parametrize(
        ("over", "path", "text"),
        [
            ({"origin": "api"}, "origin", "unknown field"),
            ({"marketplace": None}, "marketplace", "is required"),
            ({"marketplace": "Shop ify"}, "marketplace", "slug"),
            ({"marketplace_order_no": ""}, "marketplace_order_no", "is required"),
            ({"marketplace_order_no": 1001}, "marketplace_order_no", "must be text"),
            ({"placed_at": "2026-11-25T10:00:00"}, "placed_at", "offset"),
            ({"placed_at": "2026-11-26T10:00:00+09:00"}, "placed_at", "future"),
            ({"payment": {"method": "cash"}}, "payment.method", "must be one of card, cod"),
            ({"payment": {"method": "card", "gateway": "x"}}, "payment.gateway", "unknown field"),
            ({"payment": {"paid_at": "yesterday"}}, "payment.paid_at", "timestamp"),
            ({"currency": "12"}, "currency", "three-letter"),
            ({"items": []}, "items", "at least one"),
            ({"items": "SKU-1"}, "items", "at least one"),
            ({"items": [{"sku": "A", "quantity": 0, "price": "1"}]}, "items[0].quantity", "at least 1"),
            ({"items": [{"sku": "A", "quantity": 1.5, "price": "1"}]}, "items[0].quantity", "whole number"),
            ({"items": [{"sku": "A", "quantity": True, "price": "1"}]}, "items[0].quantity", "number"),
            ({"items": [{"sku": "A", "quantity": 1}]}, "items[0].price", "is required"),
            ({"items": [{"sku": "A", "quantity": 1, "price": "-1"}]}, "items[0].price", "at least 0"),
            ({"items": [{"sku": "A", "quantity": 1, "price": "1,200"}]}, "items[0].price", "number"),
            ({"items": [{"sku": "", "quantity": 1, "price": "1"}]}, "items[0].sku", "is required"),
            ({"items": [{"sku": "A", "quantity": 1, "price": "1", "qty": 1}]}, "items[0].qty", "unknown"),
            ({"recipient": None}, "recipient", "is required"),
            ({"recipient": {"name": "x"}}, "recipient.address1", "is required"),
            ({"tags": ["mall_reflect_error"]}, "tags[0]", "orderhub only"),
            ({"tags": ["x" * 51]}, "tags[0]", "at most 50"),
            ({"tags": "vip"}, "tags", "list"),
        ],
    )
    def test_field_errors_name_the_path(self, over, path, text):
        field, message = field_error(registration.parse_body, body(**over), NOW)
        assert field == path
        assert text in message

    def test_recipient_field_paths(self):
        recipient = body()["recipient"]
        cases = [
            ({**recipient, "country": "JPN"}, "recipient.country"),
            ({**recipient, "country": "日本"}, "recipient.country"),
            ({**recipient, "email": "not-an-address"}, "recipient.email"),
            ({**recipient, "zip": "1"}, "recipient.zip"),
            ({**recipient, "name": "x" * 301}, "recipient.name"),
        ]
        for value, path in cases:
            assert field_error(registration.parse_body, body(recipient=value), NOW)[0] == path

    def test_second_item_error_names_its_index(self):
        items = [{"sku": "A", "quantity": 1, "price": "1"}, {"sku": "B", "quantity": 1, "price": "x"}]
        assert field_error(registration.parse_body, body(items=items), NOW)[0] == "items[1].price"

    def test_at_most_500_items(self):
        items = [{"sku": f"S{n}", "quantity": 1, "price": "1"} for n in range(501)]
        assert field_error(registration.parse_body, body(items=items), NOW) == (
            "items",
            "items: at most 500 items per order",
        )
        assert len(registration.parse_body(body(items=items[:500]), NOW).items) == 500

    def test_json_float_price_keeps_its_digits(self):
        reg = registration.parse_body(body(items=[{"sku": "A", "quantity": 1, "price": 12.1}]), NOW)
        assert str(reg.items[0].price) == "12.1"

    def test_body_must_be_an_object(self):
        assert field_error(registration.parse_body, ["x"], NOW)[0] == ""


class TestBuildOrder:
    def test_registered_order_shape(self):
        reg = registration.parse_body(
            body(
                items=[
                    {"sku": "A", "quantity": 1, "price": "1E+3"},
                    {"sku": "B", "quantity": 2, "price": "5", "item_code": "OWN-B"},
                ]
            ),
            NOW,
        )
        order = registration.build_order(
            "demo",
            reg,
            origin="manual",
            now=NOW,
            order_id="ord_1",
            packing_no="PK1",
            codes={"A": "MAP-A", "B": "MAP-B"},
        )
        assert order["status"] == "new"
        assert order["shipment_stage"] == "none"
        assert order["released_at"] == "2026-11-25T03:00:00.000Z"
        assert order["origin"] == "manual"
        assert [i["item_code"] for i in order["items"]] == ["MAP-A", "OWN-B"]  # the body's code wins
        assert order["items"][0]["price"] == "1000"
        assert order["mapping"] == "ok"
        order2 = registration.build_order(
            "demo", reg, origin="csv", now=NOW, order_id="ord_2", packing_no="PK2", codes={}
        )
        assert order2["mapping"] == "fail"


# ------------------------------------------------------------------ CSV file level
class TestDecode:
    def test_utf8_without_bom(self):
        assert csvio.decode("a,東京".encode()) == ("a,東京", "utf-8")

    def test_utf8_with_bom(self):
        text, enc = csvio.decode(b"\xef\xbb\xbf" + "a,東京".encode())
        assert (text, enc) == ("a,東京", "utf-8")

    def test_cp932(self):
        assert csvio.decode("a,東京,①".encode("cp932")) == ("a,東京,①", "cp932")

    def test_neither(self):
        field, message = field_error(csvio.decode, b"sku,\x81\x20x")
        assert field == "file"
        assert "encoding" in message

    def test_bom_header_is_read(self):
        upload = csvio.parse_upload(b"\xef\xbb\xbf" + csv_bytes(row()), "text/csv")
        assert upload.columns[0] == "marketplace"
        assert upload.encoding == "utf-8"

    def test_samples(self):
        utf8 = csvio.parse_upload((SAMPLES / "orders_utf8.csv").read_bytes(), "text/csv")
        cp932 = csvio.parse_upload((SAMPLES / "orders_cp932.csv").read_bytes(), "application/octet-stream")
        assert (utf8.encoding, len(utf8.rows)) == ("utf-8", 3)
        assert (cp932.encoding, len(cp932.rows)) == ("cp932", 7)
        assert csvio.cells(cp932.rows[0], cp932.columns)["recipient_name"] == "山田 太郎"


class TestUploadForms:
    def multipart(self, name: str, payload: bytes, boundary: str = "XyZ123") -> tuple[bytes, str]:
        data = (
            (
                f"--{boundary}\r\n"
                'Content-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
                f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="{name}"; filename="orders.csv"\r\n'
                "Content-Type: text/csv\r\n\r\n"
            ).encode()
            + payload
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return data, f"multipart/form-data; boundary={boundary}"

    def test_multipart_file_part_cp932(self):
        payload = (SAMPLES / "orders_cp932.csv").read_bytes()
        data, ctype = self.multipart("file", payload)
        raw, name = csvio.extract_file(data, ctype)
        assert raw == payload
        assert name == "orders.csv"
        upload = csvio.parse_upload(data, ctype)
        assert (upload.encoding, len(upload.rows), upload.file_name) == ("cp932", 7, "orders.csv")

    def test_multipart_without_file_part(self):
        data, ctype = self.multipart("upload", csv_bytes(row()))
        assert field_error(csvio.parse_upload, data, ctype)[0] == "file"

    def test_multipart_without_boundary(self):
        assert field_error(csvio.parse_upload, b"abc", "multipart/form-data")[0] == "file"

    def test_other_content_type(self):
        assert field_error(csvio.parse_upload, csv_bytes(row()), "application/json")[0] == "content-type"

    def test_too_large(self):
        with pytest.raises(PayloadTooLarge):
            csvio.parse_upload(b"x" * (csvio.MAX_UPLOAD_BYTES + 1), "text/csv")


class TestHeader:
    def test_missing_required_column_is_named(self):
        header = ",".join(c for c in csvio.COLUMNS if c != "quantity")
        field, message = field_error(csvio.parse_upload, csv_bytes("x", header=header), "text/csv")
        assert field == "columns"
        assert "quantity" in message

    def test_several_missing_columns(self):
        with pytest.raises(ValidationFailed) as info:
            csvio.parse_upload(b"marketplace,marketplace_order_no,sku\r\nrakuten,1,A\r\n", "text/csv")
        assert info.value.details["missing"] == [
            "quantity",
            "price",
            "recipient_name",
            "address1",
            "city",
            "postal_code",
            "country",
        ]

    def test_unknown_and_repeated_columns(self):
        field, message = field_error(csvio.parse_upload, csv_bytes(header=HEADER + ",colour"), "text/csv")
        assert (field, "colour" in message) == ("columns", True)
        field, message = field_error(csvio.parse_upload, csv_bytes(header=HEADER + ",sku"), "text/csv")
        assert (field, "twice" in message) == ("columns", True)

    def test_header_names_are_trimmed_and_case_insensitive(self):
        header = ",".join(f" {c.upper()} " for c in csvio.COLUMNS)
        assert csvio.parse_upload(csv_bytes(row(), header=header), "text/csv").columns == list(csvio.COLUMNS)

    def test_columns_in_any_order_and_optional_ones_left_out(self):
        header = ",".join(reversed(csvio.REQUIRED_COLUMNS))
        line = "JP,150-0041,渋谷区,神南1,山田,1980,1,SKU-1,R-9,rakuten"
        regs, results = validate(csv_bytes(line, header=header))
        assert results == {}
        assert regs["R-9"].items[0].sku == "SKU-1"
        assert regs["R-9"].payment.method == "other"

    @pytest.mark.parametrize("data", [b"", b"\r\n", b"\xef\xbb\xbf", HEADER.encode(), csv_bytes("", ",,,")])
    def test_empty_or_header_only(self, data):
        assert field_error(csvio.parse_upload, data, "text/csv")[0] in ("file", "columns")

    def test_header_only_is_file_error(self):
        assert field_error(csvio.parse_upload, csv_bytes(), "text/csv") == (
            "file",
            "the file has a header but no data rows",
        )

    def test_10001_rows_refused_10000_accepted(self):
        line = row()
        assert len(csvio.parse_upload(csv_bytes(*[line] * 10_000), "text/csv").rows) == 10_000
        field, message = field_error(csvio.parse_upload, csv_bytes(*[line] * 10_001), "text/csv")
        assert field == "file"
        assert "10000" in message

    def test_broken_quoting_names_the_row(self):
        data = csv_bytes(row(), row(title='"unclosed'))
        with pytest.raises(ValidationFailed) as info:
            csvio.parse_upload(data, "text/csv")
        assert info.value.field == "file"
        assert info.value.details["row"] == 3


# ------------------------------------------------------------------ rows and groups
class TestRows:
    def test_row_numbers_count_the_header_and_blank_rows(self):
        upload = csvio.parse_upload(csv_bytes(row(), "", row(marketplace_order_no="R-2")), "text/csv")
        assert [r["n"] for r in upload.rows] == [2, 4]

    def test_quoted_cells_with_commas_quotes_and_newlines(self):
        line = row(title='"Tシャツ, ""赤""\r\n2枚目"')
        regs, results = validate(csv_bytes(line, row(marketplace_order_no="R-2")))
        assert results == {}
        assert regs["R-1"].items[0].title == 'Tシャツ, "赤"\r\n2枚目'
        upload = csvio.parse_upload(csv_bytes(line, row(marketplace_order_no="R-2")), "text/csv")
        assert [r["n"] for r in upload.rows] == [2, 3]  # a record, not a physical line

    def test_groups_consecutive_or_not(self):
        data = csv_bytes(
            row(sku="A"),
            row(marketplace_order_no="R-2", sku="B"),
            row(sku="C", placed_at="", payment_method="", recipient_name="", address1="", city=""),
            row(marketplace="RAKUTEN", sku="D"),
        )
        upload = csvio.parse_upload(data, "text/csv")
        groups, orphans = csvio.group(upload.rows, upload.columns)
        assert [(g.order_no, [r["n"] for r in g.rows]) for g in groups] == [("R-1", [2, 4, 5]), ("R-2", [3])]
        assert orphans == []
        regs, results = validate(data)
        assert results == {}
        assert [i.sku for i in regs["R-1"].items] == ["A", "C", "D"]

    def test_order_fields_come_from_the_first_row(self):
        data = csv_bytes(row(sku="A"), row(sku="B", recipient_name="別人"))
        regs, results = validate(data)
        assert results[3]["field"] == "recipient_name"
        assert "differs from row 2" in results[3]["message"]
        assert results[2]["code"] == "order_rejected"
        assert results[2]["rows"] == [3]

    def test_repeating_the_same_order_fields_is_fine(self):
        regs, results = validate(csv_bytes(row(sku="A"), row(sku="B")))
        assert results == {}
        assert len(regs["R-1"].items) == 2

    @pytest.mark.parametrize(
        ("cells", "column", "text"),
        [
            ({"quantity": "0"}, "quantity", "must be at least 1"),
            ({"quantity": ""}, "quantity", "is required"),
            ({"quantity": "two"}, "quantity", "whole number"),
            ({"price": '"1,980"'}, "price", "must be a number"),
            ({"price": "-5"}, "price", "must be at least 0"),
            ({"sku": ""}, "sku", "is required"),
            ({"country": "JPN"}, "country", "two-letter"),
            ({"postal_code": ""}, "postal_code", "is required"),
            ({"recipient_name": ""}, "recipient_name", "is required"),
            ({"payment_method": "cash"}, "payment_method", "must be one of"),
            ({"paid_at": "someday"}, "paid_at", "local date-time"),
            ({"placed_at": "2030/01/01 00:00"}, "placed_at", "future"),
            ({"currency": "円"}, "currency", "three-letter"),
            ({"email": "x"}, "email", "email"),
            ({"marketplace": "楽天"}, "marketplace", "slug"),
            ({"title": "長" * 1001}, "title", "1001 characters"),
        ],
    )
    def test_row_errors_name_the_column(self, cells, column, text):
        regs, results = validate(csv_bytes(row(marketplace_order_no="OK-1"), row(**cells)))
        assert "OK-1" in regs
        assert results[3]["field"] == column
        assert text in results[3]["message"]
        assert results[3]["code"] == "validation_failed"

    def test_bad_row_fails_its_whole_order_only(self):
        data = csv_bytes(
            row(sku="A"),
            row(marketplace_order_no="R-2"),
            row(sku="B", quantity="0"),
            row(marketplace_order_no="R-3"),
        )
        regs, results = validate(data)
        assert sorted(regs) == ["R-2", "R-3"]
        assert results[4] == {
            "code": "validation_failed",
            "field": "quantity",
            "message": "must be at least 1",
        }
        assert results[2]["code"] == "order_rejected"
        assert "row 4" in results[2]["message"]

    def test_rows_without_order_number_fail_alone(self):
        regs, results = validate(csv_bytes(row(marketplace_order_no=""), row(marketplace=""), row()))
        assert results[2] == {
            "code": "validation_failed",
            "field": "marketplace_order_no",
            "message": "is required",
        }
        assert results[3]["field"] == "marketplace"
        assert list(regs) == ["R-1"]

    def test_extra_cells_fail_the_row_missing_trailing_cells_are_empty(self):
        short = row(marketplace_order_no="R-2").rsplit(",", 2)[0]  # phone and email cut off
        regs, results = validate(csv_bytes(row() + ",surplus", short))
        assert results[2]["field"] == "columns"
        assert "R-2" in regs

    def test_local_times_use_the_merchant_zone(self):
        for text in ("2026/11/20 10:00", "2026-11-20 10:00:00", "2026/11/20", "2026-11-20T10:00+09:00"):
            regs, results = validate(csv_bytes(row(placed_at=text)))
            assert results == {}, text
            assert regs["R-1"].placed_at.astimezone(TOKYO).date().isoformat() == "2026-11-20"

    def test_more_than_500_rows_in_one_order(self):
        regs, results = validate(csv_bytes(*[row(sku=f"S{n}") for n in range(501)]))
        assert regs == {}
        assert len(results) == 501
        assert all(r["field"] == "marketplace_order_no" for r in results.values())

    def test_cp932_sample_results(self):
        regs, results = validate((SAMPLES / "orders_cp932.csv").read_bytes())
        assert sorted(regs) == ["R-1001", "R-1003"]
        assert [i.sku for i in regs["R-1001"].items] == ["TS-RED-M", "MUG-01"]
        assert {n: (r["field"], r["code"]) for n, r in results.items()} == {
            4: ("quantity", "validation_failed"),
            6: ("country", "validation_failed"),
            7: ("marketplace_order_no", "order_rejected"),
            8: ("marketplace", "validation_failed"),
        }
        assert results[4]["message"] == "must be at least 1"


class TestJobInput:
    def test_pack_keeps_every_stored_chunk_small(self):
        rows = [{"n": n, "c": ["長" * 900] * 4} for n in range(2, 1502)]
        elements = csvio.pack(rows)
        assert csvio.unpack(elements) == rows
        for start in range(0, len(elements), csvio.JOB_WINDOW):
            chunk = elements[start : start + csvio.JOB_WINDOW]
            assert len(json.dumps(chunk, ensure_ascii=False).encode()) < 400_000

    def test_pack_adds_nothing_to_small_rows(self):
        rows = [{"n": n, "c": ["a"]} for n in range(1200)]
        assert csvio.pack(rows) == rows

    def test_too_long_cells_are_not_stored(self):
        upload = csvio.parse_upload(csv_bytes(row(title="x" * 5000)), "text/csv")
        assert upload.rows[0]["c"][csvio.COLUMNS.index("title")] == ""
        assert csvio.too_long(upload.rows[0], upload.columns) == ("title", 5000)


def test_future_skew_allows_a_fast_merchant_clock():
    soon = (NOW + timedelta(minutes=4)).isoformat()
    assert registration.parse_body(body(placed_at=soon), NOW).placed_at > NOW
