"""The cancel and modify flows' steps (statemachines/*.asl.json; docs/sync-flows.md).

The state machine passes one `flow` document from step to step; each step is a function here,
run by functions/sync_flow/app.py on event["step"]. The rules that need no AWS (`cancel_branch`,
`execution_name`, the order changes) are in orderhub/domain/sync_rules.py.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from orderhub.domain import status as st
from orderhub.domain.actions import WITHDRAWAL_TAG, Outcome
from orderhub.domain.sync_rules import (
    JOINED,
    cancel_branch,
    cancelled,
    execution_name,
    held_not_reflected,
    modified,
    modify_branch,
    not_reflected_reason,
)
from orderhub.kernel import aws, clock, correlation, metrics
from orderhub.kernel.config import require, settings
from orderhub.kernel.errors import Conflict, NotFound
from orderhub.orders import lifecycle
from orderhub.store import db, keys
from orderhub.sync import history as sync_history
from orderhub.sync import integrations

logger = Logger(child=True)


# ---------------------------------------------------------------------- starting
def start_cancel(flow: dict, business_id: str) -> dict:
    """Start the cancel flow; a second start for the same business id starts nothing."""
    return start("cancel", flow, business_id)


def start(kind: str, flow: dict, business_id: str) -> dict:
    """Start the `kind` flow; a second start for the same business id starts nothing."""
    field = f"{kind}_state_machine_arn"
    arn = getattr(require(field, why=f"starting the {kind} flow"), field)
    name = execution_name(kind, flow["order_id"], business_id)
    flow = {**flow, "kind": kind, "execution_name": name}
    if correlation.current():  # every step of the execution logs and writes under it
        flow[correlation.ATTRIBUTE] = correlation.current()
    sfn = aws.client("stepfunctions")
    try:
        resp = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(flow))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        logger.info("flow already started", extra={"execution_name": name})
        return {"execution_name": name, "started": False}
    metrics.count("FlowsStarted", flow=kind, merchant_id=flow.get("merchant_id"))
    return {"execution_name": name, "execution_arn": resp["executionArn"], "started": True}


# ---------------------------------------------------------------------- steps
# The warehouse's answers a flow records, as counted (kernel/metrics.py); `timeout` is the
# state machine's TimedOut state (the request's TimeoutSeconds or HeartbeatSeconds passed).
_ANSWER_METRICS = {"accepted": "FlowsAccepted", "rejected": "FlowsRejected", "timeout": "FlowsTimedOut"}


def _record(flow: dict, outcome: str, reason: str = "", paid: bool = False, answer: str = "") -> None:
    if answer in _ANSWER_METRICS:
        metrics.count(
            _ANSWER_METRICS[answer], flow=flow.get("kind", "cancel"), merchant_id=flow["merchant_id"]
        )
    sync_history.record(
        flow["merchant_id"],
        flow.get("kind", "cancel"),
        outcome,
        reason=reason,
        paid=paid,
        order_id=flow["order_id"],
        execution_id=flow.get("execution_id") or flow.get("execution_name"),
        marketplace=flow.get("marketplace"),
        marketplace_order_no=flow.get("marketplace_order_no"),
        source=flow.get("source"),
        delivery_id=flow.get("delivery_id"),
        request_id=flow.get("request_id"),
    )


def load_and_decide(flow: dict) -> dict:
    order = lifecycle.load(flow["merchant_id"], flow["order_id"])
    conf = integrations.for_merchant(flow["merchant_id"], order["marketplace"])
    stage = order.get("shipment_stage", "none")
    if flow.get("kind") == "modify":
        branch = modify_branch(stage, conf, flow.get("source", "marketplace"))
    else:
        branch = cancel_branch(stage, conf, flow.get("source", "marketplace"))
    if order["status"] in st.TERMINAL_STATUSES:
        branch = "Done"
    out = {
        **flow,
        "marketplace": order["marketplace"],
        "marketplace_order_no": order["marketplace_order_no"],
        "stage": stage,
        "branch": branch,
        "timeout_seconds": int(conf["warehouse_timeout_seconds"]),
    }
    if branch == "RequestWarehouse":
        out["request_id"] = flow.get("request_id") or "wr_" + secrets.token_hex(8)
        if conf.get("warehouse_heartbeat_seconds"):
            # the warehouse must then say "still working" at least this often (POST .../heartbeat)
            out["heartbeat_seconds"] = int(conf["warehouse_heartbeat_seconds"])
    return out


def cancel(flow: dict) -> dict:
    reason = "marketplace_cancelled" if flow.get("source") == "marketplace" else "seller_cancelled"
    _, outcome = lifecycle.apply(
        flow["merchant_id"], flow["order_id"], lambda o, now: cancelled(o, now, reason), actor="system"
    )
    _record(flow, "applied", outcome.data.get("reason", ""))
    return {**flow, "result": "cancelled"}


def request_warehouse(flow: dict, task_token: str) -> dict:
    """Store the task token on a warehouse request item and mark the order; the flow waits."""
    now = clock.now()
    rid = flow["request_id"]
    aws.table(settings().table_name).put_item(
        Item={
            **keys.request_key(rid),
            "entity": "warehouse_request",
            "request_id": rid,
            "merchant_id": flow["merchant_id"],
            "order_id": flow["order_id"],
            "kind": flow.get("kind", "cancel"),
            "paid": True,
            "state": "waiting",
            "task_token": task_token,
            "execution_name": flow.get("execution_name"),
            "requested_at": clock.iso(now),
        }
    )

    def mark(order: dict, at: datetime) -> Outcome:
        new = dict(order)
        if flow.get("kind") == "modify":
            new["modification"] = {
                "requested_at": clock.iso(at),
                "request_id": rid,
                "paid": True,
                "by": flow.get("source", "marketplace"),
                "recipient": flow.get("recipient"),
            }
            return Outcome(new, "modification_requested", {"request_id": rid, "paid": True})
        new["withdrawal"] = {
            **(order.get("withdrawal") or {}),
            "requested_at": (order.get("withdrawal") or {}).get("requested_at") or clock.iso(at),
            "request_id": rid,
            "paid": True,
            "by": flow.get("source", "marketplace"),
            "execution": flow.get("execution_id") or flow.get("execution_name"),
        }
        new["tags"] = sorted({*order.get("tags", []), WITHDRAWAL_TAG})
        return Outcome(new, "withdrawal_requested", {"request_id": rid, "paid": True})

    lifecycle.apply(flow["merchant_id"], flow["order_id"], mark, actor="system")
    what = "modification" if flow.get("kind") == "modify" else "cancellation"
    _record(flow, "requested", f"paid {what} request sent to the warehouse", paid=True)
    return {"request_id": rid}


def apply_modification(flow: dict) -> dict:
    """No shipment work started: the new recipient is carried (name, address, phone, email)."""
    lifecycle.apply(
        flow["merchant_id"], flow["order_id"], lambda o, now: modified(o, flow["recipient"]), actor="system"
    )
    _record(flow, "applied", "recipient carried to the shipment")
    return {**flow, "result": "modified"}


def warehouse_accepted(flow: dict) -> dict:
    if flow.get("kind") == "modify":
        lifecycle.apply(
            flow["merchant_id"],
            flow["order_id"],
            lambda o, now: modified(o, flow["recipient"], accepted=True),
            actor="warehouse",
        )
        _record(
            flow, "accepted", "the warehouse changed the shipment's recipient", paid=True, answer="accepted"
        )
        return {**flow, "result": "modified"}
    reason = "marketplace_cancelled" if flow.get("source") == "marketplace" else "seller_cancelled"
    new, _ = lifecycle.apply(
        flow["merchant_id"],
        flow["order_id"],
        lambda o, now: cancelled(o, now, reason, withdrawn=True),
        actor="warehouse",
    )
    _record(flow, "accepted", "the warehouse withdrew the shipment", paid=True, answer="accepted")
    if flow.get("source") == "merchant":
        from orderhub.sync import reflect  # the marketplace client, only when a merchant cancelled

        reflect.after_merchant_cancel(new)  # tags mall_reflect_error itself when it fails
    return {**flow, "result": "cancelled"}


def not_reflected(flow: dict) -> dict:
    outcome = flow.get("outcome") or "not_reflected"
    detail = ""
    if outcome == "rejected" and flow.get("request_id"):
        req = aws.table(settings().table_name).get_item(Key=keys.request_key(flow["request_id"])).get("Item")
        detail = str((req or {}).get("answer_reason") or "").strip()
    kind = flow.get("kind", "cancel")
    reason = not_reflected_reason(flow.get("stage", ""), outcome, detail, kind)
    lifecycle.apply(
        flow["merchant_id"],
        flow["order_id"],
        lambda o, now: held_not_reflected(o, now, reason, flow.get("source", "marketplace"), kind),
        actor="system",
    )
    paid = flow.get("branch") == "RequestWarehouse"
    _record(flow, "rejected" if outcome == "rejected" else "not_reflected", reason, paid=paid, answer=outcome)
    return {**flow, "result": "not_reflected", "reason": reason}


def record_failure(flow: dict) -> dict:
    error = flow.get("error") or {}
    reason = f"flow failed: {error.get('Error', 'unknown')}"
    logger.error("sync flow failed", extra={"order_id": flow.get("order_id"), "error": error})
    try:
        order = lifecycle.load(flow["merchant_id"], flow["order_id"])
        history = db.history_item(order, clock.now(), "system", "sync_failed", reason=reason)
        aws.table(settings().table_name).put_item(Item=history)
        _release_claim(flow, order)
    except NotFound:
        pass
    _record(flow, "not_reflected", reason)
    return {**flow, "result": "failed", "reason": reason}


def _release_claim(flow: dict, order: dict) -> None:
    """A failed flow frees the withdrawal it held (a marketplace cancel's claim, or the request it
    sent), so a later cancel starts a flow of its own instead of joining one that is over."""
    execution = flow.get("execution_id") or flow.get("execution_name")
    if not execution or (order.get("withdrawal") or {}).get("execution") != execution:
        return

    def release(o: dict, at: datetime) -> Outcome:
        if (o.get("withdrawal") or {}).get("execution") != execution:
            raise Conflict("the withdrawal changed meanwhile")  # nothing of this flow's to free
        new = {**o, "withdrawal": None, "tags": sorted(set(o.get("tags", [])) - {WITHDRAWAL_TAG})}
        new.pop(JOINED, None)
        return Outcome(new, "withdrawal_released", {"reason": f"the flow {execution} failed"})

    try:
        lifecycle.apply(flow["merchant_id"], flow["order_id"], release, actor="system", current=order)
    except Conflict:
        pass


STEPS = {
    "load_and_decide": load_and_decide,
    "cancel": cancel,
    "apply_modification": apply_modification,
    "warehouse_accepted": warehouse_accepted,
    "not_reflected": not_reflected,
    "record_failure": record_failure,
}


def handle(event: dict) -> dict:
    """One step: event = {step, flow, task_token?, execution_id?}."""
    step = event.get("step")
    flow = dict(event.get("flow") or {})
    if event.get("execution_id"):
        flow["execution_id"] = event["execution_id"]
    if step == "request_warehouse":
        return request_warehouse(flow, event["task_token"])
    fn = STEPS.get(step or "")
    if fn is None:
        raise ValueError(f"unknown step {step!r}")
    return fn(flow)


# ---------------------------------------------------------------------- the warehouse's answer
class RequestAnswered(Conflict):
    code = "request_answered"


def answer(request_id: str, decision: Any, reason: Any) -> dict:
    """POST /warehouse/requests/{request_id}: accepted or rejected; the waiting flow resumes."""
    from orderhub.kernel.errors import ValidationFailed

    if decision not in ("accepted", "rejected"):
        raise ValidationFailed("decision must be accepted or rejected", field="decision")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
        raise ValidationFailed("reason must be text of at most 500 characters", field="reason")
    table = aws.table(settings().table_name)
    item = table.get_item(Key=keys.request_key(request_id)).get("Item")
    if not item:
        raise NotFound(f"no warehouse request {request_id}", field="request_id")
    try:
        table.update_item(
            Key=keys.request_key(request_id),
            UpdateExpression="SET #s = :d, answered_at = :at, answer_reason = :r",
            ConditionExpression="#s = :w",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={
                ":d": decision,
                ":w": "waiting",
                ":at": clock.iso(clock.now()),
                ":r": reason or "",
            },
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        raise RequestAnswered(f"request {request_id} was already answered", field="request_id") from None
    sfn = aws.client("stepfunctions")
    token = item["task_token"]
    if decision == "accepted":
        output = json.dumps({"decision": decision, "reason": reason or ""})
        _to_waiting_task(request_id, lambda: sfn.send_task_success(taskToken=token, output=output))
    else:
        _to_waiting_task(
            request_id,
            lambda: sfn.send_task_failure(taskToken=token, error="WarehouseRejected", cause=reason or ""),
        )
    return {
        "request_id": request_id,
        "order_id": item["order_id"],
        "merchant_id": item["merchant_id"],
        "decision": decision,
    }


def heartbeat(request_id: str) -> dict:
    """POST /warehouse/requests/{request_id}/heartbeat: the warehouse is still working on it."""
    item = aws.table(settings().table_name).get_item(Key=keys.request_key(request_id)).get("Item")
    if not item:
        raise NotFound(f"no warehouse request {request_id}", field="request_id")
    if item.get("state") != "waiting":
        raise RequestAnswered(f"request {request_id} was already answered", field="request_id")
    sfn = aws.client("stepfunctions")
    _to_waiting_task(request_id, lambda: sfn.send_task_heartbeat(taskToken=item["task_token"]))
    return {"request_id": request_id, "state": "waiting"}


def _to_waiting_task(request_id: str, send) -> None:
    """Call the flow waiting on a request's task token; a flow that stopped waiting is a 409."""
    try:
        send()
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
            raise
        raise RequestAnswered(
            f"request {request_id} is no longer waiting (timed out)", field="request_id"
        ) from None
