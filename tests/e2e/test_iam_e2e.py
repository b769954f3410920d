"""IAM on the local cloud, before and after: the same flows on template.yaml and on a copy with
the two grants as they stood before the local cloud enforced IAM (docs/local-cloud.md, IAM).

Before, a deployed stack would have dead-lettered every webhook (IngestProcessorFunction could
not Query the merchant's item mappings) and denied every warehouse answer (SendTask* scoped to
the state machines, where IAM authorizes them only on "*"). The local cloud must refuse both
as AWS would, and accept both with the template as it is.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import boto3
import pytest

from localcloud import LocalCloud
from localcloud.template import load_yaml
from tests.e2e.test_registration_e2e import call, order_body
from tests.e2e.test_sync_flows_e2e import finished, settings, waiting_request
from tests.support.cloud_fixtures import post_shopify_order
from tests.support.http import ROOT, Api

pytestmark = [pytest.mark.e2e]

_CODE_PATHS = ("CodeUri", "ContentUri", "DefinitionUri")


def statements(data: dict, function: str) -> list[dict]:
    """Every inline statement of a function's policies (SAM policy templates left out)."""
    policies = data["Resources"][function]["Properties"]["Policies"]
    return [s for p in policies if isinstance(p, dict) and "Statement" in p for s in p["Statement"]]


def template_before_the_fix(directory: Path) -> Path:
    """template.yaml with IngestProcessorFunction's and WarehouseApiFunction's grants as they were."""
    data = load_yaml(ROOT / "template.yaml")
    for resource in data["Resources"].values():  # the copy lives elsewhere: code paths made absolute
        props = resource.get("Properties") or {}
        for key in _CODE_PATHS:
            if isinstance(props.get(key), str):
                props[key] = str((ROOT / props[key]).resolve())
    for key in _CODE_PATHS:
        if isinstance(data.get("Globals", {}).get("Function", {}).get(key), str):
            data["Globals"]["Function"][key] = str((ROOT / data["Globals"]["Function"][key]).resolve())

    ingest = statements(data, "IngestProcessorFunction")
    table_statement = next(s for s in ingest if "dynamodb:PutItem" in s["Action"])
    assert "dynamodb:Query" in table_statement["Action"], "the fix this test guards is not in template.yaml"
    table_statement["Action"] = [a for a in table_statement["Action"] if a != "dynamodb:Query"]

    warehouse = statements(data, "WarehouseApiFunction")
    send_task = next(s for s in warehouse if "states:SendTaskSuccess" in s["Action"])
    assert send_task["Resource"] == "*", "the fix this test guards is not in template.yaml"
    send_task["Resource"] = [{"Ref": "CancelOrderStateMachine"}, {"Ref": "ModifyOrderStateMachine"}]

    path = directory / "template.yaml"
    path.write_text(json.dumps(data, indent=1))
    return path


@pytest.fixture(scope="module", params=["before", "after"])
def variant(request, tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    if request.param == "before":
        template = template_before_the_fix(tmp_path_factory.mktemp("template-before"))
    else:
        template = ROOT / "template.yaml"
    cloud = LocalCloud(template_path=template, port=0, root=ROOT, state_dir=state)
    cloud.start()
    yield request.param, cloud, Api(cloud.config, "demo")
    cloud.stop()


def denied(cloud: LocalCloud, function: str, action: str) -> bool:
    return any(f == function and a == action for f, a, _ in cloud.enforcer.denied)


def test_a_signed_webhook_is_applied_only_with_the_query_grant(variant):
    which, cloud, api = variant
    if which == "after":
        order, _ = post_shopify_order(api, cloud, 7001, 5)
        assert order["marketplace_order_no"] == "7001"
        assert not cloud.enforcer.denied
        return
    payload = copy.deepcopy(json.loads((ROOT / "events/shopify/orders_create.json").read_text()))
    payload.update(id=940000007001, order_number=7001, name="#7001")
    assert api.post_webhook("shopify", payload, topic="orders/create").status == 200  # accepted...
    sqs = boto3.client("sqs", endpoint_url=cloud.endpoint_url, region_name="us-east-1")
    dlq = sqs.get_queue_url(QueueName=cloud.physical_name("IngestDLQ"))["QueueUrl"]

    def dead_lettered():
        msgs = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        return [m for m in msgs if "7001" in m["Body"]]

    assert api.wait_for(dead_lettered, timeout=60, interval=0.5)  # ...and dead-lettered
    assert denied(cloud, "IngestProcessorFunction", "dynamodb:Query")
    assert api.get("/orders?q=7001").json["orders"] == []


def test_a_warehouse_answer_resumes_the_cancel_flow_only_with_send_task_on_every_resource(variant):
    which, cloud, api = variant
    settings(api, cancel_after_confirmed=False)
    order = call(api, "POST", "/orders", order_body("IAM-1")).json
    oid = order["order_id"]
    assert api.call("POST", "/orders/confirm", {"order_ids": [oid]}).json["results"][0]["ok"]
    mapping = {"marketplace": "rakuten", "sku": "TS-RED-M", "item_code": "IT-TS-RED-M"}
    assert api.call("PUT", "/item-mappings", {"mappings": [mapping]}).status == 200
    assert api.call("POST", f"/orders/{oid}/map-items").status == 200
    packing = api.call("POST", f"/orders/{oid}/ship-request").json["packing_no"]
    stage = api.warehouse("POST", f"/warehouse/shipments/{packing}/stage", {"stage": "picking"})
    assert stage.status == 200, stage
    assert (
        api.call("POST", f"/orders/{oid}/cancel", {"reason": "buyer changed mind", "accept_fee": True}).status
        == 202
    )
    rid = waiting_request(api, oid)
    answer = api.warehouse("POST", f"/warehouse/requests/{rid}", {"decision": "accepted"})
    if which == "before":
        assert answer.status == 500 and answer.json["error"]["code"] == "internal_error", answer
        assert denied(cloud, "WarehouseApiFunction", "states:SendTaskSuccess")
        assert api.get(f"/orders/{oid}").json["status"] != "cancelled"
        return
    assert answer.status == 200, answer
    assert finished(api, cloud, oid)["status"] == "SUCCEEDED"
    assert api.get(f"/orders/{oid}").json["status"] == "cancelled"
    assert not cloud.enforcer.denied
