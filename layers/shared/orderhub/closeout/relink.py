"""Relink a deleted marketplace order (docs/orders.md): the merchant's request, and the sweep that does it.

The request only marks the order `relinking` (and puts it on the sparse by_due index, kind
RELINK); the sweep (every 10 minutes) reads only those items, fetches each order from its
marketplace, applies the checks of orderhub.domain.closeout.relink_problem, and either records
`relink_failed` with the reason, or in one transaction creates the order again from the
marketplace's current data with a new packing number, re-points the number's lookup to it,
retires the old packing number and marks the deleted order `relinked` (linked both ways). When
that write is refused because another order holds the number, relink_number_problem decides:
`duplicate`, or (a deleted holder) the write again, taking the number over.
Every request ends `relinked` or `relink_failed`: what the sweep cannot finish for its own
reason (an unexpected error, a lost write) is tried again by the next sweeps, and ended as
`internal_error` once it has waited closeout.RELINK_RETRY_FOR.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from orderhub.closeout import cancelled_orders
from orderhub.domain import closeout
from orderhub.domain.actions import Outcome
from orderhub.domain.ingest import new_order
from orderhub.kernel import clock, ids, metrics
from orderhub.kernel.errors import ConcurrentUpdate
from orderhub.marketplaces.client import MarketplaceError
from orderhub.marketplaces.registry import client_for
from orderhub.orders import lifecycle, mappings, queries
from orderhub.schedules import sweeps
from orderhub.store import db, keys
from orderhub.sync import integrations

logger = Logger(child=True)


def request(merchant_id: str, order_id: str, expected_version: Any = None) -> dict:
    """Mark a deleted api order `relinking` (202); the relink sweep does the rest."""
    start = cancelled_orders.service_start(merchant_id)

    def action(order: dict, now: datetime) -> Outcome:
        closeout.check_relink(order, now, start)
        return Outcome(closeout.relink_requested(order, now), "relink_requested")

    new, _ = lifecycle.apply(
        merchant_id, order_id, action, actor="merchant", expected_version=expected_version
    )
    return queries.order_view(new)


def _fail(order: dict, reason: str, now: datetime, **details) -> bool:
    new = closeout.relink_failed(order, reason, now, **details)
    new["version"] = order["version"] + 1
    new["updated_at"] = clock.iso(now)
    history = db.history_item(new, now, "system", "relink_failed", reason=reason, **details)
    try:
        db.transact(db.update_order_ops(order, new, history, None))
    except ConcurrentUpdate:
        return False
    return True


def _gave_up(order: dict, now: datetime, error: str, meanwhile: str) -> str:
    """A request the sweep could not finish for its own reason: `meanwhile` (the next sweep tries
    again) until it has waited RELINK_RETRY_FOR, then it ends `relink_failed` / internal_error."""
    if not closeout.relink_gives_up(order, now):
        return meanwhile
    try:
        ok = _fail(order, "internal_error", now, error=error)
    except Exception:  # the store itself failing: the next sweep ends it
        logger.exception(
            "relink could not record internal_error",
            extra={"merchant_id": order.get("merchant_id"), "order_id": order.get("order_id")},
        )
        return "errors"
    return "failed:internal_error" if ok else "skipped"


def relink_one(order: dict, now: datetime) -> str:
    """`relinked`, `failed:<reason>` or `skipped` (another sweep or the merchant changed it)."""
    m = order["merchant_id"]
    if order.get("status") != "deleted" or order.get("closeout_state") != "relinking":
        return "skipped"
    start = cancelled_orders.service_start(m)
    integration = integrations.for_ingestion(m, order["marketplace"])
    client = client_for(m, order["marketplace"])
    if client is None:
        return "failed:no_marketplace_api" if _fail(order, "no_marketplace_api", now) else "skipped"
    try:
        change, shipping_started = client.fetch_for_relink(order["marketplace_order_no"])
    except MarketplaceError as exc:
        ok = _fail(order, "marketplace_error", now, error=exc.to_dict())
        return "failed:marketplace_error" if ok else "skipped"
    problem = closeout.relink_problem(order, change, shipping_started, now, start)
    if problem is not None:
        reason, details = problem
        return f"failed:{reason}" if _fail(order, reason, now, **details) else "skipped"

    codes = mappings.codes_for(m, change.marketplace, {i.sku for i in change.items})
    created = new_order(
        change,
        integration,
        now,
        merchant_id=m,
        order_id=ids.new_order_id(),
        packing_no=ids.new_packing_no(),
        origin="api",
        codes=codes,
    )
    created["relinked_from"] = order["order_id"]
    created["relinked_from_packing_no"] = order["packing_no"]
    old_new = closeout.relinked(order, created["order_id"], created["packing_no"], now)
    old_new["version"] = order["version"] + 1
    old_new["updated_at"] = clock.iso(now)
    link = {"old_order_id": order["order_id"], "new_order_id": created["order_id"]}
    packs = {"old_packing_no": order["packing_no"], "new_packing_no": created["packing_no"]}
    old_history = db.history_item(old_new, now, "system", "relinked", **link, **packs)
    new_history = db.history_item(created, now, "system", "created_by_relink", **link, **packs)
    # The number's lookup is read only when the write is refused: in the common case it still
    # points to the deleted order, and the sweep reads nothing but the requested orders.
    holder_id: str | None = order["order_id"]
    for _ in range(2):
        try:
            db.transact(
                db.relink_ops(order, old_new, old_history, created, new_history, number_holder=holder_id)
            )
            return "relinked"
        except ConcurrentUpdate:
            pass
        lookup = db.get_lookup(m, order["marketplace"], order["marketplace_order_no"])
        pointed = lookup["order_id"] if lookup else None
        if pointed == holder_id:
            break  # not the number: another sweep or the merchant changed the order
        holder = db.get_order(m, pointed) if pointed and pointed != order["order_id"] else None
        problem = closeout.relink_number_problem(order, pointed, holder)
        if problem is not None:  # e.g. registered by hand after the delete: ends, retry allowed
            reason, details = problem
            return f"failed:{reason}" if _fail(order, reason, now, **details) else "skipped"
        holder_id = pointed  # a deleted order holds it (or nothing): take it over
    # Lost to a change the next sweep reads again; a request that waited too long ends here.
    return _gave_up(order, now, "ConcurrentUpdate", "skipped")


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Relink every requested order (only the RELINK items of the by_due index are read)."""
    now = now or clock.now()
    result: dict[str, int] = {"due": 0, "relinked": 0, "failed": 0, "skipped": 0, "errors": 0}
    for item in sweeps.due_items(keys.DUE_RELINK, now):
        result["due"] += 1
        order = db.order_from_item(item)
        try:
            outcome = relink_one(order, now)
        except Exception as exc:  # one bad order must not stop the sweep
            logger.exception(
                "relink failed unexpectedly",
                extra={"merchant_id": order.get("merchant_id"), "order_id": order.get("order_id")},
            )
            outcome = _gave_up(order, now, type(exc).__name__, "errors")
        result[outcome.split(":")[0]] += 1
        if outcome == "relinked" or outcome.startswith("failed:"):
            name = "RelinksDone" if outcome == "relinked" else "RelinksFailed"
            metrics.count(name, merchant_id=order.get("merchant_id"))
    logger.info("relink sweep done", extra=result)
    return result
