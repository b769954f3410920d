"""Merchant and warehouse action rules (docs/orders.md), without AWS."""

from __future__ import annotations

import pytest

from orderhub.domain import actions
from orderhub.domain.ingest import new_order
from orderhub.domain.settings import Integration
from orderhub.domain.status import TransitionRefused
from orderhub.kernel.errors import Conflict, ValidationFailed
from tests.support.factories import change, later

NOW = later(100)


def order(status="new", stage="none", mapped=True, **over):
    o = new_order(
        change(method="bank_transfer", item_code="ITEM-1" if mapped else None),
        Integration(),
        later(1),
        merchant_id="demo",
        order_id="ord_1",
        packing_no="PK1",
    )
    o.update(status=status, shipment_stage=stage, **over)
    return o


def refused(fn, *args):
    with pytest.raises(Conflict) as exc:
        fn(*args)
    return exc.value.to_body()["error"]


def test_confirm_only_from_new():
    assert actions.confirm(order("new"), NOW).order["status"] == "processing"
    err = refused(actions.confirm, order("pending"), NOW)
    assert err["code"] == "transition_refused" and err["status"] == "pending"
    assert "confirm" not in err["allowed_actions"]


def test_hold_needs_a_reason_and_release_goes_back():
    with pytest.raises(ValidationFailed) as exc:
        actions.hold(order("processing"), "", NOW)
    assert exc.value.field == "reason"
    held = actions.hold(order("processing"), "address check", NOW).order
    assert (held["status"], held["held_from"]) == ("on_hold", "processing")
    back = actions.release(held, None, NOW).order
    assert back["status"] == "processing" and back["held_from"] is None
    assert refused(actions.release, order("new"), None, NOW)["code"] == "transition_refused"


def test_release_to_pending_puts_a_card_order_back_under_the_hold_sweep():
    held = actions.hold(order("pending", payment={"method": "card", "paid_at": None}), "check", NOW).order
    assert actions.release(held, None, NOW).order["hold_release_at"] is not None
    held = actions.hold(order("pending", payment={"method": "konbini", "paid_at": None}), "check", NOW).order
    assert actions.release(held, None, NOW).order["hold_release_at"] is None


@pytest.mark.parametrize("status", ["pending", "new", "processing", "on_hold"])
@pytest.mark.parametrize("stage", ["none", "requested", "withdrawn"])
def test_cancel_before_picking_is_immediate(status, stage):
    out = actions.cancel(order(status, stage), "buyer asked", NOW)
    assert out.order["status"] == "cancelled" and out.order["cancel_reason"] == "seller_cancelled"
    assert out.order["shipment_stage"] == ("deleted" if stage == "requested" else stage)
    assert not out.accepted_only


@pytest.mark.parametrize("stage", ["picking", "picked"])
def test_cancel_in_picking_requests_a_withdrawal(stage):
    out = actions.cancel(order("processing", stage), "buyer asked", NOW, accept_fee=True)
    assert out.accepted_only and out.action == "cancel_requested"
    assert out.order["status"] == "processing"
    assert out.order["withdrawal"]["reason"] == "buyer asked"
    assert actions.WITHDRAWAL_TAG in out.order["tags"]
    err = refused(actions.cancel, out.order, "again", NOW, True)
    assert err["rule"] == "withdrawal_pending"


@pytest.mark.parametrize("stage", ["picking", "picked"])
def test_a_paid_withdrawal_needs_the_merchants_word_for_the_fee(stage):
    err = refused(actions.cancel, order("processing", stage), "buyer asked", NOW)
    assert (err["rule"], err["field"]) == ("paid_request_consent", "accept_fee")
    assert "fee" in err["message"] and "cancel" in err["allowed_actions"]
    assert (
        refused(actions.cancel, order("processing", stage), None, NOW, False)["rule"]
        == "paid_request_consent"
    )
    with pytest.raises(ValidationFailed) as exc:
        actions.cancel(order("processing", stage), None, NOW, "yes")
    assert exc.value.field == "accept_fee"
    # before picking nothing is paid: no consent asked
    assert actions.cancel(order("processing", "requested"), None, NOW).action == "cancelled"


@pytest.mark.parametrize("stage", ["packed", "shipped"])
def test_cancel_after_packing_is_refused(stage):
    err = refused(actions.cancel, order("processing", stage), None, NOW)
    assert err["rule"] == "cancel_after_packed" and err["field"] == "shipment_stage"


@pytest.mark.parametrize("status", ["shipped", "closed", "cancelled", "deleted"])
def test_cancel_refused_in_final_statuses(status):
    with pytest.raises(TransitionRefused):
        actions.cancel(order(status), None, NOW)


