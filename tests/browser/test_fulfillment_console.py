"""The Fulfillment screen (#/fulfillment, seed 004's 未処理の注文): the unfulfilled orders with the
days left and the deadline badge, fulfilling one and many with the live tracking number check and
the API's field errors, the CSV round trip with its job and history, and modifying the tracking
of a shipped order. Orders arrive as signed Shopify webhooks (paid, placed two hours ago: past
the payment hold, so released at once); one is made due within 24 h (fulfillment_days 1) and one
overdue (the hourly deadline check fired as if two days had passed)."""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from orderhub.kernel import clock
from tests.browser.conftest import screenshot, sign_in
from tests.support.cloud_fixtures import post_shopify_order

pytestmark = pytest.mark.slowest(35)

_numbers = itertools.count(5101)


def released(api, cloud, ago: timedelta = timedelta(0)) -> dict:
    """A paid Shopify order placed two hours ago, released (new, with a deadline), also known to
    the fake marketplace so that the fulfillment is reflected there at once. With `ago`, all of
    that happened that long ago (the caller has frozen orderhub's clock there)."""
    minutes = 120 + int(ago.total_seconds() // 60)
    order, payload = post_shopify_order(api, cloud, next(_numbers), minutes, financial_status="paid")
    if order["status"] == "pending":  # still in its payment hold: the sweep releases it
        clock.freeze(datetime.now(UTC) - ago + timedelta(hours=2))
        try:
            cloud.fire("HoldSweepFunction")
        finally:
            clock.freeze(None)
        cloud.drain(timeout=10)
        order = api.get(f"/orders/{order['order_id']}").json
    assert order["status"] == "new" and order["deadline_at"], order
    cloud.fake_marketplace.put_order("shopify", payload)
    return order


def fulfillment_days(api, days: int) -> None:
    resp = api.call("PUT", "/integrations/shopify", {"fulfillment_days": days})
    assert resp.status == 200, resp


@pytest.fixture(scope="module")
def orders(api, cloud) -> dict:
    fulfillment_days(api, 1)
    try:
        # released two days ago with one day to ship it: a day late now, flagged by the deadline check
        two_days = timedelta(days=2)
        clock.freeze(datetime.now(UTC) - two_days)
        try:
            overdue = released(api, cloud, ago=two_days)
        finally:
            clock.freeze(None)
        result = cloud.fire("DeadlineCheckFunction")
        cloud.drain(timeout=10)
        assert result["overdue"] == 1, result
        due = released(api, cloud)  # due 24 h from now
    finally:
        fulfillment_days(api, 5)
    made = {
        "overdue": overdue,
        "due": due,
        "one": released(api, cloud),
        "many": [released(api, cloud), released(api, cloud)],
        "csv": [released(api, cloud), released(api, cloud)],
        "shipped": released(api, cloud),
    }
    shipped = api.call(
        "POST",
        f"/orders/{made['shipped']['order_id']}/fulfill",
        {"carrier": "yamato", "tracking_number": "222233334444"},
    )
    assert shipped.status == 200, shipped
    made["shipped"] = shipped.json
    return made


def no(order: dict) -> str:
    return order["marketplace_order_no"]


def field_of(scope, page, label: str):
    """The labelled control's field (label, control, hint, live check and error slot)."""
    return scope.locator(".field").filter(has=page.get_by_label(label, exact=True))


def row_of(page, order: dict):
    return page.locator("tbody tr", has=page.get_by_role("link", name=no(order), exact=True))


def test_unfulfilled_list_shows_days_remaining_and_the_due_badge(page, cloud, orders):
    sign_in(page, cloud, "demo", "#/fulfillment")
    expect(page.get_by_role("heading", name="Fulfillment", level=1)).to_be_visible()
    expect(page.get_by_role("tab", name="Unfulfilled orders")).to_have_attribute("aria-selected", "true")

    overdue, due, calm = (
        row_of(page, orders["overdue"]),
        row_of(page, orders["due"]),
        row_of(page, orders["one"]),
    )
    expect(overdue).to_contain_text("Overdue")
    expect(overdue).to_contain_text("1 day late")  # one day, not "1 days"
    expect(overdue).to_have_class(re.compile(r"\bdue\b"))
    expect(due).to_contain_text("Due within 24 h")
    expect(due).to_have_class(re.compile(r"\bdue\b"))
    expect(calm).to_contain_text(re.compile(r"[45] days left"))
    expect(calm).not_to_have_class(re.compile(r"\bdue\b"))
    # the most urgent first
    first = page.locator("tbody tr").first
    expect(first).to_contain_text(no(orders["overdue"]))

    # the shell's badge: one overdue + one due within 24 hours
    badge = page.get_by_test_id("due-badge")
    expect(badge).to_have_text("2")
    expect(badge).to_have_attribute("aria-label", re.compile("2 orders due within 24 hours or overdue"))
    screenshot(page, "fulfillment")


def test_fulfill_one_checks_the_number_as_typed_and_the_api_decides(page, cloud, api, orders):
    order = orders["one"]
    sign_in(page, cloud, "demo", "#/fulfillment")
    page.get_by_role("button", name=f"Fulfill order {no(order)}").click()
    form = page.get_by_role("region", name=f"Fulfill order {no(order)}")
    form.get_by_label("Carrier").select_option(label="Yamato Transport")
    expect(form.get_by_text("Format: 12 digits")).to_be_visible()

    number = form.get_by_label("Tracking number")
    number.press_sequentially("12-34")
    check = form.get_by_test_id("tracking-check")
    expect(check).to_have_text("Does not match 12 digits")
    submit = form.get_by_role("button", name="Mark as shipped")
    expect(submit).to_be_enabled()  # the API decides
    submit.click()
    expect(field_of(form, page, "Tracking number").get_by_role("alert")).to_have_text(
        "tracking_number is not a valid Yamato Transport tracking number (12 digits)"
    )
    expect(number).to_have_attribute("aria-invalid", "true")
    expect(row_of(page, order)).to_have_count(1)

    number.fill("")
    number.press_sequentially("1234-5678-9012")
    expect(check).to_have_text("✓ format ok")
    submit.click()
    expect(page.get_by_role("status").filter(has_text=f"Order {no(order)} marked as shipped")).to_be_visible()
    expect(row_of(page, order)).to_have_count(0)
    expect(form).to_have_count(0)
    shown = api.get(f"/orders/{order['order_id']}").json
    assert shown["status"] == "shipped" and shown["tracking"]["tracking_number"] == "123456789012"


def test_fulfill_many_shows_a_result_per_order(page, cloud, api, orders):
    good, bad = orders["many"]
    sign_in(page, cloud, "demo", "#/fulfillment")
    bulk = page.get_by_role("button", name=re.compile(r"^Fulfill selected"))
    expect(bulk).to_be_disabled()
    page.get_by_role("checkbox", name=f"Select order {no(good)}").check()
    page.get_by_role("checkbox", name=f"Select order {no(bad)}").check()
    expect(bulk).to_have_text("Fulfill selected (2)")
    bulk.click()

    panel = page.get_by_role("region", name="Fulfill 2 orders")
    first = panel.get_by_role("group", name=re.compile(rf"^Order {no(good)} "))
    second = panel.get_by_role("group", name=re.compile(rf"^Order {no(bad)} "))
    first.get_by_label("Carrier").select_option(label="Sagawa Express")
    first.get_by_label("Tracking number").fill("1234567890")
    second.get_by_label("Carrier").select_option(label="Yamato Transport")
    second.get_by_label("Tracking number").fill("999")
    expect(second.get_by_test_id("tracking-check")).to_have_text("Does not match 12 digits")
    panel.get_by_role("button", name="Mark 2 orders as shipped").click()

    expect(first).to_contain_text("✓ Shipped with tracking 1234567890")
    expect(field_of(second, page, "Tracking number").get_by_role("alert")).to_contain_text(
        "not a valid Yamato Transport tracking number"
    )
    expect(panel).to_contain_text("1 shipped, 1 failed.")
    expect(row_of(page, good)).to_have_count(0)  # the list was fetched again
    expect(row_of(page, bad)).to_have_count(1)
    assert api.get(f"/orders/{bad['order_id']}").json["status"] == "new"


def test_csv_download_fill_upload_job_and_history(page, cloud, api, orders, tmp_path):
    good, bad = orders["csv"]
    sign_in(page, cloud, "demo", "#/fulfillment?view=csv")
    expect(page.get_by_role("tab", name="Fulfill by CSV")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_test_id("upload-history").or_(page.get_by_text("No upload yet."))).to_be_visible()

    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    download = info.value
    assert re.fullmatch(r"unfulfilled-\d{8}-\d{6}\.csv", download.suggested_filename)
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_bytes().decode("utf-8-sig"))))
    numbers = [r["marketplace_order_no"] for r in rows]
    assert {no(good), no(bad)} <= set(numbers)
    assert no(orders["shipped"]) not in numbers
    for row in rows:
        if row["marketplace_order_no"] == no(good):
            row.update(carrier="yamato", tracking_number="5555-6666-7777", origin_country="JP")
        if row["marketplace_order_no"] == no(bad):
            row.update(carrier="yamato", tracking_number="12")
    bad_row = numbers.index(no(bad)) + 2  # the header is row 1
    filled = tmp_path / "filled.csv"
    with filled.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)

    page.get_by_label("CSV file").set_input_files(str(filled))
    page.get_by_role("button", name="Upload and fulfill").click()
    status = page.get_by_test_id("job-status")
    expect(status).to_contain_text(f"Done — Processed {len(rows)} of {len(rows)} rows.")
    expect(status).to_contain_text(f"1 shipped · 1 failed · {len(rows) - 2} skipped")
    expect(page.get_by_role("progressbar", name="Progress of the upload")).to_have_js_property(
        "value", len(rows)
    )

    failed = page.get_by_test_id("failed-rows").locator("tbody tr")
    expect(failed).to_have_count(1)
    cells = failed.first.locator("td")
    expect(cells.nth(0)).to_have_text(str(bad_row))
    expect(cells.nth(1)).to_have_text(bad["order_id"])
    expect(cells.nth(2)).to_have_text("tracking_number")
    expect(cells.nth(3)).to_contain_text("not a valid Yamato Transport tracking number (12 digits)")

    history = page.get_by_test_id("upload-history").locator("tbody tr")
    expect(history.first).to_contain_text("Done")
    expect(history.first.locator("td").nth(3)).to_have_text(str(len(rows)))
    expect(history.first.locator("td").nth(5)).to_have_text("1")
    history.first.get_by_role("button", name=re.compile("^Show the rows of the upload of")).click()
    expect(page.get_by_test_id("failed-rows")).to_have_count(2)  # the upload's own and the history's view

    assert api.get(f"/orders/{good['order_id']}").json["tracking"]["tracking_number"] == "555566667777"
    assert api.get(f"/orders/{bad['order_id']}").json["status"] == "new"


