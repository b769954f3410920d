"""Application service for actions on existing orders: read, apply a pure action, write with
a version check, history and counters in one transaction. Used by the merchant API, the
warehouse API and background jobs alike."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from orderhub.domain.actions import Outcome
from orderhub.domain.order import MARKETPLACE_FIELDS, history_changes
from orderhub.kernel import clock
from orderhub.kernel.errors import ConcurrentUpdate, Conflict, NotFound, ValidationFailed
from orderhub.store import db

MAX_ATTEMPTS = 4
_DIFF_FIELDS = (*MARKETPLACE_FIELDS, "status", "shipment_stage", "mapping", "tags", "tracking", "withdrawal")


class VersionConflict(Conflict):
    code = "version_conflict"


def _expected(version: Any) -> int | None:
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValidationFailed("version must be a non-negative integer", field="version")
    return version


def load(merchant_id: str, order_id: str) -> dict:
    order = db.get_order(merchant_id, order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found", field="order_id")
    return order


def apply(
    merchant_id: str,
    order_id: str,
    action: Callable[[dict, datetime], Outcome],
    *,
    actor: str,
    expected_version: Any = None,
    extra_ops: Callable[[dict, dict], list[dict]] | None = None,
    current: dict | None = None,
) -> tuple[dict, Outcome]:
    """Run `action(order, now)` and store its outcome. Retries a lost race by re-reading (the
    action is re-checked against the fresh order); a caller's stale `expected_version` is a 409.
    `current`: the order as the caller already read it (a sweep's index item), used by the first
    attempt instead of a read; the write is conditional on its version, so a stale copy only
    costs a retry from a fresh read."""
    expected = _expected(expected_version)
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
        order = current if attempt == 0 and current is not None else load(merchant_id, order_id)
        if expected is not None and order["version"] != expected:
            raise VersionConflict(
                f"the order is at version {order['version']}, not {expected}",
                field="version",
                current_version=order["version"],
            )
        now = clock.now()
        outcome = action(order, now)
        new = dict(outcome.order)
        new["version"] = order["version"] + 1
        new["updated_at"] = clock.iso(now)
        changes = history_changes(order, new, _DIFF_FIELDS)
        history = db.history_item(new, now, actor, outcome.action, changes=changes, **outcome.data)
        ops = db.update_order_ops(order, new, history, None)
        if extra_ops:
            ops += extra_ops(order, new)
        try:
            db.transact(ops)
        except ConcurrentUpdate:
            continue
        return new, outcome
    raise ConcurrentUpdate(f"order {order_id} kept changing; try again")


def apply_many(merchant_id: str, order_ids: Any, run: Callable[[str], dict], limit: int = 100) -> list[dict]:
    """Run one action per order id; a result per order (ok, or the error body), never all-or-nothing."""
    from orderhub.kernel.errors import OrderhubError

    if not isinstance(order_ids, list) or not order_ids or not all(isinstance(i, str) for i in order_ids):
        raise ValidationFailed("order_ids must be a non-empty list of order ids", field="order_ids")
    if len(order_ids) > limit:
        raise ValidationFailed(f"at most {limit} order ids at once", field="order_ids")
    results = []
    for oid in dict.fromkeys(order_ids):
        try:
            results.append({"order_id": oid, "ok": True, **run(oid)})
        except OrderhubError as exc:
            results.append({"order_id": oid, "ok": False, "status": exc.status, **exc.to_body()})
    return results
