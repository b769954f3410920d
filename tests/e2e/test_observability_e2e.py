"""What an operator sees, through the local cloud (docs/observability.md, docs/operations.md).

One correlation id follows a delivery and a merchant action: the HTTP answer names it, and
every log line, history entry, delivery record, sync entry and domain event the work caused
carries it. And the functions' metrics count webhooks and deliveries by marketplace and outcome."""

from __future__ import annotations

import copy
import itertools
import uuid

import pytest

from tests.support.bus import OrderEvents
from tests.support.http import load_event, request

pytestmark = [pytest.mark.e2e]
_numbers = itertools.count(7301)


def shopify_order() -> dict:
    order = copy.deepcopy(load_event("shopify/orders_create.json"))
    n = next(_numbers)
    order.update({"id": 820982911946160000 + n, "order_number": n, "name": f"#{n}"})
    return order


@pytest.fixture(scope="module")
def order_events(cloud):
    return OrderEvents(cloud, "e2e-correlation").of


def test_one_webhook_is_followed_by_its_correlation_id_into_every_line_and_event(api, cloud, order_events):
    payload = shopify_order()
    delivery = str(uuid.uuid4())
    resp = api.post_webhook("shopify", payload, topic="orders/create", delivery_id=delivery)
    assert resp.status == 200, resp
    cid = resp.headers.get("x-correlation-id")
    assert cid and uuid.UUID(cid)
    cloud.drain(timeout=10)

    order = api.get(f"/orders?q={payload['order_number']}").json["orders"][0]
    detail = api.get(f"/orders/{order['order_id']}").json
    assert [(h["action"], h.get("correlation_id")) for h in detail["history"]] == [("created", cid)]
    assert api.get(f"/webhook-deliveries/shopify/{delivery}").json["correlation_id"] == cid

    created = api.wait_for(
        lambda: [e for e in order_events(order["order_id"]) if e["detail-type"] == "OrderCreated"], timeout=10
    )
    assert created[0]["detail"]["correlation_id"] == cid

    lines = cloud.logs(cid)
    messages = [line["message"] for line in lines]
    # the receiver, the processor and the stream's publisher each said what they did with it
    assert "webhook queued" in messages and "delivery processed" in messages
    assert "events published" in messages
    names = {line["message"]: line.get("function_name") for line in lines}
    assert names["webhook queued"] == "WebhookReceiverFunction"
    assert names["delivery processed"] == "IngestProcessorFunction"
    assert names["events published"] == "StreamPublisherFunction"
    for line in lines:
        if line.get("correlation_id") == cid:  # the delivery's own lines name its merchant
            assert line.get("merchant_id") == "demo", line
    # and no line about this delivery carries another id
    about = [line for line in cloud.logs() if line.get("delivery_id") == delivery]
    assert about and all(line.get("correlation_id") == cid for line in about), about


def test_a_merchant_action_carries_its_id_into_the_history_the_event_and_the_answer(api, cloud, order_events):
    payload = shopify_order()
    resp = api.post_webhook("shopify", payload, topic="orders/create")
    webhook_cid = resp.headers.get("x-correlation-id")
    cloud.drain(timeout=10)
    order = api.get(f"/orders?q={payload['order_number']}").json["orders"][0]
    if order["status"] == "pending":  # past its payment hold by the sweep
        cloud.fire("HoldSweepFunction")
        cloud.drain(timeout=10)

    confirm = api.call("POST", "/orders/confirm", {"order_ids": [order["order_id"]]})
    assert confirm.status == 200, confirm
    cid = confirm.headers.get("x-correlation-id")
    assert cid and cid != webhook_cid
    cloud.drain(timeout=10)

    history = api.get(f"/orders/{order['order_id']}").json["history"]
    confirmed = [h for h in history if h["action"] == "confirmed"]
    assert confirmed and confirmed[-1]["correlation_id"] == cid
    assert history[0]["correlation_id"] == webhook_cid
    changed = api.wait_for(
        lambda: [e for e in order_events(order["order_id"]) if e["detail"].get("correlation_id") == cid],
        timeout=10,
    )
    assert changed[0]["detail-type"] == "OrderStatusChanged"
    assert all(
        line.get("merchant_id") == "demo" for line in cloud.logs(cid) if line.get("correlation_id") == cid
    )


def test_an_answer_names_its_id_even_when_it_refuses(api, cloud):
    refused = api.post_webhook("shopify", shopify_order(), topic="orders/create", secret="not-the-secret")
    assert refused.status == 401
    cid = refused.headers.get("x-correlation-id")
    assert cid and any(line["message"] == "webhook refused" for line in cloud.logs(cid))
    bad = api.get("/orders?status=nonsense")
    assert bad.status == 400 and bad.headers.get("x-correlation-id")


def test_webhooks_and_deliveries_are_counted_by_marketplace_and_outcome(api, cloud):
    def now(name, **dims):
        return cloud.metrics(name, **dims)

    before = {
        "received": now("WebhooksReceived", marketplace="shopify"),
        "verified": now("WebhooksVerified", marketplace="shopify"),
        "applied": now("DeliveriesApplied", marketplace="shopify", via="webhook"),
        "duplicate": now("DeliveriesDuplicate", marketplace="shopify"),
        "refused": now("WebhooksRefused", marketplace="shopify", reason="invalid_signature"),
        "other": now("WebhooksReceived", marketplace="other"),
    }
    payload = shopify_order()
    delivery = str(uuid.uuid4())
    assert api.post_webhook("shopify", payload, topic="orders/create", delivery_id=delivery).status == 200
    assert api.post_webhook("shopify", payload, topic="orders/create", delivery_id=delivery).status == 200
    assert api.post_webhook("shopify", payload, topic="orders/create", secret="wrong").status == 401
    # a path naming no marketplace is counted as `other`, never under the client's own text
    assert request("POST", f"{api.base}/webhooks/made-up/demo", b"{}", {}).status == 404
    cloud.drain(timeout=10)

    assert now("WebhooksReceived", marketplace="shopify") == before["received"] + 3
    assert now("WebhooksVerified", marketplace="shopify") == before["verified"] + 2
    assert now("DeliveriesApplied", marketplace="shopify", via="webhook") == before["applied"] + 1
    assert now("DeliveriesDuplicate", marketplace="shopify") == before["duplicate"] + 1
    assert now("WebhooksRefused", marketplace="shopify", reason="invalid_signature") == before["refused"] + 1
    assert now("WebhooksReceived", marketplace="other") == before["other"] + 1
    assert not [r for r in cloud.kept_metrics.snapshot() if r["dimensions"].get("marketplace") == "made-up"]


def test_the_local_metrics_page_answers_what_the_functions_counted(api, cloud):
    api.post_webhook("shopify", shopify_order(), topic="orders/create")
    cloud.drain(timeout=10)
    token = cloud.config["admin_token"]
    resp = request(
        "GET", cloud.config["api_url"] + "/_local/metrics", None, {"Authorization": f"Bearer {token}"}
    )
    assert resp.status == 200
    rows = {(r["name"], r["dimensions"].get("marketplace")): r["value"] for r in resp.json["metrics"]}
    assert rows[("DeliveriesApplied", "shopify")] >= 1
    assert request("GET", cloud.config["api_url"] + "/_local/metrics").status == 401
