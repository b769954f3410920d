"""The order export over HTTP through the local cloud (docs/orders.md "Export"): GET
/orders/export.csv with a tab's filter holds the orders GET /orders lists; in CP932 a recipient
CP932 cannot hold (𠮷田) is written with 〓 and the order reported in the headers, or refused with
a JSON 422 listing it. Real sockets."""

from __future__ import annotations

import csv
import io

import pytest

from tests.e2e.test_registration_e2e import call, order_body

pytestmark = pytest.mark.e2e


def header(resp, name: str) -> str | None:
    return next((v for k, v in (resp.headers or {}).items() if k.lower() == name.lower()), None)


def rows(data: bytes, encoding: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode(encoding), newline="")))


@pytest.fixture(scope="module")
def orders(api):
    made = {}
    for no, name in (("EXP-1", "𠮷田 太郎"), ("EXP-2", "山田 花子"), ("EXP-3", "佐藤 一郎")):
        resp = call(
            api, "POST", "/orders", order_body(no, recipient={**order_body()["recipient"], "name": name})
        )
        assert resp.status == 201, resp
        made[no] = resp.json
    resp = call(api, "POST", "/orders/confirm", {"order_ids": [made["EXP-3"]["order_id"]]})
    assert resp.status == 200 and resp.json["succeeded"] == 1, resp
    return made


def test_cp932_export_reports_the_order_it_cannot_hold_and_decodes_as_cp932(api, orders):
    resp = api.get("/orders/export.csv?status=new&encoding=cp932")
    assert resp.status == 200, resp
    assert header(resp, "Content-Type") == "text/csv; charset=shift_jis"
    assert header(resp, "Content-Disposition").startswith('attachment; filename="orders-new-')
    assert header(resp, "X-Orderhub-Replaced-Rows") == "1"
    assert header(resp, "X-Orderhub-Replaced-Orders") == orders["EXP-1"]["order_id"]
    got = {r["marketplace_order_no"]: r for r in rows(resp.body, "cp932")}
    assert set(got) == {"EXP-1", "EXP-2"}  # the `new` tab: EXP-3 was confirmed
    assert got["EXP-1"]["recipient_name"] == "〓田 太郎"
    assert got["EXP-2"]["recipient_name"] == "山田 花子"
    assert b"?" not in resp.body


def test_cp932_refused_lists_the_rows_as_json(api, orders):
    resp = api.get("/orders/export.csv?status=new&encoding=cp932&unencodable=refuse")
    assert resp.status == 422, resp
    err = resp.json["error"]
    assert (err["field"], err["rule"], err["rows"]) == ("encoding", "cp932_unencodable", 1)
    assert err["replaced"][0]["order_id"] == orders["EXP-1"]["order_id"]
    assert err["replaced"][0]["characters"] == ["U+20BB7"]


def test_utf8_export_of_a_tab_holds_what_the_list_shows(api, orders):
    for query in ("status=processing", "status=new&marketplace=rakuten", "q=EXP-2", ""):
        resp = api.get(f"/orders/export.csv?{query}")
        assert resp.status == 200, resp
        assert resp.body.startswith(b"\xef\xbb\xbf")
        assert header(resp, "X-Orderhub-Replaced-Rows") is None
        listed = api.get(f"/orders?{query}&page_size=200").json["orders"]
        exported = rows(resp.body, "utf-8-sig")
        assert [r["order_id"] for r in exported] == [o["order_id"] for o in listed], query
    [row] = rows(api.get("/orders/export.csv?q=EXP-1").body, "utf-8-sig")
    assert row["recipient_name"] == "𠮷田 太郎"


def test_a_bad_parameter_is_a_json_400_naming_it(api, orders):
    for query, field in (
        ("encoding=latin1", "encoding"),
        ("status=lost", "status"),
        ("page_size=25", "page_size"),
    ):
        resp = api.get(f"/orders/export.csv?{query}")
        assert resp.status == 400, resp
        assert resp.json["error"]["field"] == field
