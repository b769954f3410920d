"""Webhook ingestion: receive (verify, validate, enqueue) and process (apply to the order).

Every accepted delivery ends as an applied change, a recorded ignore (duplicate, stale,
cancelled or deleted order...), a quarantined payload, or a dead-lettered message.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from datetime import datetime

from aws_lambda_powertools import Logger

from orderhub import aws, clock, ids, mappings, merchants, store
from orderhub.adapters import get_adapter
from orderhub.config import settings
from orderhub.domain.ingest import Create, Ignore, Integration, Update, decide
from orderhub.errors import (
    ConcurrentUpdate,
    DuplicateDelivery,
    MalformedPayload,
    NotFound,
    PayloadTooLarge,
)
from orderhub.models import Envelope, OrderChange

logger = Logger(child=True)

MAX_BODY_BYTES = 256 * 1024
MAX_ATTEMPTS = 5
# Headers kept with a quarantined payload (enough to replay it by hand).
_KEPT_HEADERS = {
    "content-type",
    "user-agent",
    "x-shopify-topic",
    "x-shopify-webhook-id",
    "x-shopify-shop-domain",
    "x-shopify-triggered-at",
    "x-orderhub-timestamp",
    "x-wish-topic",
    "x-wish-event-id",
}


def receive(
    adapter_name: str, merchant_id: str, headers: Mapping[str, str], body: bytes, now: datetime
) -> dict:
    """Verify and validate one webhook and enqueue it. Raises an OrderhubError on refusal."""
    adapter = get_adapter(adapter_name)
    if adapter is None:
        raise NotFound(f"unknown marketplace {adapter_name!r}", field="marketplace")
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}", field="body")
    profile = merchants.get_profile(merchant_id)
    if profile is None:
        raise NotFound(f"unknown merchant {merchant_id!r}", field="merchant_id")
    secret = (profile.get("webhook_secrets") or {}).get(adapter_name)
    if not secret:
        raise NotFound(f"merchant {merchant_id!r} has no {adapter_name} integration", field="marketplace")
    headers = {k.lower(): v for k, v in headers.items()}
    adapter.verify(headers, body, secret, now)
    try:
        delivery_id, change = adapter.parse(headers, body)
    except MalformedPayload as exc:
        qid = store.put_quarantine(
            merchant_id,
            adapter_name,
            {"code": exc.code, "message": exc.message, "field": exc.field},
            {k: v for k, v in headers.items() if k in _KEPT_HEADERS},
            body.decode("utf-8", errors="replace"),
            now,
        )
        exc.details["quarantine_id"] = qid
        raise
    envelope = Envelope(
        merchant_id=merchant_id, adapter=adapter_name, delivery_id=delivery_id, received_at=now, change=change
    )
    aws.client("sqs").send_message(
        QueueUrl=settings().ingest_queue_url, MessageBody=envelope.model_dump_json()
    )
    return {"status": "queued", "delivery_id": delivery_id, "topic": change.topic}


def _history_data(env: dict, decision) -> dict:
    data = {"delivery_id": env["delivery_id"], "topic": env["topic"]}
    if isinstance(decision, Update):
        data.update(changes=decision.changes, reason=decision.reason, ignored_fields=decision.ignored_fields)
    elif isinstance(decision, Ignore):
        data.update(reason=decision.reason, detail=decision.detail)
    return data


def process(message_body: str) -> str:
    """Apply one queued delivery. Returns the outcome: applied, ignored:<reason> or duplicate."""
    raw = json.loads(message_body)
    env_model = Envelope.model_validate(raw)
    change: OrderChange = env_model.change
    m = env_model.merchant_id
    env = {
        "merchant_id": m,
        "adapter": env_model.adapter,
        "delivery_id": env_model.delivery_id,
        "topic": change.topic,
        "marketplace_order_no": change.marketplace_order_no,
        "received_at": clock.iso(env_model.received_at),
    }
    integration = Integration.from_profile(merchants.get_profile(m), change.marketplace)
    codes = mappings.codes_for(m, change.marketplace, {i.sku for i in change.items})
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, 0.02 * 2**attempt))  # jittered backoff after a lost race
        now = clock.now()
        lookup = store.get_lookup(m, change.marketplace, change.marketplace_order_no)
        order = store.get_order(m, lookup["order_id"]) if lookup else None
        decision = decide(
            order,
            change,
            integration,
            now,
            merchant_id=m,
            order_id=ids.new_order_id(),
            packing_no=ids.new_packing_no(),
            codes=codes,
        )
        try:
            outcome = _write(env, order, decision, now)
        except DuplicateDelivery:
            store.count_duplicate(m, env["adapter"], env["delivery_id"])
            logger.info("duplicate delivery", extra={"delivery_id": env["delivery_id"]})
            return "duplicate"
        except ConcurrentUpdate as exc:
            logger.info(
                "concurrent change; retrying", extra={"reason": str(exc), "delivery_id": env["delivery_id"]}
            )
            continue
        logger.info(
            "delivery processed",
            extra={
                "delivery_id": env["delivery_id"],
                "outcome": outcome,
                "order_no": change.marketplace_order_no,
            },
        )
        return outcome
    raise ConcurrentUpdate(f"gave up after {MAX_ATTEMPTS} attempts on delivery {env['delivery_id']}")


def _write(env: dict, order: dict | None, decision, now: datetime) -> str:
    data = _history_data(env, decision)
    if isinstance(decision, Create):
        new = decision.order
        history = store.history_item(new, now, "marketplace", "created", status=new["status"], **data)
        delivery = store.delivery_item(env, "applied", "", new["order_id"], now)
        store.transact(store.create_order_ops(new, history, delivery))
        return "applied"
    if isinstance(decision, Update):
        new = dict(decision.order)
        new["version"] = order["version"] + 1
        visible = bool(decision.changes or decision.ignored_fields)
        if visible:
            new["updated_at"] = clock.iso(now)
        history = store.history_item(new, now, "marketplace", decision.action, **data) if visible else None
        reason = "" if visible else "no_change"
        delivery = store.delivery_item(env, "applied", reason, new["order_id"], now)
        store.transact(store.update_order_ops(order, new, history, delivery))
        return "applied"
    assert isinstance(decision, Ignore)
    history = store.history_item(order, now, "marketplace", "ignored", **data) if order else None
    delivery = store.delivery_item(env, "ignored", decision.reason, order["order_id"] if order else None, now)
    store.transact(store.ignore_ops(history, delivery))
    return f"ignored:{decision.reason}"
