"""Refresh orders from their marketplace (docs/orders.md): one order now, or every order of
a filter as a background job.

The marketplace's current order goes through the one path of every marketplace change,
orderhub.webhooks.ingest.apply_change, as a webhook with that change would (docs/sync-flows.md,
"Refresh follows the same rules"): stale data is ignored, a shipment that exists only takes the
recipient and payment, and a cancel or a recipient change seen at the marketplace follows the
stage rules and the integration settings (cancel_sync off: not reflected; picking: the flows or
not reflected), with its sync history entries. Cancelled and deleted orders and orders
registered by hand are not changed (and the marketplace is not asked). History: actor
`marketplace`, `via: refresh`, action `refreshed` (or the rule's own action), or `ignored` with
the reason. The delivery id is `refresh:<order_id>:<marketplace updated_at>`: refreshing the
same marketplace state again is a duplicate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from orderhub.domain import status as st
from orderhub.domain.ingest import Ignore
from orderhub.jobs import runner
from orderhub.kernel import aws, clock
from orderhub.kernel.config import settings
from orderhub.kernel.errors import ConcurrentUpdate, OrderhubError, RuleRefused, Unprocessable
from orderhub.marketplaces.client import MarketplaceError
from orderhub.marketplaces.registry import client_for
from orderhub.orders import lifecycle, list_params
from orderhub.store import db
from orderhub.webhooks import ingest

if TYPE_CHECKING:
    from orderhub.domain.models import OrderChange

logger = Logger(child=True)

# A job stops calling a marketplace after this many timeouts/outages in a row (its remaining
# orders get the same error at once instead of waiting for every timeout).
JOB_BREAKER_AFTER = 3


class MarketplaceCallFailed(Unprocessable):
    code = "marketplace_error"


def no_marketplace_api(order: dict) -> RuleRefused:
    return RuleRefused(
        f"the {order['marketplace']} integration has no marketplace API (api_base_url)",
        field="marketplace",
        rule="no_marketplace_api",
        status=order["status"],
        shipment_stage=order.get("shipment_stage", "none"),
        allowed_actions=st.allowed_actions(order["status"]),
    )


def marketplace_failed(exc: MarketplaceError) -> MarketplaceCallFailed:
    details: dict[str, Any] = {"kind": exc.kind, "marketplace": exc.marketplace}
    if exc.status is not None:
        details["marketplace_status"] = exc.status
    return MarketplaceCallFailed(
        f"the marketplace call failed ({exc.kind}): {exc.message}", field="marketplace", **details
    )


def _not_asked(order: dict) -> Ignore | None:
    """Orders a marketplace update never changes (the same rules as decide), so not fetched."""
    if order.get("origin", "api") != "api":
        return Ignore("registered_by_hand", f"the order was registered by {order['origin']}")
    if order["status"] == "deleted":
        return Ignore("deleted", "the merchant deleted this order")
    if order["status"] == "cancelled":
        return Ignore("cancelled_number", "the order is cancelled")
    return None


def refresh_order(merchant_id: str, order_id: str) -> dict:
    """Fetch one order from its marketplace and apply it. Returns the (possibly new) order."""
    return _refresh(merchant_id, order_id)[0]


def _refresh(merchant_id: str, order_id: str) -> tuple[dict, str]:
    """(order, outcome) with outcome `updated`, `unchanged` or `ignored:<reason>`."""
    order = lifecycle.load(merchant_id, order_id)
    client = client_for(merchant_id, order["marketplace"])
    if client is None:
        raise no_marketplace_api(order)
    skip = _not_asked(order)
    if skip is not None:
        _record_ignore(order, skip)
        return order, f"ignored:{skip.reason}"
    try:
        change = client.fetch_order(order["marketplace_order_no"])
    except MarketplaceError as exc:
        raise marketplace_failed(exc) from None
    except Exception:  # anything else the client raised is a failed call too (a 422, a failed row)
        logger.exception(
            "refresh: unexpected error from the marketplace client", extra={"order_id": order_id}
        )
        error = MarketplaceError(
            "unavailable", None, "the marketplace call failed", marketplace=order["marketplace"]
        )
        raise marketplace_failed(error) from None
    # The one path of a marketplace change (docs/sync-flows.md, "Refresh follows the same rules"):
    # the stage rules, the integration settings, the flows and the sync history, as a webhook with
    # this change would.
    applied = ingest.apply_change(
        merchant_id,
        change,
        adapter=order["marketplace"],
        delivery_id=delivery_id(order_id, change),
        received_at=clock.now(),
        via="refresh",
        order_id=order_id,
    )
    return lifecycle.load(merchant_id, order_id), applied.summary


def delivery_id(order_id: str, change: OrderChange) -> str:
    """A refresh's delivery id: the order and the marketplace's updated_at it saw. Refreshing the
    same marketplace state again is the same delivery (a duplicate: no second history entry, sync
    history entry or flow)."""
    return f"refresh:{order_id}:{clock.iso(change.marketplace_updated_at)}"


def _record_ignore(order: dict, decision: Ignore) -> None:
    history = db.history_item(
        order,
        clock.now(),
        "marketplace",
        "ignored",
        via="refresh",
        reason=decision.reason,
        detail=decision.detail,
    )
    aws.table(settings().table_name).put_item(Item=history)


# ---------------------------------------------------------------------- refresh many
def start_refresh_job(merchant_id: str, filter: Any) -> dict:
    """Queue a job that refreshes every order a GET /orders filter shows."""
    return runner.create(merchant_id, "refresh", {"filter": list_params.filter_params(filter)})


@runner.register("refresh")
def run_refresh(job: dict, ctx: runner.JobContext) -> None:
    m = job["merchant_id"]
    # fixed at the first attempt: a refresh may move an order out of the filter (cancelled, say)
    targets = runner.filter_targets(ctx, m, job["params"].get("filter") or {})
    down: dict[str, int] = {}  # marketplace -> timeouts/outages in a row
    for row, order in enumerate(targets, start=1):
        if ctx.done(row):
            continue
        oid, marketplace, number = order["order_id"], order["marketplace"], order["order_no"]
        try:
            if down.get(marketplace, 0) >= JOB_BREAKER_AFTER and _not_asked(order) is None:
                raise MarketplaceCallFailed(
                    f"not called: {marketplace} failed {down[marketplace]} times in a row in this job",
                    field="marketplace",
                    kind="unavailable",
                    marketplace=marketplace,
                    skipped=True,
                )
            new, outcome = _refresh(m, oid)
            down[marketplace] = 0
            ctx.result(row, True, order_id=oid, order_no=number, outcome=outcome, version=new["version"])
        except OrderhubError as exc:
            if isinstance(exc, MarketplaceCallFailed) and exc.details.get("kind") in (
                "timeout",
                "unavailable",
            ):
                down[marketplace] = down.get(marketplace, 0) + 1
            ctx.result(row, False, order_id=oid, order_no=number, error=exc.to_body()["error"])
        except ConcurrentUpdate as exc:
            error = {"code": "concurrent_update", "message": str(exc)}
            ctx.result(row, False, order_id=oid, order_no=number, error=error)