def test_delete_only_untouched_orders():
    out = actions.delete(order("new"), NOW)
    assert out.order["status"] == "deleted" and out.order["deleted_reason"] == "seller_deleted_api"
    assert (
        actions.delete(order("pending", origin="csv"), NOW).order["deleted_reason"] == "seller_deleted_manual"
    )
    assert refused(actions.delete, order("processing"), NOW)["code"] == "transition_refused"
    assert refused(actions.delete, order("new", "requested"), NOW)["rule"] == "delete_before_work"


def test_ship_request_rules():
    out = actions.ship_request(order("processing"), NOW)
    assert out.order["shipment_stage"] == "requested" and out.order["shipment_requested_at"]
    err = refused(actions.ship_request, order("processing", mapped=False), NOW)
    assert err["rule"] == "mapping_incomplete" and "SKU-1" in err["message"]
    assert refused(actions.ship_request, order("new"), NOW)["rule"] == "ship_request_needs_processing"
    assert refused(actions.ship_request, order("processing", "picking"), NOW)["rule"] == "shipment_exists"


def test_map_items_sets_codes_and_result():
    out = actions.map_items(order("new", mapped=False), {"SKU-1": "ITEM-9"})
    assert out.order["items"][0]["item_code"] == "ITEM-9" and out.order["mapping"] == "ok"
    assert actions.map_items(order("new", mapped=False), {}).order["mapping"] == "fail"


def test_warehouse_stages_move_forward_and_shipped_needs_tracking():
    o = order("processing", "requested")
    o = actions.warehouse_stage(o, "picking", None, None, NOW).order
    o = actions.warehouse_stage(o, "packed", None, None, NOW).order  # a stage may be skipped
    assert refused(actions.warehouse_stage, o, "picked", None, None, NOW)["rule"] == "stage_forward_only"
    with pytest.raises(ValidationFailed) as exc:
        actions.warehouse_stage(o, "shipped", "yamato", "", NOW)
    assert exc.value.field == "tracking_number"
    shipped = actions.warehouse_stage(o, "shipped", "yamato", "1234-5678-9012", NOW).order
    # Stored normalized (docs/fulfillment.md: a valid number in the carrier's format).
    assert shipped["status"] == "shipped" and shipped["tracking"]["tracking_number"] == "123456789012"
    with pytest.raises(ValidationFailed):
        actions.warehouse_stage(o, "delivered", None, None, NOW)
    assert (
        refused(actions.warehouse_stage, order("processing"), "picking", None, None, NOW)["rule"]
        == "no_shipment_request"
    )
    assert (
        refused(actions.warehouse_stage, order("cancelled", "requested"), "picking", None, None, NOW)["rule"]
        == "shipment_cancelled"
    )


def test_close_after_shipping_with_a_reason():
    shipped = order("shipped", "shipped")
    assert actions.close(shipped, "returned", "damaged", NOW).order["status"] == "closed"
    with pytest.raises(ValidationFailed):
        actions.close(shipped, "lost", None, NOW)
    assert refused(actions.close, order("processing"), "refunded", None, NOW)["code"] == "transition_refused"
    assert (
        refused(actions.close, order("on_hold", "picking"), "refunded", None, NOW)["rule"]
        == "close_after_shipping"
    )


# ---------------------------------------------------------------- what the console offers (available)
EDIT = "edit_recipient"
TRACKED = {"carrier": "yamato", "tracking_number": "123456789012", "by": "merchant"}


@pytest.mark.parametrize(
    "status, stage, over, offered",
    [
        ("pending", "none", {}, {"hold", "cancel", "delete", "map_items", "refresh", EDIT}),
        ("new", "none", {}, {"confirm", "fulfill", "hold", "cancel", "delete", "map_items", "refresh", EDIT}),
        (
            "processing",
            "none",
            {},
            {"ship_request", "fulfill", "hold", "cancel", "map_items", "refresh", EDIT},
        ),
        (
            "processing",
            "none",
            {"mapping": "fail"},
            {"fulfill", "hold", "cancel", "map_items", "refresh", EDIT},
        ),
        ("processing", "requested", {}, {"hold", "cancel", "refresh", EDIT}),
        ("processing", "picking", {}, {"hold", "cancel", "refresh", EDIT}),
        ("processing", "picking", {"withdrawal": {"request_id": "r1"}}, {"hold", "refresh"}),
        ("processing", "packed", {}, {"hold", "refresh"}),
        ("shipped", "shipped", {"tracking": TRACKED}, {"change_tracking", "hold", "close", "refresh"}),
        ("on_hold", "none", {"held_from": "new"}, {"release", "cancel", "map_items", "refresh", EDIT}),
        ("cancelled", "withdrawn", {}, {"refresh"}),
        ("deleted", "none", {"origin": "manual"}, set()),
        (
            "new",
            "none",
            {"origin": "csv"},
            {"confirm", "fulfill", "hold", "cancel", "delete", "map_items", EDIT},
        ),
        (
            "cancelled",
            "none",
            {"tags": ["mall_reflect_error"], "reflect_failed": {"what": "cancel"}},
            {"retry_reflect", "clear_reflect_error", "refresh"},
        ),
    ],
)
def test_the_actions_offered_are_the_ones_their_rules_accept(status, stage, over, offered):
    o = order(status, stage, **over)
    assert set(actions.available(o, NOW)) == offered
    for name, rule in actions.MERCHANT_ACTIONS.items():
        if name in offered:
            rule(o, NOW)  # accepted: no refusal
        else:
            with pytest.raises((Conflict, ValidationFailed)):
                rule(o, NOW)


