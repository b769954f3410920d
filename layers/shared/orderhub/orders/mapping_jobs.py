"""The apply_mappings job kind and map_order_items; register_all imports every job kind."""

from __future__ import annotations

import importlib

from orderhub.domain import actions
from orderhub.jobs import runner
from orderhub.kernel.errors import OrderhubError
from orderhub.orders import lifecycle, mappings


@runner.register("apply_mappings")
def apply_mappings(job: dict, ctx: runner.JobContext) -> None:
    """Apply the item mapping table to every order a filter shows (docs/orders.md)."""
    m = job["merchant_id"]
    # fixed at the first attempt: mapping moves orders out of a mapping=fail filter
    targets = runner.filter_targets(ctx, m, job["params"].get("filter") or {})
    for row, order in enumerate(targets, start=1):
        if ctx.done(row):
            continue
        oid, number = order["order_id"], order["order_no"]
        try:
            new = map_order_items(m, oid, actor="merchant")
            ctx.result(row, True, order_id=oid, order_no=number, mapping=new["mapping"])
        except OrderhubError as exc:
            ctx.result(row, False, order_id=oid, order_no=number, error=exc.to_body()["error"])


def map_order_items(merchant_id: str, order_id: str, actor: str = "merchant") -> dict:
    def act(order, now):
        codes = mappings.codes_for(
            merchant_id, order["marketplace"], {i["sku"] for i in order["items"]}, fresh=True
        )
        return actions.map_items(order, codes)

    new, _ = lifecycle.apply(merchant_id, order_id, act, actor=actor)
    return new


def register_all() -> None:
    """Import every module whose runners register themselves (the worker imports them lazily,
    by kind: runner.runner_for)."""
    for module in runner.KIND_MODULES.values():
        importlib.import_module(module)
