"""The shipments screen in a real browser: an order sent to the warehouse shows under its stage's
tab with its packing number and the stage counts; the warehouse moves it on and the next tab
shows it; a search by packing number finds it; a row links to the order."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.e2e.test_shipments_e2e import sent_to_warehouse


def _row(page, number: str):
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=number, exact=True))


def test_a_shipment_under_its_stage_tab_with_counts(page, api, cloud):
    order = sent_to_warehouse(api)
    number, packing = order["marketplace_order_no"], order["packing_no"]

    sign_in(page, cloud, "demo", "#/shipments")
    main = page.get_by_role("main")
    expect(main.get_by_role("heading", name="Shipments", exact=True)).to_be_visible()
    tabs = main.get_by_role("tablist", name="Shipment stage")
    requested = tabs.get_by_role("tab", name=re.compile("^Requested"))
    expect(requested).to_have_attribute("aria-selected", "true")
    counts = api.get("/shipments").json["counts"]
    expect(requested.locator(".count")).to_have_text(str(counts["requested"]))
    row = _row(page, number)
    expect(row).to_contain_text(packing)
    expect(row).to_contain_text("山田 太郎")

    assert api.warehouse("POST", f"/warehouse/shipments/{packing}/stage", {"stage": "picking"}).status == 200
    tabs.get_by_role("tab", name=re.compile("^Picking")).click()
    expect(page).to_have_url(re.compile(r"stage=picking"))
    picking = tabs.get_by_role("tab", name=re.compile("^Picking"))
    expect(picking).to_have_attribute("aria-selected", "true")
    expect(picking.locator(".count")).to_have_text(str(counts["picking"] + 1))
    expect(requested.locator(".count")).to_have_text(str(counts["requested"] - 1))
    expect(_row(page, number)).to_contain_text(packing)

    page.get_by_label("Packing no. or order number").fill(packing)
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(rf"q={packing}"))
    expect(page.get_by_role("row")).to_have_count(2)  # the header and the one shipment
    _row(page, number).get_by_role("link", name=number).click()
    expect(page).to_have_url(re.compile(rf"#/orders/{order['order_id']}$"))


def test_the_shipments_tab_in_japanese_and_a_bad_date_named(page, api, cloud):
    sign_in(page, cloud, "demo", "#/shipments?stage=withdrawn&from=2026-13-01")
    main = page.get_by_role("main")
    expect(main.get_by_role("tab", name=re.compile("^Withdrawn"))).to_have_attribute("aria-selected", "true")
    expect(main.get_by_role("alert").first).to_contain_text("from")
    page.locator("#lang").select_option("ja")
    expect(page.get_by_role("navigation").get_by_role("link", name="出荷一覧")).to_be_visible()
    expect(main.get_by_role("heading", name="出荷一覧", exact=True)).to_be_visible()
    expect(main.get_by_role("tab", name=re.compile("^出荷取消"))).to_have_attribute("aria-selected", "true")
