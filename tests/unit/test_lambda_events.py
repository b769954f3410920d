"""The sample events in events/lambda/ are shaped as AWS sends them and match template.yaml.

Each sample must parse with the Powertools data class the handler uses, and validate with the
Powertools parser model (a stricter check on required fields). The payloads inside have to be
what orderhub itself would produce: Envelope bodies, order items in the layout of db.order_item.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import pytest
from aws_lambda_powertools.utilities.data_classes import (
    APIGatewayProxyEventV2,
    DynamoDBStreamEvent,
    EventBridgeEvent,
    SQSEvent,
)
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventV2Model,
    DynamoDBStreamModel,
    EventBridgeModel,
    SqsModel,
)
from cfnlint.decode import decode

from orderhub.domain.models import Envelope
from orderhub.events import publish
from orderhub.marketplaces.shopify.webhook import ShopifyAdapter
from orderhub.store import db

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events" / "lambda"
TEMPLATE = ROOT / "template.yaml"

# sample -> (function in template.yaml, Powertools data class, Powertools parser model)
SAMPLES = {
    "webhook_shopify_create.json": (
        "WebhookReceiverFunction",
        APIGatewayProxyEventV2,
        APIGatewayProxyEventV2Model,
    ),
    "merchant_list_orders.json": ("MerchantApiFunction", APIGatewayProxyEventV2, APIGatewayProxyEventV2Model),
    "merchant_get_order.json": ("MerchantApiFunction", APIGatewayProxyEventV2, APIGatewayProxyEventV2Model),
    "health.json": ("MerchantApiFunction", APIGatewayProxyEventV2, APIGatewayProxyEventV2Model),
    "ingest_sqs_batch.json": ("IngestProcessorFunction", SQSEvent, SqsModel),
    "stream_order_insert.json": ("StreamPublisherFunction", DynamoDBStreamEvent, DynamoDBStreamModel),
    "stream_order_modify.json": ("StreamPublisherFunction", DynamoDBStreamEvent, DynamoDBStreamModel),
    "hold_sweep_schedule.json": ("HoldSweepFunction", EventBridgeEvent, EventBridgeModel),
}
HTTP_SAMPLES = [name for name, (_, cls, _) in SAMPLES.items() if cls is APIGatewayProxyEventV2]
ORDER_KEYS = {"pk": "M#demo#O#ord_01TEST", "sk": "#ORDER"}


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@cache
def template() -> dict:
    data, matches = decode(str(TEMPLATE))
    assert not matches, [str(m) for m in matches]
    return json.loads(json.dumps(data))


def function_events(logical_id: str) -> dict:
    resource = template()["Resources"].get(logical_id)
    assert resource, f"template.yaml has no {logical_id}"
    return resource["Properties"].get("Events") or {}


def http_routes(logical_id: str) -> dict[str, dict]:
    """routeKey ("GET /orders/{order_id}") -> the HttpApi event's properties."""
    return {
        f"{e['Properties']['Method'].upper()} {e['Properties']['Path']}": e["Properties"]
        for e in function_events(logical_id).values()
        if e.get("Type") == "HttpApi"
    }


# ------------------------------------------------------------------ every sample
def test_every_sample_is_checked():
    on_disk = {p.name for p in EVENTS.glob("*.json")}
    assert on_disk == set(SAMPLES), f"samples without a check: {on_disk - set(SAMPLES)}"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_validates_with_powertools_parser_model(name):
    _, _, model = SAMPLES[name]
    model.model_validate(load(name))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_targets_a_function_with_a_matching_event_source(name):
    function, cls, _ = SAMPLES[name]
    expected = {
        APIGatewayProxyEventV2: "HttpApi",
        SQSEvent: "SQS",
        DynamoDBStreamEvent: "DynamoDB",
        EventBridgeEvent: "Schedule",
    }[cls]
    types = {e.get("Type") for e in function_events(function).values()}
    assert expected in types, f"{function} has no {expected} event in template.yaml (it has {types})"


