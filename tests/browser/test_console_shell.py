"""The console's shell in a real browser: sign-in through the PKCE flow, tokens kept for the tab
only, sign-out, another merchant seeing none of the first one's data, the API refusing every
other origin (CORS), the keyboard, and the first load's size."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.e2e.test_registration_e2e import HEADER, call, finished_job
from tests.support.cloud_fixtures import post_shopify_order
from tests.support.http import request

pytestmark = pytest.mark.slowest(20)


@pytest.fixture(scope="module")
def demo_order(api, cloud):
    order, _ = post_shopify_order(api, cloud, 7101, minutes_ago=5)
    return order


def test_sign_in_keeps_the_tokens_in_the_tab_and_sign_out_forgets_them(page, cloud):
    page.goto(cloud.console.url + "/#/orders")
    expect(page).to_have_url(re.compile(r"/oauth2/authorize\?"))  # straight to the sign-in page
    assert "code_challenge_method=S256" in page.url
    sign_in(page, cloud, "demo")
    expect(page.get_by_test_id("merchant")).to_contain_text("demo")
    expect(page).to_have_url(re.compile(r"#/orders$"))  # the code left the address bar
    stored = page.evaluate("() => [Object.keys(sessionStorage), Object.keys(localStorage), document.cookie]")
    assert "orderhub.session" in stored[0]
    assert not any("session" in k or "token" in k for k in stored[1]) and stored[2] == ""
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/oauth2/authorize\?"))  # signed out, asked to sign in again
    assert page.evaluate("() => sessionStorage.getItem('orderhub.session')") is None


def test_another_merchant_sees_none_of_the_first_ones_orders(page, cloud, demo_order):
    number = demo_order["marketplace_order_no"]
    sign_in(page, cloud, "demo", f"#/orders/{demo_order['order_id']}")
    expect(page.get_by_role("main")).to_contain_text(number)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/oauth2/authorize\?"))
    sign_in(page, cloud, "demo2", f"#/orders/{demo_order['order_id']}")
    expect(page.get_by_test_id("merchant")).to_contain_text("demo2")
    main = page.get_by_role("main")
    expect(main.get_by_role("alert")).to_be_visible()  # the API answers 404 for another merchant's order
    expect(main).not_to_contain_text(demo_order["recipient"]["name"])
    page.goto(cloud.console.url + "/#/orders")
    expect(page.get_by_role("main")).not_to_contain_text(number)


def test_the_api_answers_the_console_origin_and_no_other(cloud):
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    ok = request(
        "OPTIONS", cloud.api_url + "/orders/confirm", headers={"Origin": cloud.console.url, **preflight}
    )
    assert ok.status == 204 and ok.headers["access-control-allow-origin"] == cloud.console.url
    other = request(
        "OPTIONS", cloud.api_url + "/orders/confirm", headers={"Origin": "http://127.0.0.1:1", **preflight}
    )
    assert "access-control-allow-origin" not in other.headers
    denied = request("GET", cloud.api_url + "/orders", headers={"Origin": cloud.console.url})
    assert denied.status == 401 and denied.headers["access-control-allow-origin"] == cloud.console.url


def test_the_navigation_works_from_the_keyboard(page, cloud):
    sign_in(page, cloud, "demo")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.get_by_role("link", name=re.compile("^Fulfillment")).focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#/fulfillment"))
    expect(page.get_by_role("link", name=re.compile("^Fulfillment"))).to_have_attribute(
        "aria-current", "page"
    )


def test_every_tab_bar_moves_with_the_arrow_keys_and_opens_with_enter(page, cloud):
    # one helper (ui.tabBar) draws the tabs of orders, fulfillment, shipments and integrations
    for route, first, second in (
        ("#/orders", "All", "Payment pending"),
        ("#/shipments", "Requested", "Picking"),
        ("#/fulfillment", "Unfulfilled", None),
        ("#/integrations", "shopify", None),
    ):
        if route == "#/orders":
            sign_in(page, cloud, "demo", route)
        else:
            page.goto(f"{cloud.console.url}/{route}")
        tabs = page.get_by_role("tab")
        selected = page.locator('[role="tab"][aria-selected="true"]')
        expect(selected).to_have_count(1)
        expect(selected).to_contain_text(re.compile(first, re.IGNORECASE))
        selected.focus()
        page.keyboard.press("ArrowRight")
        focused = page.locator('[role="tab"]:focus')
        expect(focused).to_have_attribute("aria-selected", "false")  # moved, not opened
        if second:
            expect(focused).to_contain_text(second)
        page.keyboard.press("End")
        expect(tabs.last).to_be_focused()
        page.keyboard.press("Home")
        expect(tabs.first).to_be_focused()
        page.keyboard.press("ArrowLeft")  # wraps round
        expect(tabs.last).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator('[role="tab"][aria-selected="true"]')).to_have_attribute(
            "id", tabs.last.get_attribute("id")
        )


@pytest.mark.locale("ja-JP")
def test_labels_follow_the_browser_language_and_the_switch(page, cloud):
    sign_in(page, cloud, "demo")
    nav = page.get_by_role("navigation", name="メイン")
    expect(nav.get_by_role("link", name="受注一覧")).to_be_visible()
    page.get_by_label("言語").select_option("en")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders", exact=True)
    ).to_be_visible()
    page.reload()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders", exact=True)
    ).to_be_visible()


def test_a_button_sends_its_request_once_however_often_it_is_clicked(page, cloud, demo_order):
    sent = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" and "/map-items" in r.url else None)
    sign_in(page, cloud, "demo", f"#/orders/{demo_order['order_id']}")
    button = page.get_by_role("button", name="Map items", exact=True)
    button.dblclick()  # the second click lands while the first one's request runs
    expect(page.get_by_role("main")).to_contain_text("Item mapping applied")
    assert len(sent) == 1, sent


def test_the_order_list_pages_by_25_50_100_200(page, cloud, api, demo_order):
    lines = [HEADER] + [
        f"base,PAGE-{i:03d},2026-01-20 10:00,card,2026-01-20 10:00,JPY,TS-1,Tシャツ,1,1980,,山田 太郎,"
        "神南1-2-3,,渋谷区,東京都,150-0041,JP,,"
        for i in range(30)
    ]
    resp = call(api, "POST", "/orders/import", data="\r\n".join(lines).encode(), content_type="text/csv")
    assert resp.status == 202, resp
    cloud.drain(timeout=30)
    assert finished_job(cloud, api, resp.json["job_id"])["succeeded"] == 30
    total = 30 + 1  # and the webhook order of demo_order

    sign_in(page, cloud, "demo", "#/orders?page_size=25")
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(25)
    page.get_by_role("button", name="Next page").click()
    expect(rows).to_have_count(total - 25)
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    page.get_by_role("button", name="Previous page").click()
    expect(rows).to_have_count(25)
    expect(page.get_by_role("button", name="Previous page")).to_be_disabled()
    page.get_by_label("Rows per page").select_option("100")
    expect(rows).to_have_count(total)
    expect(page).to_have_url(re.compile(r"page_size=100"))


def test_a_reflect_error_is_retried_then_cleared_by_hand(page, cloud, api):
    order, _ = post_shopify_order(api, cloud, 7102, minutes_ago=5)
    cancelled = api.call("POST", f"/orders/{order['order_id']}/cancel", {"reason": "buyer asked"})
    assert (
        cancelled.status == 200 and "mall_reflect_error" in cancelled.json["tags"]
    )  # Shopify doesn't know it
    sign_in(page, cloud, "demo", f"#/orders/{order['order_id']}")
    main = page.get_by_role("main")
    main.get_by_role("button", name="Retry the marketplace update").click()
    expect(main.get_by_role("alert")).to_contain_text("the marketplace call failed")
    assert "mall_reflect_error" in api.get(f"/orders/{order['order_id']}").json["tags"]
    main.get_by_role("button", name="Clear the reflect error").click()
    dialog = page.get_by_role("dialog", name="Clear the reflect error")
    dialog.get_by_label("Reason").fill("cancelled in Shopify's admin by hand")
    dialog.get_by_role("button", name="Clear the reflect error").click()
    expect(page.get_by_role("status").filter(has_text="The reflect error is cleared.")).to_be_visible()
    expect(main.get_by_role("button", name="Retry the marketplace update")).to_have_count(0)
    after = api.get(f"/orders/{order['order_id']}").json
    assert "mall_reflect_error" not in after["tags"]
    assert after["history"][-1]["action"] == "reflect_error_cleared"
