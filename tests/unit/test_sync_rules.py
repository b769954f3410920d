"""Pure rules of the cancel flow and the integration settings (no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orderhub.domain import settings, sync_rules
from orderhub.kernel.errors import ValidationFailed

NOW = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stage", "after_confirmed", "source", "branch"),
    [
        ("none", False, "marketplace", "Cancel"),
        ("requested", True, "marketplace", "Cancel"),
        ("withdrawn", False, "marketplace", "Cancel"),
        ("picking", True, "marketplace", "RequestWarehouse"),
        ("picked", True, "marketplace", "RequestWarehouse"),
        ("picking", False, "marketplace", "NotReflected"),
        ("picked", False, "marketplace", "NotReflected"),
        ("picking", False, "merchant", "RequestWarehouse"),
        ("packed", True, "marketplace", "NotReflected"),
        ("shipped", True, "merchant", "NotReflected"),
    ],
)
def test_cancel_branch_by_stage(stage, after_confirmed, source, branch):
    assert sync_rules.cancel_branch(stage, {"cancel_after_confirmed": after_confirmed}, source) == branch


def test_not_reflected_reasons():
    assert sync_rules.not_reflected_reason("packed") == sync_rules.DELIVERED_NOTICE
    assert "cancel_after_confirmed" in sync_rules.not_reflected_reason("picking")
    assert sync_rules.not_reflected_reason("picking", "rejected", "no").endswith(": no")
    assert "in time" in sync_rules.not_reflected_reason("picked", "timeout")


def test_execution_names_are_safe_bounded_and_distinct():
    oid = "ord_01JABCDEFGHJKMNPQRSTVWXYZ0"
    assert sync_rules.execution_name("cancel", oid, "d-1") == f"cancel-{oid}-d-1"
    weird = sync_rules.execution_name("cancel", oid, "a/b c:d")
    assert weird == f"cancel-{oid}-a_b_c_d"
    long_a = sync_rules.execution_name("cancel", oid, "x" * 100 + "a")
    long_b = sync_rules.execution_name("cancel", oid, "x" * 100 + "b")
    assert len(long_a) == len(long_b) == 80 and long_a != long_b
    assert long_a == sync_rules.execution_name("cancel", oid, "x" * 100 + "a")


def test_wants_cancel_flow():
    conf = settings.effective({}, "shopify")
    order = {"origin": "api", "status": "processing", "shipment_stage": "picking"}
    assert sync_rules.wants_cancel_flow(order, conf)
    assert not sync_rules.wants_cancel_flow({**order, "shipment_stage": "requested"}, conf)
    assert not sync_rules.wants_cancel_flow({**order, "origin": "manual"}, conf)
    assert not sync_rules.wants_cancel_flow({**order, "status": "cancelled"}, conf)
    assert not sync_rules.wants_cancel_flow(order, settings.effective({}, "base"))
    assert not sync_rules.wants_cancel_flow(None, conf)


def test_order_changes_of_the_flow():
    order = {"status": "processing", "shipment_stage": "picking", "tags": ["withdrawal_requested", "x"]}
    out = sync_rules.cancelled(order, NOW, "marketplace_cancelled", withdrawn=True)
    assert out.order["status"] == "cancelled" and out.order["shipment_stage"] == "withdrawn"
    assert out.order["tags"] == ["x"]
    req = sync_rules.cancelled({**order, "shipment_stage": "requested"}, NOW, "marketplace_cancelled")
    assert req.order["shipment_stage"] == "deleted"
    held = sync_rules.held_not_reflected(order, NOW, "why", "marketplace")
    assert held.order["status"] == "on_hold" and held.order["held_from"] == "processing"
    assert held.action == "cancel_not_reflected"
    kept = sync_rules.held_not_reflected(order, NOW, "why", "merchant")
    assert kept.order["status"] == "processing"
    again = sync_rules.held_not_reflected({**order, "status": "on_hold"}, NOW, "why", "marketplace")
    assert again.order["status"] == "on_hold"
    # a merchant's own recipient change the warehouse refused: the request is dropped, no hold
    waiting = {**order, "modification": {"by": "merchant", "recipient": {"name": "x"}}}
    mod = sync_rules.held_not_reflected(waiting, NOW, "rejected", "merchant", kind="modify")
    assert (mod.order["status"], mod.order["modification"], mod.action) == (
        "processing",
        None,
        "modify_not_reflected",
    )


@pytest.mark.parametrize(
    ("marketplace", "cancel", "modify"),
    [
        ("shopify", True, False),
        ("ecforce", True, True),
        ("base", False, False),
        ("nextengine", False, False),
        ("generic", True, False),
        ("wish", True, False),
    ],
)
def test_integration_defaults(marketplace, cancel, modify):
    d = settings.effective({}, marketplace)
    assert (d["cancel_sync"], d["modify_sync"]) == (cancel, modify)
    assert d["cancel_after_confirmed"] is False and d["modify_after_confirmed"] is False
    assert d["warehouse_timeout_seconds"] == 86400 and d["warehouse_heartbeat_seconds"] is None


def test_no_sync_marketplaces_never_sync_whatever_is_stored():
    assert settings.effective({"cancel_sync": True}, "base")["cancel_sync"] is False
    assert settings.effective({"modify_sync": True}, "shopify")["modify_sync"] is True


def test_view_hides_secrets():
    v = settings.view({"api_token": "tok"}, "shopify")
    assert "api_token" not in v and v["api_token_set"] is True
    assert settings.view({}, "shopify")["api_token_set"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cancel_sync": 1}, "cancel_sync"),
        ({"hold_minutes": -1}, "hold_minutes"),
        ({"fulfillment_days": True}, "fulfillment_days"),
        ({"warehouse_timeout_seconds": "60"}, "warehouse_timeout_seconds"),
        ({"warehouse_timeout_seconds": 60, "warehouse_heartbeat_seconds": 60}, "warehouse_heartbeat_seconds"),
        ({"api_base_url": "ftp://x"}, "api_base_url"),
        ({"api_token": 5}, "api_token"),
        ({"nope": True}, "nope"),
    ],
)
def test_validation_names_the_field(body, field):
    with pytest.raises(ValidationFailed) as err:
        settings.validate(body, "shopify")
    assert err.value.field == field


def test_validation_refuses_sync_where_unsupported():
    with pytest.raises(ValidationFailed) as err:
        settings.validate({"modify_sync": True}, "base")
    assert err.value.field == "modify_sync"
    assert settings.validate({"cancel_sync": False}, "base") == {"cancel_sync": False}


@pytest.mark.parametrize(
    ("stage", "after_confirmed", "branch"),
    [
        ("requested", False, "Apply"),
        ("picking", True, "RequestWarehouse"),
        ("picked", False, "NotReflected"),
        ("packed", True, "NotReflected"),
    ],
)
def test_modify_branch_by_stage(stage, after_confirmed, branch):
    assert sync_rules.modify_branch(stage, {"modify_after_confirmed": after_confirmed}) == branch


def test_modify_changes_only_the_recipient():
    order = {"status": "processing", "recipient": {"name": "A"}, "modification": {"request_id": "r"}}
    out = sync_rules.modified(order, {"name": "B"}, accepted=True)
    assert out.order["recipient"] == {"name": "B"} and out.order["modification"] is None
    held = sync_rules.held_not_reflected(order, NOW, "why", "marketplace", "modify")
    assert held.action == "modify_not_reflected" and held.order["status"] == "on_hold"
    assert held.order["recipient"] == {"name": "A"}
    assert "modify_after_confirmed" in sync_rules.not_reflected_reason("picked", kind="modify")


def test_a_cancel_joins_a_waiting_withdrawal_or_claims_the_slot():
    now = datetime(2026, 5, 1, 9, tzinfo=UTC)
    order = {"order_id": "ord_1", "status": "processing", "shipment_stage": "picking", "version": 4}
    assert sync_rules.waiting_withdrawal(order) is None
    claimed = sync_rules.claim_withdrawal(order, now, "d-1")
    assert claimed["version"] == 5 and order.get("withdrawal") is None  # the input is not changed
    slot = claimed["withdrawal"]
    assert (slot["by"], slot["delivery_id"], slot["claim"]) == ("marketplace", "d-1", "v5")
    assert slot["execution"] == sync_rules.execution_name("cancel", "ord_1", "v5")
    assert sync_rules.waiting_withdrawal(claimed) == slot
    merchant = {**order, "withdrawal": {"by": "merchant", "request_id": "wr_1"}}
    assert sync_rules.waiting_withdrawal(merchant) == {"by": "merchant", "request_id": "wr_1"}
    # a finished order waits on nothing, whatever its withdrawal says
    assert sync_rules.waiting_withdrawal({**merchant, "status": "cancelled"}) is None


def test_a_refused_merchant_withdrawal_that_a_marketplace_cancel_joined_holds_the_order():
    now = datetime(2026, 5, 1, 9, tzinfo=UTC)
    order = {
        "order_id": "ord_1",
        "status": "processing",
        "shipment_stage": "picking",
        "version": 4,
        "tags": ["withdrawal_requested"],
        "withdrawal": {"by": "merchant", "request_id": "wr_1"},
    }
    joined = sync_rules.join_withdrawal(order, now)
    assert joined["version"] == 5 and joined["withdrawal"] == order["withdrawal"]
    alone = sync_rules.held_not_reflected(order, now, "rejected", "merchant").order
    assert alone["status"] == "processing"
    held = sync_rules.held_not_reflected(joined, now, "rejected", "merchant").order
    assert held["status"] == "on_hold" and held["withdrawal"] is None
    assert sync_rules.JOINED not in held
    accepted = sync_rules.cancelled(joined, now, "seller_cancelled", withdrawn=True).order
    assert sync_rules.JOINED not in accepted


@pytest.mark.parametrize(
    ("stage", "branch"),
    [
        ("requested", "Apply"),
        ("picking", "RequestWarehouse"),
        ("picked", "RequestWarehouse"),
        ("packed", "NotReflected"),
    ],
)
def test_a_merchants_own_recipient_change_asks_the_warehouse_whatever_the_setting(stage, branch):
    # the merchant accepted the fee (actions.edit_recipient); modify_after_confirmed is for marketplaces
    assert sync_rules.modify_branch(stage, {"modify_after_confirmed": False}, "merchant") == branch