# ------------------------------------------------------------------ HTTP API
@pytest.mark.parametrize("name", HTTP_SAMPLES)
def test_http_sample_is_a_route_of_its_function(name):
    function = SAMPLES[name][0]
    event = APIGatewayProxyEventV2(load(name))
    assert event.version == "2.0"
    routes = http_routes(function)
    assert event.route_key in routes, f"{event.route_key} is not a route of {function}: {sorted(routes)}"
    assert event.request_context.route_key == event.route_key
    method, path = event.route_key.split(" ", 1)
    assert event.http_method == event.request_context.http.method
    assert method in (event.http_method, "ANY")
    # rawPath is the route path with its {parameters} filled in from pathParameters
    filled = re.sub(r"\{(\w+)\+?\}", lambda m: (event.path_parameters or {})[m.group(1)], path)
    assert event.raw_path == event.request_context.http.path == filled
    query = "&".join(f"{k}={v}" for k, v in (event.query_string_parameters or {}).items())
    assert event.raw_query_string == query

    public = (routes[event.route_key].get("Auth") or {}).get("Authorizer") == "NONE"
    has_jwt = "authorizer" in event.request_context.raw_event
    assert has_jwt != public, "requests on JWT routes carry authorizer claims; public routes do not"


@pytest.mark.parametrize("name", ["merchant_list_orders.json", "merchant_get_order.json"])
def test_merchant_samples_carry_the_demo_merchant_claim(name):
    """As the stack's user pool issues them (JwtIssuer empty by default): an ID token with
    custom:merchant_id, from the user pool's issuer URL."""
    event = APIGatewayProxyEventV2(load(name))
    claims = event.request_context.authorizer.jwt_claim
    assert claims["custom:merchant_id"] == "demo" and claims["token_use"] == "id"
    assert template()["Parameters"]["JwtIssuer"]["Default"] == ""
    assert re.fullmatch(r"https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/[a-z0-9-]+_\w+", claims["iss"])


def test_list_orders_sample_query():
    event = APIGatewayProxyEventV2(load("merchant_list_orders.json"))
    assert event.route_key == "ANY /{proxy+}" and event.raw_path == "/orders"
    assert event.query_string_parameters == {"status": "new", "page_size": "25"}


def test_get_order_sample_path():
    event = APIGatewayProxyEventV2(load("merchant_get_order.json"))
    assert event.route_key == "ANY /{proxy+}"  # the merchant API's one route; its router reads rawPath
    assert event.path_parameters == {"proxy": "orders/ord_01TEST"} and event.raw_path == "/orders/ord_01TEST"


def test_shopify_webhook_sample():
    event = APIGatewayProxyEventV2(load("webhook_shopify_create.json"))
    assert event.path_parameters == {"marketplace": "shopify", "merchant_id": "demo"}
    assert event.raw_path == "/webhooks/shopify/demo"
    headers = event.headers
    assert headers["x-shopify-topic"] == "orders/create"
    assert headers["x-shopify-hmac-sha256"], "the signature header is present (a placeholder, see README)"
    assert not event.is_base64_encoded
    body = event.body.encode("utf-8")
    assert int(headers["content-length"]) == len(body)
    delivery_id, change = ShopifyAdapter().parse(headers, body)
    assert delivery_id == headers["x-shopify-webhook-id"]
    assert (change.topic, change.marketplace_order_no) == ("created", "1001")


def _context(function_name: str) -> SimpleNamespace:
    return SimpleNamespace(
        function_name=function_name,
        function_version="$LATEST",
        memory_limit_in_mb=512,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}",
        aws_request_id="5f0c8a52-0d1e-4b7e-9a7c-2b1f3c4d5e6f",
        get_remaining_time_in_millis=lambda: 30000,
    )


def test_health_sample_is_answered_by_the_merchant_api(monkeypatch):
    from orderhub.kernel import config

    monkeypatch.setenv("TABLE_NAME", "orderhub-test-table")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # the handler requires at import what template.yaml gives the function
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:orderhub-test-CancelOrderStateMachine"
    monkeypatch.setenv("CANCEL_STATE_MACHINE_ARN", arn)
    monkeypatch.setenv("MODIFY_STATE_MACHINE_ARN", arn.replace("Cancel", "Modify"))
    monkeypatch.setenv("CURSOR_KEY_ARN", "arn:aws:kms:us-east-1:123456789012:key/orderhub-test-cursor-key")
    config.settings.cache_clear()
    source = ROOT / "functions" / "merchant_api" / "app.py"
    spec = importlib.util.spec_from_file_location("_orderhub_events_merchant_api", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    try:
        response = module.lambda_handler(load("health.json"), _context("MerchantApiFunction"))
    finally:
        module.logger.clear_state()  # the Powertools logger is shared by service name
        config.settings.cache_clear()  # read again once the variables above are restored
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"status": "ok"}


