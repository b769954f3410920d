"""The orders screens of the console (console/js/screens/orders.js, order-detail.js, mappings.js)
driven in Chromium against a local cloud: an order arriving by a signed Shopify webhook, released
by the hold sweep and confirmed from the list; its items mapped and its shipping info sent from the
detail while the warehouse reports its stages; a cancel at each stage; a filter job with its
progress; the list at 390 px."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from orderhub.kernel import clock
from tests.browser.conftest import screenshot, sign_in
from tests.support.cloud_fixtures import post_shopify_order

pytestmark = pytest.mark.slowest(40)

_numbers = itertools.count(8101)


def new_order(api, cloud, minutes_ago: int = 120) -> dict:
    """A Shopify order by signed webhook: placed 2 h ago it is past the payment hold (new at
    once); placed 30 min ago it waits in pending for the hold sweep."""
    return post_shopify_order(api, cloud, next(_numbers), minutes_ago)[0]


def shipment_at(api, cloud, stage: str | None) -> dict:
    """A confirmed order with its items mapped and its shipping info sent, moved by the warehouse
    to `stage` (None: left requested)."""
    order = new_order(api, cloud)
    oid = order["order_id"]
    assert api.call("POST", "/orders/confirm", {"order_ids": [oid]}).json["results"][0]["ok"]
    mappings = [
        {"marketplace": "shopify", "sku": i["sku"], "item_code": "IC-" + i["sku"]} for i in order["items"]
    ]
    assert api.call("PUT", "/item-mappings", {"mappings": mappings}).status == 200
    assert api.call("POST", f"/orders/{oid}/map-items").json["mapping"] == "ok"
    packing = api.call("POST", f"/orders/{oid}/ship-request").json["packing_no"]
    if stage:
        report(api, packing, stage)
    return {**order, "packing_no": packing}


def report(api, packing: str, stage: str, **extra) -> None:
    resp = api.warehouse("POST", f"/warehouse/shipments/{packing}/stage", {"stage": stage, **extra})
    assert resp.status == 200, resp


def open_route(page, cloud, route: str) -> None:
    page.goto(f"{cloud.console.url}/{route}")


def tab_count(page, label: str):
    return page.get_by_role("tab", name=re.compile(rf"^{re.escape(label)}")).locator(".count")


def row_of(page, number: str):
    return page.locator("tbody tr").filter(has=page.get_by_role("link", name=f"#{number}", exact=True))


def selection_bar(page):
    return page.get_by_role("region", name="Actions on the selected orders")


def test_a_webhook_order_is_listed_released_by_the_hold_sweep_and_confirmed_from_the_list(page, api, cloud):
    before = api.get("/orders/counts").json
    order = new_order(api, cloud, minutes_ago=30)
    no = order["marketplace_order_no"]
    assert order["status"] == "pending"  # a Shopify order waits for the payment hold first

    sign_in(page, cloud, "demo", "#/orders")
    expect(tab_count(page, "All")).to_have_text(str(before["all"] + 1))
    expect(tab_count(page, "Payment pending")).to_have_text(str(before["pending"] + 1))
    expect(row_of(page, no)).to_contain_text("Payment pending")
    expect(row_of(page, no)).to_contain_text("Mapping FAIL")

    clock.freeze(datetime.now(UTC) + timedelta(minutes=31))  # the hold window has passed
    try:
        assert cloud.run_schedule("HoldSweepFunction")
    finally:
        clock.freeze(None)
    waiting = new_order(api, cloud, minutes_ago=30)  # still in its hold
    page.reload()
    expect(tab_count(page, "New")).to_have_text(str(before["new"] + 1))
    expect(tab_count(page, "Payment pending")).to_have_text(str(before["pending"] + 1))
    expect(tab_count(page, "All")).to_have_text(str(before["all"] + 2))
    expect(row_of(page, no)).to_contain_text("New")

    # Confirm is offered only when every selected order allows it
    confirm = selection_bar(page).get_by_role("button", name="Confirm", exact=True)
    expect(confirm).to_have_count(0)
    page.get_by_role("checkbox", name=f"Select order #{no}").check()
    expect(confirm).to_be_visible()
    page.get_by_role("checkbox", name=f"Select order #{waiting['marketplace_order_no']}").check()
    expect(selection_bar(page)).to_contain_text("2 orders selected")
    expect(confirm).to_have_count(0)
    expect(selection_bar(page).get_by_role("button", name="Map items")).to_be_visible()
    page.get_by_role("checkbox", name=f"Select order #{waiting['marketplace_order_no']}").uncheck()
    confirm.click()

    results = page.get_by_test_id("results")
    expect(results).to_contain_text("1 succeeded, 0 failed")
    expect(results.get_by_role("link", name=f"#{no}")).to_be_visible()
    expect(tab_count(page, "New")).to_have_text(str(before["new"]))
    expect(tab_count(page, "Processing")).to_have_text(str(before["processing"] + 1))
    expect(row_of(page, no)).to_contain_text("Processing")
    assert api.get(f"/orders/{order['order_id']}").json["status"] == "processing"

    # the tabs filter the list, and the state is in the hash (a reload keeps it)
    page.get_by_role("tab", name=re.compile(r"^Processing")).click()
    expect(page).to_have_url(re.compile(r"#/orders\?status=processing"))
    expect(page.get_by_role("tab", name=re.compile(r"^Processing"))).to_have_attribute(
        "aria-selected", "true"
    )
    expect(row_of(page, no)).to_be_visible()
    expect(row_of(page, waiting["marketplace_order_no"])).to_have_count(0)
    page.reload()
    expect(row_of(page, no)).to_be_visible()
    expect(page.get_by_role("tab", name=re.compile(r"^Processing"))).to_have_attribute(
        "aria-selected", "true"
    )


def test_the_detail_maps_items_sends_shipping_info_and_shows_the_warehouse_shipping(page, api, cloud):
    order = new_order(api, cloud)
    oid, no = order["order_id"], order["marketplace_order_no"]
    assert api.call("POST", "/orders/confirm", {"order_ids": [oid]}).json["results"][0]["ok"]
    first, second = (i["sku"] for i in order["items"])

    # one mapping on the mapping screen, the other by the API
    sign_in(page, cloud, "demo", "#/mappings")
    add = page.get_by_role("form", name="Add or change a mapping")
    add.get_by_label("Marketplace (* = every marketplace)").fill("shopify")
    add.get_by_label("Marketplace SKU").fill(first)
    add.get_by_label("Item code").fill("TEA-001")
    add.get_by_role("button", name="Save mapping").click()
    expect(page.get_by_role("status").filter(has_text=f"Saved: {first} → TEA-001")).to_be_visible()
    expect(page.locator(f'tr[data-sku="{first}"]')).to_contain_text("TEA-001")
    put = api.call(
        "PUT", "/item-mappings", {"mappings": [{"marketplace": "*", "sku": second, "item_code": "CUP-001"}]}
    )
    assert put.status == 200

    open_route(page, cloud, f"#/orders/{oid}")
    expect(page.get_by_role("heading", name=f"Order #{no}")).to_be_visible()
    items = page.locator(".items-table")
    expect(items.locator(".red", has_text="Not mapped")).to_have_count(2)  # mapped at arrival only
    expect(page.get_by_role("button", name="Send shipping info")).to_have_count(0)  # mapping FAIL
    page.get_by_role("button", name="Map items").click()
    expect(page.get_by_role("status").filter(has_text="every item has an item code")).to_be_visible()
    expect(items).to_contain_text("TEA-001")
    expect(items).to_contain_text("CUP-001")
    page.get_by_role("button", name="Send shipping info").click()
    expect(page.get_by_role("status").filter(has_text="Shipping info sent")).to_be_visible()
    expect(page.locator(".detail-labels")).to_contain_text("Shipment: Requested")

    packing = api.get(f"/orders/{oid}").json["packing_no"]
    for stage in ("picking", "picked", "packed"):
        report(api, packing, stage)
    report(api, packing, "shipped", carrier="yamato", tracking_number="4444-5555-6666")
    page.reload()
    labels = page.locator(".detail-labels")
    expect(labels.locator("[data-status]")).to_have_text("Shipped")
    expect(labels).to_contain_text("Shipment: Shipped")
    expect(page.get_by_test_id("tracking-number")).to_have_text("444455556666")
    history = page.locator(".history-table")
    for action in (
        "items_mapped",
        "ship_requested",
        "stage_picking",
        "stage_picked",
        "stage_packed",
        "stage_shipped",
    ):
        expect(history).to_contain_text(action)
    # each entry names the request that made it: the warehouse's shipped report, for the last one
    entries = api.get(f"/orders/{oid}").json["history"]
    shipped_id = next(e["correlation_id"] for e in entries if e["action"] == "stage_shipped")
    expect(history.locator("tr").filter(has_text="stage_shipped").locator(".correlation code")).to_have_text(
        shipped_id
    )
    # the fake marketplace does not know the order: the shipment is not reflected, and the tag says so
    expect(page.locator(".tags-card")).to_contain_text("could not be reflected to the marketplace")
    expect(page.get_by_role("button", name="Cancel order")).to_have_count(0)
    screenshot(page, "order-detail")

    # the tracking number is checked against GET /carriers as it is typed
    page.get_by_role("button", name="Modify tracking").click()
    dialog = page.get_by_role("dialog", name="Modify the tracking")
    expect(dialog.get_by_label("Carrier")).to_have_value("yamato")
    expect(dialog).to_contain_text("Format: 12 digits")
    number = dialog.get_by_label("Tracking number")
    number.fill("4444-5555")
    expect(dialog.get_by_role("status")).to_have_text("Not a valid Yamato Transport number (12 digits).")
    expect(number).to_have_attribute("aria-invalid", "true")
    number.fill("4444 5555 7777")
    expect(dialog.get_by_role("status")).to_have_text("Valid Yamato Transport number: 444455557777")
    dialog.get_by_role("button", name="Modify tracking").click()
    expect(
        page.get_by_role("status").filter(has_text="Tracking changed to Yamato Transport 444455557777")
    ).to_be_visible()
    expect(page.get_by_test_id("tracking-number")).to_have_text("444455557777")
    expect(page.get_by_role("region", name="Tracking")).to_contain_text("444455556666")  # the previous number


def test_cancel_follows_the_shipment_stage(page, api, cloud):
    at_new = new_order(api, cloud)
    picking = shipment_at(api, cloud, "picking")
    requested = shipment_at(api, cloud, None)

    # new: cancelled at once
    sign_in(page, cloud, "demo", f"#/orders/{at_new['order_id']}")
    page.get_by_role("button", name="Cancel order").click()
    dialog = page.get_by_role("dialog", name="Cancel the order")
    dialog.get_by_label("Reason (optional)").fill("buyer asked")
    dialog.get_by_role("button", name="Cancel the order").click()
    expect(page.get_by_role("status").filter(has_text="The order is cancelled.")).to_be_visible()
    expect(page.locator(".detail-labels [data-status]")).to_have_text("Cancelled")
    expect(page.get_by_role("button", name="Cancel order")).to_have_count(0)

    # picking: a paid request, so the fee notice first (declined: nothing sent, the rule shown);
    # accepted: 202, a withdrawal requested from the warehouse, said in words
    open_route(page, cloud, f"#/orders/{picking['order_id']}")
    expect(page.locator(".detail-labels")).to_contain_text("Shipment: Picking")
    page.get_by_role("button", name="Cancel order").click()
    page.get_by_role("dialog", name="Cancel the order").get_by_role("button", name="Cancel the order").click()
    fee = page.get_by_role("dialog", name="A paid cancellation request")
    expect(fee).to_contain_text("costs an extra fee")
    fee.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog", name="Cancel the order")).to_contain_text("Rule: paid_request_consent")
    assert "withdrawal_requested" not in api.get(f"/orders/{picking['order_id']}").json["tags"]
    page.get_by_role("dialog", name="Cancel the order").get_by_role("button", name="Cancel the order").click()
    fee.get_by_role("button", name="Send the paid request").click()
    expect(
        page.get_by_role("status").filter(has_text="Withdrawal requested from the warehouse")
    ).to_be_visible()
    expect(page.locator(".detail-labels [data-status]")).to_have_text("Processing")
    expect(page.locator(".detail-labels")).to_contain_text("Withdrawal requested")
    assert api.get(f"/orders/{picking['order_id']}").json["status"] == "processing"

    # packed: the page was opened while the shipment was requested; the warehouse packs it
    # meanwhile, so the cancel is refused with the rule and what is allowed now, and once the page
    # shows the packed order the cancel is no longer offered
    open_route(page, cloud, f"#/orders/{requested['order_id']}")
    expect(page.locator(".detail-labels")).to_contain_text("Shipment: Requested")
    report(api, requested["packing_no"], "packed")
    page.get_by_role("button", name="Cancel order").click()
    dialog = page.get_by_role("dialog", name="Cancel the order")
    dialog.get_by_role("button", name="Cancel the order").click()
    alert = dialog.get_by_role("alert")
    expect(alert).to_contain_text("Rule: cancel_after_packed")
    expect(alert).to_contain_text("Allowed now:")
    expect(alert).to_contain_text("cannot be cancelled")
    dialog.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.locator(".detail-labels")).to_contain_text("Shipment: Packed")
    expect(page.get_by_role("button", name="Cancel order")).to_have_count(0)
    assert api.get(f"/orders/{requested['order_id']}").json["status"] == "processing"


def test_the_recipient_is_changed_at_once_before_picking_and_by_a_paid_request_in_picking(page, api, cloud):
    requested = shipment_at(api, cloud, None)
    picking = shipment_at(api, cloud, "picking")

    # requested: changed at once, the warehouse's shipment request reads the new address
    sign_in(page, cloud, "demo", f"#/orders/{requested['order_id']}")
    page.get_by_role("button", name="Change recipient").click()
    dialog = page.get_by_role("dialog", name="Change the recipient")
    expect(dialog.get_by_label("Name")).to_have_value(requested["recipient"]["name"])
    dialog.get_by_label("Country").fill("J1")
    dialog.get_by_role("button", name="Change recipient").click()
    expect(dialog.get_by_role("alert").first).to_contain_text("two-letter")  # the API's field error
    dialog.get_by_label("Country").fill("JP")
    dialog.get_by_label("Address line 1").fill("港区芝公園 4-2-8")
    dialog.get_by_role("button", name="Change recipient").click()
    expect(page.get_by_role("status").filter(has_text="The recipient is changed.")).to_be_visible()
    expect(page.get_by_role("region", name="Recipient")).to_contain_text("港区芝公園 4-2-8")
    queue = api.warehouse("GET", "/warehouse/shipments?stage=requested&page_size=200").json["shipments"]
    [mine] = [s for s in queue if s["order_id"] == requested["order_id"]]
    assert mine["recipient"]["address1"] == "港区芝公園 4-2-8"

    # picking: the fee notice first; accepted, the change waits on the warehouse and is shown
    open_route(page, cloud, f"#/orders/{picking['order_id']}")
    expect(page.locator(".detail-labels")).to_contain_text("Shipment: Picking")
    page.get_by_role("button", name="Change recipient").click()
    dialog = page.get_by_role("dialog", name="Change the recipient")
    dialog.get_by_label("City").fill("札幌市")
    dialog.get_by_role("button", name="Change recipient").click()
    fee = page.get_by_role("dialog", name="A paid modification request")
    expect(fee).to_contain_text("costs an extra fee")
    fee.get_by_role("button", name="Send the paid request").click()
    expect(
        page.get_by_role("status").filter(has_text="The warehouse was asked to change the recipient")
    ).to_be_visible()
    recipient = page.get_by_role("region", name="Recipient")
    expect(recipient).to_contain_text("Recipient change waiting on the warehouse")
    expect(recipient).to_contain_text("札幌市")
    expect(page.get_by_role("button", name="Change recipient")).to_have_count(0)  # one request at a time
    after = api.get(f"/orders/{picking['order_id']}").json
    assert (
        after["recipient"] == picking["recipient"] and after["modification"]["recipient"]["city"] == "札幌市"
    )


def test_every_order_of_a_filter_runs_as_a_job_with_progress_and_the_list_screenshot(page, api, cloud):
    order = new_order(api, cloud)
    no = order["marketplace_order_no"]
    sku = order["items"][0]["sku"]
    assert (
        api.call(
            "PUT",
            "/item-mappings",
            {"mappings": [{"marketplace": "shopify", "sku": sku, "item_code": "X-1"}]},
        ).status
        == 200
    )

    sign_in(page, cloud, "demo", f"#/orders?q={no}")
    expect(page.get_by_label("Order number")).to_have_value(no)
    expect(row_of(page, no)).to_contain_text("Mapping FAIL")
    page.get_by_role("button", name="Select the 1 result").click()  # English counts: 1 result, 2 results
    expect(selection_bar(page)).to_contain_text("The 1 order of this filter is selected")
    expect(page.get_by_role("checkbox", name=f"Select order #{no}")).to_be_checked()
    page.get_by_role("button", name="Apply item mapping to all").click()
    page.get_by_role("dialog").get_by_role("button", name="Apply item mapping to all").click()
    job = page.get_by_test_id("job")
    expect(job.get_by_role("progressbar")).to_be_visible()
    expect(job).to_contain_text("Finished: 1 order, 1 succeeded, 0 failed")
    expect(job.get_by_role("link", name=f"#{no}")).to_be_visible()
    expect(job).to_contain_text("Mapping FAIL")  # one SKU of two is mapped
    assert api.get(f"/orders/{order['order_id']}").json["items"][0]["item_code"] == "X-1"

    # a bad filter: the API's 400 lands next to the control it names
    open_route(page, cloud, "#/orders?country=J1")
    expect(page.get_by_label("Ship-to country")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-error").filter(has_text="two-letter country code")).to_be_visible()

    open_route(page, cloud, "#/orders")
    everything = api.get("/orders/counts").json["all"]
    expect(page.locator("tbody tr")).to_have_count(everything)
    # the tabs' counts arrive after the rows: the screenshot shows them, not their placeholder
    expect(page.locator("[role=tab] .count").first).to_have_text(str(everything))
    screenshot(page, "orders")


@pytest.mark.viewport(390, 844)
def test_the_list_is_usable_at_390_px(page, api, cloud):
    new_order(api, cloud)
    sign_in(page, cloud, "demo", "#/orders")
    first_link = page.locator("tbody tr").first.get_by_role("link")
    expect(first_link).to_have_text(re.compile(r"^#\d+$"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for label in ("All", "New", "Processing", "Closed"):
        expect(page.get_by_role("tab", name=re.compile(rf"^{label}"))).to_be_in_viewport()
    page.get_by_role("tab", name=re.compile(r"^New")).click()
    expect(page).to_have_url(re.compile(r"status=new"))
    expect(page.get_by_role("tab", name=re.compile(r"^New"))).to_be_focused()
    expect(first_link).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    number = first_link.inner_text()
    first_link.click()
    expect(page.get_by_role("heading", name=f"Order {number}")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_tab_chosen_while_the_screen_still_loads_keeps_the_focus(page, api, cloud):
    """The merchant chooses a tab before the first render has its counts: that render, finishing
    late on a screen already replaced, must leave the focus to the render the merchant sees."""
    new_order(api, cloud)
    held, seen = [], []

    def hold_two(route):  # the counts of the first two renders wait; later ones go through
        seen.append(route)
        if len(seen) <= 2:
            held.append(route)
        else:
            route.continue_()

    page.route("**/orders/counts*", hold_two)
    sign_in(page, cloud, "demo", "#/orders")
    expect(page.locator("tbody tr").first.get_by_role("link")).to_be_visible()
    page.get_by_role("tab", name=re.compile(r"^New")).click()
    expect(page).to_have_url(re.compile(r"status=new"))
    while len(held) < 2:  # the second render asked for its counts too
        page.wait_for_timeout(50)
    held.pop(0).continue_()  # the first (replaced) render finishes first
    page.wait_for_timeout(300)
    held.pop(0).continue_()
    expect(tab_count(page, "New")).to_have_text(re.compile(r"^\d+$"))  # the second render is done
    expect(page.get_by_role("tab", name=re.compile(r"^New"))).to_be_focused()


def test_every_new_order_of_the_tab_is_confirmed_by_one_job_with_each_order_reported(page, api, cloud):
    fresh = [new_order(api, cloud) for _ in range(3)]
    new_before = api.get("/orders/counts").json["new"]
    assert new_before >= 3
    sign_in(page, cloud, "demo", "#/orders?status=new")
    expect(tab_count(page, "New")).to_have_text(str(new_before))
    page.get_by_role(
        "button", name=re.compile(r"^Select (all \d+ results|every order this filter shows)$")
    ).click()
    expect(page.get_by_role("button", name="Send shipping info for all")).to_have_count(0)  # not on this tab
    page.get_by_role("button", name="Confirm all").click()
    page.get_by_role("dialog").get_by_role("button", name="Confirm all").click()
    job = page.get_by_test_id("job")
    expect(job).to_contain_text(f"Finished: {new_before} orders, {new_before} succeeded, 0 failed")
    for o in fresh:  # each order by its number, even those the page did not show
        expect(job.get_by_role("link", name=f"#{o['marketplace_order_no']}")).to_be_visible()
        assert api.get(f"/orders/{o['order_id']}").json["status"] == "processing"
    expect(tab_count(page, "New")).to_have_text("0")
