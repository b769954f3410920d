"""Webhook ingestion: process a queued delivery (apply it to the order). The receiver's side
(verify, validate, enqueue) is webhooks/receiver.py.

Every accepted delivery ends as an applied change, a recorded ignore (duplicate, stale,
cancelled or deleted order...), a quarantined payload, or a dead-lettered message.
"""

from __future__ import annotations

import json
import random
import time
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from aws_lambda_powertools import Logger

from orderhub.domain import status as st
from orderhub.domain import sync_rules
from orderhub.domain.ingest import Create, Ignore, Update, decide
from orderhub.domain.settings import Integration
from orderhub.kernel import clock, correlation, ids, metrics
from orderhub.kernel.errors import ConcurrentUpdate, DuplicateDelivery
from orderhub.orders import mappings
from orderhub.store import db
from orderhub.sync import flows, integrations
from orderhub.sync import history as sync_history
from orderhub.webhooks import payloads

if TYPE_CHECKING:
    from orderhub.domain.models import OrderChange

logger = Logger(child=True)

MAX_ATTEMPTS = 5
# The ingest queue's maxReceiveCount (template.yaml): a delivery failing its 5th receive is dead-lettered.
MAX_RECEIVES = 5


def _history_data(env: dict, decision) -> dict:
    data = {"delivery_id": env["delivery_id"], "topic": env["topic"]}
    if env.get("via", "webhook") != "webhook":
        data["via"] = env["via"]
    if isinstance(decision, Update):
        data.update(changes=decision.changes, reason=decision.reason, ignored_fields=decision.ignored_fields)
    elif isinstance(decision, Ignore):
        data.update(reason=decision.reason, detail=decision.detail)
    return data


class Applied(NamedTuple):
    """What apply_change did. `outcome`: applied, ignored:<reason>, duplicate, or unchanged (a
    refresh that found nothing new: nothing written). `summary`, as a refresh reports it:
    updated, unchanged, cancel_flow_started or ignored:<reason>."""

    outcome: str
    summary: str


def process(message_body: str, receive_count: int = 1) -> str:
    """Apply one queued delivery. Returns the outcome: applied, ignored:<reason> or duplicate.
    A delivery that fails on its last receive (`receive_count`, SQS's ApproximateReceiveCount)
    goes to the dead-letter queue: counted DeliveriesDeadLettered."""
    try:
        return _process(message_body)
    except Exception:
        if receive_count >= MAX_RECEIVES:
            metrics.count("DeliveriesDeadLettered")
        raise


def _process(message_body: str) -> str:
    from orderhub.domain.models import Envelope

    raw = payloads.envelope_of(json.loads(message_body))
    env_model = Envelope.model_validate(raw)
    correlation.add_keys(merchant_id=env_model.merchant_id)
    return apply_change(
        env_model.merchant_id,
        env_model.change,
        adapter=env_model.adapter,
        delivery_id=env_model.delivery_id,
        received_at=env_model.received_at,
    ).outcome