# ------------------------------------------------------------------ SQS
def test_sqs_sample_bodies_are_envelopes():
    event = SQSEvent(load("ingest_sqs_batch.json"))
    records = list(event.records)
    assert len(records) == 2
    assert len({r.message_id for r in records}) == 2
    for record in records:
        assert record.event_source == "aws:sqs"
        assert record.event_source_arn.startswith("arn:aws:sqs:")
        assert record.md5_of_body == hashlib.md5(record.body.encode("utf-8")).hexdigest()  # noqa: S324
        assert int(record.attributes.approximate_receive_count) >= 1
        envelope = Envelope.model_validate_json(record.body)
        assert envelope.merchant_id == "demo"
        assert envelope.adapter == envelope.change.marketplace == "shopify"


def test_sqs_sample_matches_the_webhook_sample():
    """The first message is what the receiver enqueues for webhook_shopify_create.json."""
    webhook = APIGatewayProxyEventV2(load("webhook_shopify_create.json"))
    delivery_id, change = ShopifyAdapter().parse(webhook.headers, webhook.body.encode("utf-8"))
    first = Envelope.model_validate_json(next(SQSEvent(load("ingest_sqs_batch.json")).records).body)
    assert (first.delivery_id, first.change) == (delivery_id, change)


# ------------------------------------------------------------------ DynamoDB stream
def _only_record(name: str):
    records = list(DynamoDBStreamEvent(load(name)).records)
    assert len(records) == 1
    return records[0]


def _order(image: dict) -> dict:
    assert {k: image[k] for k in ("pk", "sk")} == ORDER_KEYS
    order = db.order_from_item(image)
    # the index attributes are the ones db.order_item() writes for this order
    written = {k: image[k] for k in db.INDEX_ATTRS if k in image}
    assert written == db.index_attrs(order), "image index attributes differ from db.order_item()"
    return order


@pytest.mark.parametrize("name", ["stream_order_insert.json", "stream_order_modify.json"])
def test_stream_samples_are_order_items_the_filter_lets_through(name):
    record = _only_record(name)
    assert record.event_source == "aws:dynamodb"
    assert record.dynamodb.keys == ORDER_KEYS
    assert record.dynamodb.stream_view_type.name == "NEW_AND_OLD_IMAGES"
    [stream] = [e for e in function_events("StreamPublisherFunction").values() if e.get("Type") == "DynamoDB"]
    for f in stream["Properties"].get("FilterCriteria", {}).get("Filters", []):
        pattern = json.loads(f["Pattern"])
        assert record.raw_event["dynamodb"]["Keys"]["sk"]["S"] in pattern["dynamodb"]["Keys"]["sk"]["S"]


def test_stream_insert_sample():
    record = _only_record("stream_order_insert.json")
    assert record.event_name.name == "INSERT"
    assert "OldImage" not in record.raw_event["dynamodb"] and not record.dynamodb.old_image
    order = _order(record.dynamodb.new_image)
    assert order["status"] == "pending"
    assert [dt for dt, _ in publish.events_for(None, order)] == ["OrderCreated"]


def test_stream_modify_sample_releases_the_order():
    record = _only_record("stream_order_modify.json")
    assert record.event_name.name == "MODIFY"
    old, new = _order(record.dynamodb.old_image), _order(record.dynamodb.new_image)
    assert (old["status"], new["status"]) == ("pending", "new")
    assert new["version"] == old["version"] + 1
    assert [dt for dt, _ in publish.events_for(old, new)] == ["OrderStatusChanged"]


# ------------------------------------------------------------------ schedule
def test_schedule_sample():
    event = EventBridgeEvent(load("hold_sweep_schedule.json"))
    assert event.detail_type == "Scheduled Event"
    assert event.source == "aws.events"
    assert event.detail == {}
    assert event.resources and event.resources[0].startswith("arn:aws:events:")