def test_a_retry_sends_what_the_tag_recorded_and_clearing_needs_a_reason():
    shipped = order("shipped", "none", tracking=TRACKED, tags=["mall_reflect_error"])
    assert actions.retry_reflect({**shipped, "reflect_failed": {"what": "tracking"}}, NOW) == "tracking"
    assert actions.retry_reflect(shipped, NOW) == "fulfillment"  # tagged before the kind was kept
    assert refused(actions.retry_reflect, order("new"), NOW)["rule"] == "no_reflect_error"
    assert refused(actions.retry_reflect, order("new", tags=["mall_reflect_error"]), NOW)["rule"] == (
        "nothing_to_reflect"
    )
    with pytest.raises(ValidationFailed):
        actions.clear_reflect_error(shipped, "", NOW)
    out = actions.clear_reflect_error(shipped, "told Shopify by hand", NOW)
    assert out.order["tags"] == [] and out.data == {"reason": "told Shopify by hand"}


# ---------------------------------------------------------------- the merchant's recipient change
@pytest.mark.parametrize("stage", ["none", "requested", "withdrawn"])
def test_a_recipient_change_before_picking_is_carried_at_once(stage):
    before = order("processing", stage)
    out = actions.edit_recipient(before, {"address1": "新宿区西新宿 2-8-1", "phone": ""}, NOW)
    assert out.action == "recipient_edited" and not out.accepted_only
    assert out.order["recipient"]["address1"] == "新宿区西新宿 2-8-1"
    assert out.order["recipient"]["name"] == before["recipient"]["name"]  # left out: kept
    assert out.order["items"] == before["items"]
    cleared = ["phone"] if before["recipient"].get("phone") else []
    assert out.data["changed"] == ["address1", *cleared]


@pytest.mark.parametrize("stage", ["picking", "picked"])
def test_a_recipient_change_in_picking_is_a_paid_request_with_consent(stage):
    before = order("processing", stage)
    err = refused(actions.edit_recipient, before, {"city": "大阪市"}, NOW)
    assert (err["rule"], err["field"]) == ("paid_request_consent", "accept_fee") and "fee" in err["message"]
    out = actions.edit_recipient(before, {"city": "大阪市"}, NOW, True)
    assert out.action == "modify_requested" and out.accepted_only
    assert out.order["recipient"] == before["recipient"]  # unchanged until the warehouse accepts
    assert out.order["modification"]["recipient"]["city"] == "大阪市"
    assert out.order["modification"]["by"] == "merchant"
    # one request at a time
    again = refused(actions.edit_recipient, out.order, {"city": "京都市"}, NOW, True)
    assert again["rule"] == "modification_pending"


@pytest.mark.parametrize(
    ("status", "stage", "rule"),
    [
        ("processing", "packed", "modify_after_packed"),
        ("shipped", "shipped", "modify_after_packed"),
        ("closed", "shipped", "recipient_locked"),
        ("cancelled", "none", "recipient_locked"),
        ("new", "none", None),
    ],
)
def test_a_recipient_change_is_refused_once_the_parcel_is_packed_or_the_order_is_over(status, stage, rule):
    o = order(status, stage)
    if rule is None:
        assert "edit_recipient" in actions.available(o, NOW)
        return
    assert refused(actions.edit_recipient, o, {"city": "x"}, NOW, True)["rule"] == rule
    assert "edit_recipient" not in actions.available(o, NOW)


def test_a_recipient_change_that_changes_nothing_or_clears_the_name_is_a_400():
    o = order("new")
    with pytest.raises(ValidationFailed) as exc:
        actions.edit_recipient(o, {"name": o["recipient"]["name"]}, NOW)
    assert exc.value.field == "recipient"
    with pytest.raises(ValidationFailed) as exc:
        actions.edit_recipient(o, {"name": " "}, NOW)
    assert exc.value.field == "recipient.name"
    with pytest.raises(ValidationFailed) as exc:
        actions.edit_recipient(o, {"items": []}, NOW)
    assert exc.value.field == "recipient.items"
    with pytest.raises(ValidationFailed) as exc:
        actions.edit_recipient(o, {"city": "x"}, NOW, "yes")
    assert exc.value.field == "accept_fee"
