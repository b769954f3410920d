"""The integrations, sync history and violations screens in a real browser: the paid-request
warning beside the settings that start paid requests, a change saved and kept, a bad value's
field error from the API next to its field, write-only secrets; the history and violation tables
(and their empty states) at 1280 and 390 px; the language switch."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in
from tests.support.cloud_fixtures import post_shopify_order

pytestmark = pytest.mark.slowest(35)


def _field(page, label: str):
    """The .field block holding the control labelled `label` (its error slot is inside)."""
    return page.locator(".field").filter(has=page.get_by_label(label, exact=True))


def _no_page_scroll(page, width: int) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width


@pytest.fixture(scope="module")
def synced(api, cloud):
    """A Shopify order cancelled on the marketplace (a sync history entry) and a signed but
    malformed delivery (a quarantine entry)."""
    order, payload = post_shopify_order(api, cloud, 7401, minutes_ago=5)
    stamp = datetime.now(UTC).isoformat()
    cancel = dict(payload, cancelled_at=stamp, updated_at=stamp, cancel_reason="customer")
    assert api.post_webhook("shopify", cancel, topic="orders/cancelled").status == 200
    bad = dict(payload, id=940000007402, order_number=7402, name="#7402")
    bad["line_items"] = [dict(payload["line_items"][0], quantity=0)]
    assert api.post_webhook("shopify", bad, topic="orders/create").status == 400
    cloud.drain(timeout=10)
    assert api.get("/sync-history").json["entries"], "no sync history entry"
    return order


def test_settings_show_the_paid_warning_save_and_keep_the_change(page, api, cloud):
    sign_in(page, cloud, "demo", "#/integrations")
    main = page.get_by_role("main")
    expect(main.get_by_role("tab", name="Shopify")).to_have_attribute("aria-selected", "true")
    paid = _field(page, re.compile(r"^Carry cancels even after the shipment is confirmed"))
    expect(paid).to_contain_text("Cancellation requests cost an extra fee")
    expect(_field(page, re.compile(r"^Carry changes even after the shipment is confirmed"))).to_contain_text(
        "Modification requests cost an extra fee"
    )
    expect(_field(page, re.compile(r"^Carry marketplace cancels"))).not_to_contain_text("extra fee")
    # a secret is never shown: only whether it is set
    expect(main.get_by_test_id("paid-notice")).to_be_visible()
    expect(main.locator("[data-secret=api_token]")).to_have_text("Set")
    assert "shpat_" not in main.inner_text()

    page.get_by_label(re.compile(r"^Carry order changes to the shipment request")).check()
    page.get_by_label("Payment hold (minutes)").fill("30")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Shopify settings saved")
    got = api.get("/integrations/shopify").json
    assert (got["modify_sync"], got["hold_minutes"], got["cancel_sync"]) == (True, 30, True)

    page.reload()
    expect(page.get_by_label(re.compile(r"^Carry order changes to the shipment request"))).to_be_checked()
    expect(page.get_by_label("Payment hold (minutes)")).to_have_value("30")
    screenshot(page, "integrations")
    api.call("PUT", "/integrations/shopify", {"modify_sync": False, "hold_minutes": 60})


def test_a_bad_value_shows_the_apis_error_next_to_the_field(page, api, cloud):
    sign_in(page, cloud, "demo", "#/integrations?marketplace=wish")
    expect(page.get_by_role("tab", name="Wish")).to_have_attribute("aria-selected", "true")
    days = page.get_by_label("Days to ship")
    expect(days).to_have_value("5")
    days.fill("6")
    page.get_by_role("button", name="Save settings").click()
    expect(_field(page, "Days to ship").get_by_role("alert")).to_contain_text(
        "fulfillment_days must be at most 5"
    )
    expect(days).to_have_attribute("aria-invalid", "true")
    days.fill("0")
    page.get_by_role("button", name="Save settings").click()
    expect(_field(page, "Days to ship").get_by_role("alert")).to_contain_text(
        "must be an integer from 1 to 60"
    )
    assert api.get("/integrations/wish").json["fulfillment_days"] == 5  # nothing changed


def test_a_secret_is_replaced_write_only(page, api, cloud):
    sign_in(page, cloud, "demo", "#/integrations?marketplace=base")
    main = page.get_by_role("main")
    expect(main.locator("[data-secret=api_token]")).to_have_text("Not set")
    expect(main).to_contain_text("is not carried to the shipment request")  # seed 001: BASE never syncs
    token = page.get_by_label("Replace API token")
    expect(token).to_have_attribute("type", "password")
    token.fill("base-secret-123")
    page.get_by_role("button", name="Save settings").click()
    expect(main.locator("[data-secret=api_token]")).to_have_text("Set")
    expect(page.get_by_label("Replace API token")).to_have_value("")
    assert api.get("/integrations/base").json["api_token_set"] is True


@pytest.mark.parametrize("width", [1280, 390])
def test_sync_history_and_violations_render_their_tables(browser, cloud, synced, width):
    ctx = browser.new_context(viewport={"width": width, "height": 900}, locale="en-US")
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        sign_in(page, cloud, "demo", "#/sync-history")
        main = page.get_by_role("main")
        table = main.get_by_role("table", name="History")
        row = table.get_by_role("row").filter(
            has=page.get_by_role("link", name=synced["marketplace_order_no"])
        )
        expect(row).to_contain_text("Cancel sync")
        expect(row).to_contain_text("Applied")
        expect(row.get_by_role("link")).to_have_attribute("href", f"#/orders/{synced['order_id']}")
        _no_page_scroll(page, width)
        page.get_by_label("Marketplace").select_option("wish")
        page.get_by_role("button", name="Search").click()
        expect(page).to_have_url(re.compile(r"marketplace=wish"))
        expect(main.get_by_test_id("empty")).to_have_text("No sync history matches these filters.")
        page.get_by_label("Marketplace").select_option("shopify")
        page.get_by_role("button", name="Search").click()
        expect(row).to_contain_text("Cancel sync")
        page.get_by_label("Marketplace").select_option("")
        page.get_by_label("Result").select_option("rejected")
        page.get_by_role("button", name="Search").click()
        expect(page).to_have_url(re.compile(r"outcome=rejected"))
        expect(main.get_by_test_id("empty")).to_have_text("No sync history matches these filters.")

        page.get_by_role("link", name="Violations").click()
        expect(main.get_by_test_id("violations-missed-empty")).to_contain_text("No missed deadlines")
        expect(main.get_by_test_id("violations-flagged-empty")).to_have_text("No flagged SKUs.")
        quarantine = main.get_by_role("table", name="Quarantine")
        expect(quarantine).to_contain_text("line_items[0].quantity")
        _no_page_scroll(page, width)

        page.get_by_role("link", name="Integrations").click()
        expect(main.get_by_role("button", name="Save settings")).to_be_visible()
        _no_page_scroll(page, width)
        page.get_by_role("link", name="Cancelled orders").click()
        expect(main.get_by_role("group", name="Counts by reason")).to_be_visible()
        _no_page_scroll(page, width)
    finally:
        ctx.close()
    assert not errors, errors


@pytest.mark.locale("ja-JP")
def test_japanese_labels_and_the_language_switch_survive_a_reload(page, cloud):
    sign_in(page, cloud, "demo", "#/integrations")
    nav = page.get_by_role("navigation", name="メイン")
    expect(nav.get_by_role("link", name="受注一覧")).to_be_visible()
    main = page.get_by_role("main")
    expect(main.get_by_role("heading", name="モール連携設定", exact=True)).to_be_visible()
    expect(main).to_contain_text("キャンセル依頼については別途費用がかかります")
    page.get_by_label("言語").select_option("en")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders", exact=True)
    ).to_be_visible()
    expect(main.get_by_role("heading", name="Integrations", exact=True)).to_be_visible()
    page.reload()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders", exact=True)
    ).to_be_visible()
    expect(page.get_by_label("Language")).to_have_value("en")
    expect(main).to_contain_text("Cancellation requests cost an extra fee")


def test_the_digest_goes_to_the_merchants_address_in_its_language(page, api, cloud):
    sign_in(page, cloud, "demo", "#/notifications")
    state = page.get_by_test_id("digest-state")
    expect(state).to_have_text("No e-mail is sent.")
    page.get_by_label("E-mail address").fill("shop at example")
    page.get_by_role("button", name="Save").click()
    expect(_field(page, "E-mail address").locator(".field-error")).to_contain_text("e-mail address")
    assert api.get("/notifications").json["email"] is None  # nothing changed

    page.get_by_label("E-mail address").fill("shop@example.jp")
    page.get_by_label("Language of the digest").select_option("en")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    expect(state).to_contain_text(re.compile(r"(Waiting for confirmation|Digests go to).*shop@example\.jp"))
    assert api.get("/notifications").json | {"subscription": None} == {
        "email": "shop@example.jp",
        "language": "en",
        "subscription": None,
    }
    page.reload()
    expect(page.get_by_label("E-mail address")).to_have_value("shop@example.jp")
    expect(page.get_by_label("Language of the digest")).to_have_value("en")

    page.get_by_label("E-mail address").fill("")  # stop the e-mails
    page.get_by_role("button", name="Save").click()
    expect(state).to_have_text("No e-mail is sent.")
