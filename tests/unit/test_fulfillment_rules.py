"""Fulfill, change tracking, re-release (docs/fulfillment.md) and the CSV export's cell rule, pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orderhub.domain import actions
from orderhub.domain.actions import RuleRefused
from orderhub.domain.ingest import Ignore, Update, decide
from orderhub.domain.settings import Integration
from orderhub.domain.status import TransitionRefused
from orderhub.fulfillment.csvfile import neutralize
from orderhub.kernel.errors import ValidationFailed
from tests.support.factories import change

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def order(**kw) -> dict:
    base = {
        "merchant_id": "demo",
        "order_id": "o1",
        "origin": "api",
        "marketplace": "shopify",
        "marketplace_order_no": "1001",
        "status": "processing",
        "shipment_stage": "none",
        "released_at": "2026-11-20T03:00:00.000Z",
        "deadline_at": "2026-11-25T14:59:59.999Z",
        "marketplace_updated_at": "2026-11-20T03:00:00.000Z",
        "tracking": None,
        "items": [{"sku": "SKU-1", "quantity": 1}],
        "version": 3,
    }
    return {**base, **kw}


def test_fulfill_ships_a_processing_order_with_normalized_tracking():
    out = actions.fulfill(order(), "yamato", "4444-5555-6666", "jp", " first parcel ", NOW)
    assert out.order["status"] == "shipped" and out.action == "fulfilled"
    t = out.order["tracking"]
    assert (t["carrier"], t["tracking_number"], t["origin_country"], t["note"], t["by"]) == (
        "yamato",
        "444455556666",
        "JP",
        "first parcel",
        "merchant",
    )
    assert t["shipped_at"] == "2026-11-25T03:00:00.000Z"


def test_fulfill_ships_a_released_order_without_a_separate_confirm():
    assert actions.fulfill(order(status="new"), "ups", "1Z999AA10123456784", None, None, NOW).order[
        "status"
    ] == ("shipped")


@pytest.mark.parametrize("status", ["pending", "on_hold", "cancelled", "closed", "deleted"])
def test_fulfill_refused_outside_new_and_processing(status):
    with pytest.raises(TransitionRefused) as exc:
        actions.fulfill(order(status=status), "yamato", "444455556666", None, None, NOW)
    assert exc.value.to_body()["error"]["status"] == status


@pytest.mark.parametrize("stage", ["requested", "picking", "picked", "packed"])
def test_fulfill_refused_while_the_warehouse_has_the_shipment(stage):
    with pytest.raises(RuleRefused) as exc:
        actions.fulfill(order(shipment_stage=stage), "yamato", "444455556666", None, None, NOW)
    assert exc.value.details["rule"] == "shipment_in_warehouse"


def test_fulfill_refused_twice():
    shipped = actions.fulfill(order(), "yamato", "444455556666", None, None, NOW).order
    with pytest.raises(RuleRefused) as exc:
        actions.fulfill({**shipped, "status": "processing"}, "yamato", "444455556667", None, None, NOW)
    assert exc.value.details["rule"] == "already_fulfilled"


@pytest.mark.parametrize(
    ("carrier", "number", "origin", "note", "field"),
    [
        ("yamato", "", None, None, "tracking_number"),
        ("yamato", "12", None, None, "tracking_number"),
        ("", "444455556666", None, None, "carrier"),
        ("yamato", "444455556666", "JPN", None, "origin_country"),
        ("yamato", "444455556666", "1A", None, "origin_country"),
        ("yamato", "444455556666", None, "x" * 501, "note"),
    ],
)
def test_fulfill_validates_each_field(carrier, number, origin, note, field):
    with pytest.raises(ValidationFailed) as exc:
        actions.fulfill(order(), carrier, number, origin, note, NOW)
    assert exc.value.field == field


def test_change_tracking_keeps_the_previous_tracking():
    shipped = actions.fulfill(order(), "yamato", "444455556666", "JP", "n", NOW).order
    out = actions.change_tracking(shipped, "sagawa", "1234567890", None, None, NOW)
    assert out.action == "tracking_changed"
    assert out.order["tracking"]["tracking_number"] == "1234567890"
    assert out.order["tracking"]["origin_country"] == "JP"  # kept when not given
    assert out.order["tracking"]["note"] == "n"
    cleared = actions.change_tracking(shipped, "sagawa", "1234567890", "", "", NOW).order["tracking"]
    assert (cleared["origin_country"], cleared["note"] or None) == (None, None)  # "" clears them
    assert out.order["previous_tracking"][0]["tracking_number"] == "444455556666"
    assert out.data["previous_tracking_number"] == "444455556666"


def test_change_tracking_needs_a_shipped_order_and_a_change():
    with pytest.raises(RuleRefused) as exc:
        actions.change_tracking(order(), "yamato", "444455556666", None, None, NOW)
    assert exc.value.details["rule"] == "tracking_needs_shipped"
    shipped = actions.fulfill(order(), "yamato", "444455556666", None, None, NOW).order
    with pytest.raises(RuleRefused) as exc:
        actions.change_tracking(shipped, "yamato", "4444-5555-6666", None, None, NOW)
    assert exc.value.details["rule"] == "tracking_unchanged"
    with pytest.raises(ValidationFailed):
        actions.change_tracking(shipped, "yamato", "bad", None, None, NOW)


def test_warehouse_shipped_checks_the_carrier_format():
    requested = order(shipment_stage="packed")
    with pytest.raises(ValidationFailed) as exc:
        actions.warehouse_stage(requested, "shipped", "yamato", "12", NOW)
    assert exc.value.field == "tracking_number"
    out = actions.warehouse_stage(requested, "shipped", "Yamato", "4444-5555-6666", NOW)
    assert out.order["tracking"]["tracking_number"] == "444455556666" and out.order["status"] == "shipped"


# ---------------------------------------------------------------- re-release
def shipped_order(**kw) -> dict:
    return actions.fulfill(order(**kw), "yamato", "444455556666", None, None, NOW).order


def test_rerelease_puts_a_shipped_order_back_to_unfulfilled_with_a_new_deadline():
    later = datetime(2026, 11, 28, 16, 0, tzinfo=UTC)  # 01:00 on 29 Nov in Tokyo
    out = actions.rerelease({**shipped_order(), "shipment_stage": "shipped"}, later, 5, "x")
    new = out.order
    assert new["status"] == "processing" and new["tracking"] is None and new["shipment_stage"] == "none"
    assert new["released_at"] == "2026-11-28T16:00:00.000Z"
    assert new["deadline_at"] == "2026-12-03T16:00:00.000Z"  # 5 × 24 h from the re-release
    assert new["previous_tracking"][-1]["tracking_number"] == "444455556666"


def test_rerelease_of_an_order_on_hold_keeps_it_on_hold():
    held = {**shipped_order(), "status": "on_hold", "held_from": "shipped"}
    new = actions.rerelease(held, NOW, 5, "x").order
    assert (new["status"], new["held_from"], new["tracking"]) == ("on_hold", "processing", None)


def test_rerelease_webhook_for_a_shipped_order_and_for_one_never_shipped():
    integration = Integration(fulfillment_days=5, timezone="Asia/Tokyo")
    shipped = shipped_order()
    ch = change("1001", "tracking_cancelled", updated_at=datetime(2026, 11, 26, tzinfo=UTC))
    decision = decide(shipped, ch, integration, NOW)
    assert isinstance(decision, Update) and decision.action == "rereleased"
    assert decision.changes["status"] == ["shipped", "processing"]
    ignored = decide(
        order(), change("1001", "rereleased", updated_at=datetime(2026, 11, 26, tzinfo=UTC)), integration, NOW
    )
    assert isinstance(ignored, Ignore) and ignored.reason == "not_shipped"
    stale = decide(
        shipped,
        change("1001", "tracking_cancelled", updated_at=datetime(2026, 11, 1, tzinfo=UTC)),
        integration,
        NOW,
    )
    assert isinstance(stale, Ignore) and stale.reason == "stale"


# ---------------------------------------------------------------- CSV export cells
@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+81 3 1234", "'+81 3 1234"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("山田 太郎", "山田 太郎"),
        (-2, "-2"),  # a number orderhub writes (days remaining) stays a number
        (None, ""),
    ],
)
def test_exported_cells_are_never_formulas(cell, shown):
    assert neutralize(cell) == shown
