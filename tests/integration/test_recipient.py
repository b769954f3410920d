"""A merchant's change of an order's recipient on moto (orders/recipient.py; docs/orders.md "Change
the recipient"): carried at once before picking, with the history and the sync history; a paid
modification request in picking starts the modify flow (moto's state machines), the order keeping
its recipient; refusals change nothing."""

from __future__ import annotations

import boto3
import pytest

from orderhub.domain.actions import RuleRefused
from orderhub.fulfillment.warehouse import report_stage
from orderhub.kernel import clock
from orderhub.kernel.errors import ValidationFailed
from orderhub.orders import queries, recipient
from orderhub.store import db
from orderhub.sync import history as sync_history
from tests.integration.test_shipments import requested
from tests.support.factories import T0
from tests.support.moto_env import moto_app


@pytest.fixture
def flows_env():
    with moto_app(state_machines=True) as env:
        yield env


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.freeze(T0)
    yield
    clock.freeze(None)


def test_before_picking_the_change_is_carried_and_recorded(flows_env):
    order = requested("R-1")
    new, outcome = recipient.edit(
        "demo", order["order_id"], {"address1": "中央区銀座 4-6-16"}, order["version"]
    )
    assert outcome.action == "recipient_edited" and not outcome.accepted_only
    stored = db.get_order("demo", order["order_id"])
    assert stored["recipient"]["address1"] == "中央区銀座 4-6-16" and stored["items"] == order["items"]
    [entry] = [
        h
        for h in queries.get_order_with_history("demo", order["order_id"])["history"]
        if h["action"] == "recipient_edited"
    ]
    assert entry["changed"] == ["address1"] and entry["actor"] == "merchant"
    [sync] = sync_history.list_page("demo", {"kind": "modify"})["entries"]
    assert (sync["outcome"], sync["source"], sync["order_id"]) == ("applied", "merchant", order["order_id"])
    assert "carried to the shipment request" in sync["reason"]


def test_in_picking_a_paid_request_starts_the_modify_flow(flows_env):
    order = requested("R-2")
    report_stage(order["packing_no"], {"stage": "picking"})
    before = db.get_order("demo", order["order_id"])
    with pytest.raises(RuleRefused) as err:
        recipient.edit("demo", order["order_id"], {"city": "札幌市"})
    assert err.value.details["rule"] == "paid_request_consent"
    assert db.get_order("demo", order["order_id"]) == before  # nothing changed

    new, outcome = recipient.edit("demo", order["order_id"], {"city": "札幌市"}, accept_fee=True)
    assert outcome.action == "modify_requested" and outcome.accepted_only
    assert new["recipient"] == before["recipient"] and new["modification"]["recipient"]["city"] == "札幌市"
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    arn = flows_env["MODIFY_STATE_MACHINE_ARN"]
    names = [e["name"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]]
    assert names == [f"modify-{order['order_id']}-v{new['version']}"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"items": []}, "recipient.items"),
        ({"country": "JPN"}, "recipient.country"),
        ({"name": 7}, "recipient.name"),
        ([], "recipient"),
    ],
)
def test_a_bad_change_is_a_400_naming_the_field(flows_env, change, field):
    order = requested("R-3")
    with pytest.raises(ValidationFailed) as err:
        recipient.edit("demo", order["order_id"], change)
    assert err.value.field == field
    assert db.get_order("demo", order["order_id"])["version"] == order["version"]