def test_modify_the_tracking_of_a_shipped_order(page, cloud, api, orders):
    order = orders["shipped"]
    sign_in(page, cloud, "demo", "#/fulfillment")
    page.get_by_role("tab", name="Modify tracking").click()
    expect(page.get_by_role("tab", name="Modify tracking")).to_have_attribute("aria-selected", "true")
    page.get_by_label("Order number").fill(no(order))
    page.get_by_role("button", name="Search", exact=True).click()
    row = row_of(page, order)
    expect(row).to_contain_text("222233334444")
    expect(page.locator("tbody tr")).to_have_count(1)

    row.get_by_role("button", name=f"Modify tracking of order {no(order)}").click()
    form = page.get_by_role("region", name=f"Modify the tracking of order {no(order)}")
    expect(form).to_contain_text("Current tracking: Yamato Transport 222233334444")
    expect(form.get_by_label("Carrier")).to_have_value("yamato")
    form.get_by_label("Carrier").select_option(label="Sagawa Express")
    number = form.get_by_label("Tracking number")
    number.fill("1234-567-890")
    expect(form.get_by_test_id("tracking-check")).to_have_text("✓ format ok")
    form.get_by_role("button", name="Save the new tracking").click()

    expect(row).to_contain_text("1234567890")
    expect(row).to_contain_text("Sagawa Express")
    shown = api.get(f"/orders/{order['order_id']}").json
    assert shown["tracking"]["carrier"] == "sagawa"
    assert shown["previous_tracking"][0]["tracking_number"] == "222233334444"


@pytest.mark.viewport(390, 844)
@pytest.mark.locale("ja-JP")
def test_fulfillment_in_japanese_at_390_px(page, cloud, orders):
    sign_in(page, cloud, "demo", "#/fulfillment")
    expect(page.get_by_role("tab", name="未処理の注文")).to_have_attribute("aria-selected", "true")
    expect(row_of(page, orders["due"])).to_contain_text("24時間以内に期限")
    page.get_by_role("button", name=f"注文 {no(orders['due'])} を注文処理").click()
    form = page.get_by_role("region", name=f"注文 {no(orders['due'])} を注文処理")
    expect(form.get_by_label("追跡番号")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