def apply_change(
    merchant_id: str,
    change: OrderChange,
    *,
    adapter: str,
    delivery_id: str,
    received_at: datetime,
    via: str = "webhook",
    order_id: str | None = None,
) -> Applied:
    """Apply one normalized marketplace change for a merchant: a webhook delivery (`via`
    webhook) or what a refresh fetched (`via` refresh, orders/refresh.py, on the order
    `order_id`). One path for both (docs/sync-flows.md): decide, the stage rules and the
    integration settings (_write_cancel, _route_modify), the flows, the sync history, and the
    delivery record keyed by `delivery_id` (a refresh's is `refresh:<order_id>:<updated_at>`)."""
    m = merchant_id
    env = {
        "merchant_id": m,
        "adapter": adapter,
        "delivery_id": delivery_id,
        "topic": change.topic,
        "marketplace_order_no": change.marketplace_order_no,
        "received_at": clock.iso(received_at),
        "via": via,
    }
    refresh = via == "refresh"
    sync_conf = integrations.for_merchant(m, change.marketplace)
    integration = Integration.from_settings(sync_conf)
    codes = mappings.codes_for(m, change.marketplace, {i.sku for i in change.items})
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, 0.02 * 2**attempt))  # jittered backoff after a lost race
        if order_id is not None:
            order = db.get_order(m, order_id)
        else:
            lookup = db.get_lookup(m, change.marketplace, change.marketplace_order_no)
            order = db.get_order(m, lookup["order_id"]) if lookup else None
        # The time of this change is taken after the order is read, and never before the order's
        # last change: history stays in the order of the writes and updated_at never goes back.
        now = _not_before(clock.now(), order)
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
        if refresh and isinstance(decision, Update) and decision.order == order:
            return Applied("unchanged", "unchanged")  # nothing new at the marketplace: nothing written
        summary = ""
        try:
            outcome = _write_cancel(env, order, decision, sync_conf, now)
            if outcome is None:
                after = _route_modify(env, order, decision, sync_conf)
                if refresh and isinstance(decision, Update) and decision.action in ("updated", ""):
                    decision.action = "refreshed"
                outcome = _write(env, order, decision, now)
                if isinstance(decision, Update):
                    summary = "updated" if decision.changes or decision.ignored_fields else "unchanged"
                if isinstance(decision, Update) and decision.action == "cancelled":
                    _record_sync(env, order, "applied", decision.reason)
                if after is not None:
                    _record_sync(env, order, *after, kind="modify")
            elif outcome == "applied":
                summary = "cancel_flow_started"
        except DuplicateDelivery:
            db.count_duplicate(m, env["adapter"], env["delivery_id"])
            metrics.count("DeliveriesDuplicate", marketplace=change.marketplace, merchant_id=m)
            logger.info("duplicate delivery", extra={"delivery_id": env["delivery_id"]})
            return Applied("duplicate", "unchanged")
        except ConcurrentUpdate as exc:
            logger.info(
                "concurrent change; retrying", extra={"reason": str(exc), "delivery_id": env["delivery_id"]}
            )
            continue
        logger.info(
            "delivery processed",
            extra={
                "delivery_id": env["delivery_id"],
                "adapter": adapter,
                "via": via,
                "outcome": outcome,
                "order_no": change.marketplace_order_no,
                # received .. applied, the queue's wait included ("slowest webhooks", docs/operations.md)
                "since_received_ms": int((clock.now() - received_at).total_seconds() * 1000),
            },
        )
        _count(outcome, change.marketplace, via, m)
        return Applied(outcome, summary or ("updated" if outcome == "applied" else outcome))
    raise ConcurrentUpdate(f"gave up after {MAX_ATTEMPTS} attempts on delivery {env['delivery_id']}")


def _count(outcome: str, marketplace: str, via: str, merchant_id: str) -> None:
    if outcome == "applied":
        metrics.count("DeliveriesApplied", marketplace=marketplace, via=via, merchant_id=merchant_id)
    elif outcome.startswith("ignored:"):
        reason = outcome.split(":", 1)[1]
        metrics.count("DeliveriesIgnored", marketplace=marketplace, reason=reason, merchant_id=merchant_id)


def _not_before(now: datetime, order: dict | None) -> datetime:
    last = (order or {}).get("updated_at")
    return max(now, clock.parse_iso(last)) if last else now


def _write(env: dict, order: dict | None, decision, now: datetime) -> str:
    data = _history_data(env, decision)
    if isinstance(decision, Create):
        new = decision.order
        history = db.history_item(new, now, "marketplace", "created", status=new["status"], **data)
        delivery = db.delivery_item(env, "applied", "", new["order_id"], now)
        db.transact(db.create_order_ops(new, history, delivery))
        return "applied"
    if isinstance(decision, Update):
        new = dict(decision.order)
        new["version"] = order["version"] + 1
        visible = bool(decision.changes or decision.ignored_fields)
        if visible:
            new["updated_at"] = clock.iso(now)
        history = db.history_item(new, now, "marketplace", decision.action, **data) if visible else None
        reason = "" if visible else "no_change"
        delivery = db.delivery_item(env, "applied", reason, new["order_id"], now)
        db.transact(db.update_order_ops(order, new, history, delivery))
        return "applied"
    assert isinstance(decision, Ignore)
    history = db.history_item(order, now, "marketplace", "ignored", **data) if order else None
    delivery = db.delivery_item(env, "ignored", decision.reason, order["order_id"] if order else None, now)
    db.transact(db.ignore_ops(history, delivery))
    return f"ignored:{decision.reason}"


# ---------------------------------------------------------------- marketplace cancels (docs/sync-flows.md)
def _record_sync(
    env: dict,
    order: dict,
    outcome: str,
    reason: str,
    execution_id: str | None = None,
    kind: str = "cancel",
    **extra,
) -> None:
    sync_history.record(
        env["merchant_id"],
        kind,
        outcome,
        reason=reason,
        order_id=order["order_id"],
        execution_id=execution_id,
        marketplace=order.get("marketplace"),
        marketplace_order_no=order.get("marketplace_order_no"),
        source="marketplace",
        via=env.get("via", "webhook"),
        delivery_id=env["delivery_id"],
        **extra,
    )


