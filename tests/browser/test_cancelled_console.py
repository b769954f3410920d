"""The cancelled-orders screen in a real browser: a deleted Shopify order listed with its reason
count, relinked from the console after the seed's warning (a new packing number), the relink
sweep run, and the result after a reload; a deleted manual order restored with its warning."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in
from tests.e2e.test_registration_e2e import order_body
from tests.support.cloud_fixtures import post_shopify_order

pytestmark = pytest.mark.slowest(20)


def _row(page, number: str):
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=number, exact=True))


def _registered(api, number: str) -> dict:
    body = order_body(number)
    resp = api.call("POST", "/orders", body)
    assert resp.status == 201, resp
    return resp.json


def test_relink_a_deleted_marketplace_order_from_the_console(page, api, cloud, fake):
    order, payload = post_shopify_order(api, cloud, 7301, minutes_ago=5)
    fake.put_order("shopify", payload)  # the marketplace still has the order, unchanged
    assert api.call("DELETE", f"/orders/{order['order_id']}").status == 200
    number = order["marketplace_order_no"]

    sign_in(page, cloud, "demo", "#/cancelled")
    main = page.get_by_role("main")
    expect(main.get_by_role("heading", name="Cancelled and deleted orders")).to_be_visible()
    counts = main.get_by_role("group", name="Counts by reason")
    api_count = counts.get_by_role("button", name=re.compile(r"^Deleted by you \(marketplace API order\)"))
    expect(api_count).to_contain_text(str(api.get("/cancelled-orders").json["counts"]["seller_deleted_api"]))
    api_count.click()  # filter by the reason
    expect(page).to_have_url(re.compile(r"reason=seller_deleted_api"))
    expect(api_count).to_have_attribute("aria-pressed", "true")
    row = _row(page, number)
    expect(row).to_contain_text("Relinkable")
    expect(row).to_contain_text(order["packing_no"])
    expect(row.get_by_role("button", name=re.compile("^Restore"))).to_have_count(0)  # only the row's actions

    row.get_by_role("button", name=re.compile("^Relink")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("A new packing number (packing no.) is issued")
    expect(dialog).to_contain_text(order["packing_no"])
    expect(dialog).to_contain_text("within 14 days of the deletion")
    dialog.get_by_role("button", name="Relink").click()
    expect(row).to_contain_text("Relinking")
    expect(row.get_by_role("button", name=re.compile("^Relink"))).to_have_count(0)
    screenshot(page, "cancelled")

    assert cloud.run_schedule("RelinkSweepFunction")
    page.reload()
    row = _row(page, number)
    expect(row).to_contain_text("Relinked")
    row.get_by_role("button", name="Show the new order").click()
    new_link = row.get_by_role("link", name=re.compile("^New order: "))
    expect(new_link).to_be_visible()
    assert order["packing_no"] not in new_link.inner_text()


def test_restore_a_deleted_manual_order_with_its_warning(page, api, cloud):
    order = _registered(api, "BR-RESTORE-1")
    assert api.call("DELETE", f"/orders/{order['order_id']}").status == 200

    sign_in(page, cloud, "demo", "#/cancelled?state=restorable")
    expect(page.get_by_label("Relink / restore state")).to_have_value("restorable")
    row = _row(page, "BR-RESTORE-1")
    expect(row).to_contain_text("Restorable")
    expect(row).to_contain_text("Deleted by you (CSV / manual order)")
    row.get_by_role("button", name=re.compile("^Restore")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"The original packing number {order['packing_no']} is kept")
    expect(dialog).to_contain_text("an active order has the same marketplace order number")
    dialog.get_by_role("button", name="Restore").click()
    expect(page.get_by_role("status")).to_contain_text("Order BR-RESTORE-1 restored")
    expect(_row(page, "BR-RESTORE-1")).to_have_count(0)  # it left the view
    back = api.get(f"/orders/{order['order_id']}").json
    assert (back["status"], back["packing_no"]) == ("new", order["packing_no"])


def test_a_refused_restore_shows_the_rule(page, api, cloud):
    first = _registered(api, "BR-DUP-1")
    assert api.call("DELETE", f"/orders/{first['order_id']}").status == 200
    _registered(api, "BR-DUP-1")  # the number is active again: a restore is refused (duplicate)

    sign_in(page, cloud, "demo", "#/cancelled?reason=seller_deleted_manual")
    row = _row(page, "BR-DUP-1")
    row.get_by_role("button", name=re.compile("^Restore")).click()
    page.get_by_role("dialog").get_by_role("button", name="Restore").click()
    alert = page.get_by_role("main").locator(".error-box")
    expect(alert).to_contain_text("Rule: duplicate")
    expect(alert).to_contain_text("Allowed now: Restore")
    # the answer's correlation id, to quote to an operator (X-Correlation-Id, exposed by CORS)
    expect(alert.locator(".correlation code")).to_have_text(
        re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    )
    expect(_row(page, "BR-DUP-1")).to_contain_text("Restore failed")
    expect(_row(page, "BR-DUP-1")).to_contain_text("An active order has the same order number")


def test_a_deleted_order_is_found_by_part_of_its_number_and_the_counts_follow_the_search(page, api, cloud):
    for number in ("BR-OTHER-1", "BR-FIND-2026-1", "BR-FIND-2026-2"):  # one the search leaves out
        order = _registered(api, number)
        assert api.call("DELETE", f"/orders/{order['order_id']}").status == 200
    total = sum(api.get("/cancelled-orders").json["counts"].values())
    assert total > 2  # whatever the other tests of this module left

    sign_in(page, cloud, "demo", "#/cancelled")
    counts = page.get_by_role("group", name="Counts by reason")
    expect(counts.locator('[data-reason="all"] .count')).to_have_text(str(total))
    page.get_by_label("Order number or recipient").fill("FIND-2026")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tbody tr")).to_have_count(2)
    expect(_row(page, "BR-FIND-2026-1")).to_be_visible()
    expect(_row(page, "BR-FIND-2026-1")).to_contain_text(order["recipient"]["name"])
    expect(counts.locator('[data-reason="all"] .count')).to_have_text("2")  # the search's, not all-time
    expect(counts.locator('[data-reason="seller_deleted_manual"] .count')).to_have_text("2")
    assert "q=FIND-2026" in page.url  # kept in the address
