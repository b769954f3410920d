"""Merchant actions on every order a filter shows, as background jobs (docs/orders.md, "Actions on
a whole search"): confirm, send shipping info, and retry a failed reflect.

A job fixes its orders when it first runs (runner.filter_targets), so a row names the same order
in every attempt although the action moves orders out of the filter. A confirm or a shipping
request writes its row's result in the transaction that changes the order: a retried attempt
finds the row done and never acts twice. A reflect retry's result follows its marketplace call:
an attempt that crashed in between sends the same change again, and an order already untagged
is reported skipped.
"""

from __future__ import annotations

from typing import Any

from orderhub.domain import actions
from orderhub.jobs import runner
from orderhub.kernel.errors import ConcurrentUpdate, OrderhubError
from orderhub.orders import lifecycle, list_params

# job kind -> the merchant action each row runs (the same rule as the one-order route)
ORDER_RULES = {
    "confirm": lambda o, now: actions.confirm(o, now),
    "ship_request": lambda o, now: actions.ship_request(o, now),
}
KINDS = (*ORDER_RULES, "retry_reflect")


def start(merchant_id: str, kind: str, filter: Any) -> dict:
    """Queue a `kind` job over every order the GET /orders `filter` shows (checked now: a bad
    filter is a 400, never a failed job)."""
    assert kind in KINDS
    return runner.create(merchant_id, kind, {"filter": list_params.filter_params(filter)})


def _row_error(exc: Exception) -> dict:
    if isinstance(exc, ConcurrentUpdate):
        return {"code": "concurrent_update", "message": str(exc)}
    assert isinstance(exc, OrderhubError)
    return exc.to_body()["error"]


def _run_order_rule(job: dict, ctx: runner.JobContext) -> None:
    m, rule = job["merchant_id"], ORDER_RULES[job["kind"]]
    targets = runner.filter_targets(ctx, m, job["params"].get("filter") or {})
    for row, target in enumerate(targets, start=1):
        if ctx.done(row):
            continue
        oid, number = target["order_id"], target["order_no"]

        def with_result(_old: dict, new: dict, row: int = row, oid: str = oid, number: str = number) -> list:
            # the row's result, written in the transaction that changes the order
            return [
                ctx.result_op(
                    row,
                    True,
                    order_id=oid,
                    order_no=number,
                    status=new["status"],
                    shipment_stage=new.get("shipment_stage", "none"),
                    packing_no=new.get("packing_no") if job["kind"] == "ship_request" else None,
                )
            ]

        try:
            lifecycle.apply(m, oid, rule, actor="merchant", extra_ops=with_result)
        except (OrderhubError, ConcurrentUpdate) as exc:
            ctx.result(row, False, order_id=oid, order_no=number, error=_row_error(exc))
            continue
        ctx.recorded(True)


runner.register("confirm")(_run_order_rule)
runner.register("ship_request")(_run_order_rule)


@runner.register("retry_reflect")
def run_retry_reflect(job: dict, ctx: runner.JobContext) -> None:
    """Retry the failed reflect of every order of the filter that has one; an order without one
    is skipped (the console's filter is tag=mall_reflect_error, but the merchant may have cleared
    or retried one meanwhile)."""
    from orderhub.sync import reflect  # the marketplace clients: only this kind needs them

    m = job["merchant_id"]
    targets = runner.filter_targets(ctx, m, job["params"].get("filter") or {})
    for row, target in enumerate(targets, start=1):
        if ctx.done(row):
            continue
        oid, number = target["order_id"], target["order_no"]
        try:
            new = reflect.retry(m, oid)
        except OrderhubError as exc:
            error = exc.to_body()["error"]
            if error.get("rule") == "no_reflect_error":
                ctx.result(row, True, order_id=oid, order_no=number, skipped=True, reason="no reflect error")
            else:
                ctx.result(row, False, order_id=oid, order_no=number, error=error)
            continue
        except ConcurrentUpdate as exc:
            ctx.result(row, False, order_id=oid, order_no=number, error=_row_error(exc))
            continue
        ctx.result(row, True, order_id=oid, order_no=number, status=new["status"])
