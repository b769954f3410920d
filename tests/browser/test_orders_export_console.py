"""The orders screen's CSV download (console/js/screens/orders.js, seed 003 注文情報ダウンロード)
in Chromium against a local cloud: the file holds the current tab's orders; in Shift_JIS an
order whose recipient CP932 cannot hold (𠮷田) is listed before any file is written, and the
merchant downloads UTF-8 or Shift_JIS with 〓."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.e2e.test_registration_e2e import order_body

pytestmark = pytest.mark.slowest(16)


def register(api, no: str, name: str) -> dict:
    resp = api.call("POST", "/orders", order_body(no, recipient={**order_body()["recipient"], "name": name}))
    assert resp.status == 201, resp
    return resp.json


def downloaded(page, button, encoding: str) -> tuple[str, list[dict]]:
    with page.expect_download() as info:
        button.click()
    download = info.value
    data = Path(download.path()).read_bytes()
    return download.suggested_filename, list(csv.DictReader(io.StringIO(data.decode(encoding), newline="")))


def test_export_downloads_the_current_tabs_orders_and_lists_what_shift_jis_cannot_hold(page, api, cloud):
    kichi = register(api, "BX-1", "𠮷田 太郎")
    register(api, "BX-2", "山田 花子")
    confirmed = register(api, "BX-3", "佐藤 一郎")
    assert api.call("POST", "/orders/confirm", {"order_ids": [confirmed["order_id"]]}).status == 200
    new_tab = [o["order_id"] for o in api.get("/orders?status=new&page_size=200").json["orders"]]
    assert kichi["order_id"] in new_tab and confirmed["order_id"] not in new_tab

    sign_in(page, cloud, "demo", "#/orders?status=new")
    button = page.get_by_role("button", name="Download orders (CSV)")
    name, rows = downloaded(page, button, "utf-8-sig")
    assert re.fullmatch(r"orders-new-\d{8}-\d{6}\.csv", name)
    assert [r["order_id"] for r in rows] == new_tab
    assert {r["status"] for r in rows} == {"new"}
    assert next(r for r in rows if r["marketplace_order_no"] == "BX-1")["recipient_name"] == "𠮷田 太郎"

    # Shift_JIS: the order CP932 cannot hold is named first, UTF-8 is suggested
    page.get_by_label("Encoding").select_option("cp932")
    button.click()
    notice = page.get_by_test_id("export-unencodable")
    expect(notice).to_contain_text("1 order has characters Shift_JIS (CP932) cannot hold")
    expect(notice.get_by_role("link", name="#BX-1")).to_have_attribute(
        "href", f"#/orders/{kichi['order_id']}"
    )
    expect(notice).to_contain_text("recipient_name (U+20BB7)")
    name, rows = downloaded(
        page, notice.get_by_role("button", name=re.compile("Download Shift_JIS")), "cp932"
    )
    assert re.fullmatch(r"orders-new-\d{8}-\d{6}-sjis\.csv", name)
    by_no = {r["marketplace_order_no"]: r for r in rows}
    assert by_no["BX-1"]["recipient_name"] == "〓田 太郎" and by_no["BX-2"]["recipient_name"] == "山田 花子"
    assert [r["order_id"] for r in rows] == new_tab

    # the processing tab downloads its own orders
    page.get_by_role("tab", name=re.compile(r"^Processing")).click()
    expect(page).to_have_url(re.compile(r"#/orders\?status=processing"))
    processing = [o["order_id"] for o in api.get("/orders?status=processing&page_size=200").json["orders"]]
    _, rows = downloaded(page, page.get_by_role("button", name="Download orders (CSV)"), "utf-8-sig")
    assert [r["order_id"] for r in rows] == processing and confirmed["order_id"] in processing