def _write_cancel(env: dict, order: dict | None, decision, sync_conf: dict, now: datetime) -> str | None:
    """A marketplace cancel of an existing order that is not handled inline: with cancel sync off
    (BASE, NextEngine) it is recorded as not reflected; where the warehouse has the parcel
    (picking and later) the cancel state machine takes it. None: apply inline as usual."""
    if not isinstance(decision, Update) or decision.action not in ("cancelled", "cancel_not_reflected"):
        return None
    if not sync_conf.get("cancel_sync"):
        reason = f"{env['adapter']} cancels are not synced; cancel the order by hand"
        data = {"delivery_id": env["delivery_id"], "topic": env["topic"], "reason": "cancel_sync_off"}
        history = db.history_item(order, now, "marketplace", "cancel_not_reflected", detail=reason, **data)
        delivery = db.delivery_item(env, "ignored", "cancel_sync_off", order["order_id"], now)
        db.transact(db.ignore_ops(history, delivery))
        _record_sync(env, order, "not_reflected", reason)
        return "ignored:cancel_sync_off"
    if not sync_rules.wants_cancel_flow(order, sync_conf):
        return None
    if db.get_delivery(env["merchant_id"], env["adapter"], env["delivery_id"]):
        raise DuplicateDelivery()  # recorded before: nothing is claimed or joined again
    # One request per cancellation (docs/sync-flows.md): a cancel that finds a withdrawal waiting
    # joins it; otherwise it claims the order's withdrawal slot (conditional on the version: of
    # two cancels at once one claims, the other retries and joins), then starts the flow.
    data = {"delivery_id": env["delivery_id"], "topic": env["topic"]}
    waiting = sync_rules.waiting_withdrawal(order)
    if waiting and waiting.get("delivery_id") != env["delivery_id"]:
        rid, execution = waiting.get("request_id"), waiting.get("execution")
        joined = sync_rules.join_withdrawal(order, now)  # conditional on the version, as a claim
        history = db.history_item(
            joined, now, "marketplace", "cancel_joined", **data, request_id=rid, execution=execution
        )
        delivery = db.delivery_item(env, "applied", "cancel_joined", order["order_id"], now)
        db.transact(db.update_order_ops(order, joined, history, delivery))
        reason = f"joined the waiting withdrawal ({waiting.get('by')}'s cancel); no second request"
        _record_sync(env, order, "joined", reason, execution, request_id=rid)
        return "applied"
    if waiting is None:
        claimed = sync_rules.claim_withdrawal(order, now, env["delivery_id"])
        waiting = claimed["withdrawal"]
        history = db.history_item(
            claimed, now, "marketplace", "cancel_flow_started", **data, execution=waiting["execution"]
        )
        db.transact(db.update_order_ops(order, claimed, history, None))
    flow = {
        "merchant_id": env["merchant_id"],
        "order_id": order["order_id"],
        "source": "marketplace",
        "adapter": env["adapter"],
        "delivery_id": env["delivery_id"],
    }
    # Claimed, then started (idempotent by name), then the delivery recorded: a redelivery after a
    # crash finds its own claim and starts the same flow.
    flows.start_cancel(flow, waiting["claim"])
    delivery = db.delivery_item(env, "applied", "cancel_flow_started", order["order_id"], now)
    db.transact(db.ignore_ops(None, delivery))
    return "applied"


# ------------------------------------------------------- marketplace modifications (docs/sync-flows.md)
def _route_modify(env: dict, order: dict | None, decision, sync_conf: dict) -> tuple[str, str] | None:
    """A recipient change of an order whose shipment exists. Stage requested: carried inline when
    modify_sync is on. Picking or later: the order keeps its recipient and the modify flow takes
    the change. modify_sync off: not carried. Changes `decision` in place; returns the sync
    history (outcome, reason) to record once the write succeeded, or None."""
    if order is None or not isinstance(decision, Update) or decision.action not in ("updated", "paid"):
        return None
    stage = order.get("shipment_stage", "none")
    if "recipient" not in decision.changes or stage in st.NO_SHIPMENT_STAGES:
        return None
    ignored = " (item changes ignored)" if decision.ignored_fields else ""
    if not sync_conf.get("modify_sync"):
        _keep_recipient(order, decision)
        return "not_reflected", f"{env['adapter']} modifications are not synced{ignored}"
    if stage == "requested":
        return "applied", f"recipient carried to the shipment{ignored}"
    recipient = decision.order["recipient"]
    _keep_recipient(order, decision)
    flow = {
        "merchant_id": env["merchant_id"],
        "order_id": order["order_id"],
        "source": "marketplace",
        "adapter": env["adapter"],
        "delivery_id": env["delivery_id"],
        "recipient": recipient,
    }
    started = flows.start("modify", flow, env["delivery_id"])
    decision.reason = f"recipient change handed to the modify flow {started['execution_name']}"
    return None


def _keep_recipient(order: dict, decision: Update) -> None:
    decision.order["recipient"] = order["recipient"]
    decision.changes.pop("recipient", None)
    if "recipient" not in decision.ignored_fields:
        decision.ignored_fields.append("recipient")
