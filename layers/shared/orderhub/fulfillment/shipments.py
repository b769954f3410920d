"""The merchant's shipment list (docs/fulfillment.md, "Shipment list"): the shipments the
warehouse has or had, one stage at a time (requested, picking, picked, packed, shipped,
withdrawn), with the count of each stage, filters (requested date, marketplace, packing number or
order number) and cursor paging. A stage is a Query of the sparse by_merchant_stage index; a
search by number reads the packing number's item and the order-number index, never a list."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from boto3.dynamodb.conditions import Attr, Key

from orderhub.domain.status import SHIPMENT_LIST_STAGES
from orderhub.kernel import aws, clock
from orderhub.kernel.config import settings
from orderhub.kernel.errors import ValidationFailed
from orderhub.merchants import profiles
from orderhub.orders import list_params, queries
from orderhub.store import db, keys, paging
from orderhub.store.conditions import in_range

FILTERS = ("stage", "from", "to", "q", "marketplace")
DEFAULT_STAGE = "requested"
_MARKETPLACE = re.compile(r"[a-z0-9_]{1,40}")
Q_LENGTH = (1, 100)


@dataclass(frozen=True)
class ShipmentParams:
    """The filters of GET /shipments, checked (page_size and cursor are paging's)."""

    stage: str = DEFAULT_STAGE
    from_: str | None = None
    to: str | None = None
    q: str | None = None
    marketplace: str | None = None

    def basis(self) -> dict:
        """What a cursor is bound to: every filter, by query-string name."""
        return {
            "stage": self.stage,
            "from": self.from_,
            "to": self.to,
            "q": self.q,
            "marketplace": self.marketplace,
        }


def parse(query_string: dict[str, str] | None) -> tuple[ShipmentParams, dict[str, str]]:
    """The filters and the rest (page_size, cursor); a 400 naming the first bad field. Pure."""
    qs = dict(query_string or {})
    paging.refuse_unknown(qs, (*FILTERS, "page_size", "cursor"))
    stage = qs.get("stage", DEFAULT_STAGE)
    if stage not in SHIPMENT_LIST_STAGES:
        raise ValidationFailed(f"stage must be one of {', '.join(SHIPMENT_LIST_STAGES)}", field="stage")
    for name in ("from", "to"):
        if name in qs:
            list_params.date_bound(qs[name], name)
    q = qs.get("q")
    if q is not None and not Q_LENGTH[0] <= len(q) <= Q_LENGTH[1]:
        raise ValidationFailed(f"q must be {Q_LENGTH[0]} to {Q_LENGTH[1]} characters", field="q")
    marketplace = qs.get("marketplace")
    if marketplace is not None and not _MARKETPLACE.fullmatch(marketplace):
        raise ValidationFailed("marketplace must be 1 to 40 of a-z, 0-9 and _", field="marketplace")
    params = ShipmentParams(stage, qs.get("from"), qs.get("to"), q, marketplace)
    return params, {k: v for k, v in qs.items() if k not in FILTERS}


def requested_range(params: ShipmentParams, tz: ZoneInfo) -> tuple[str | None, str | None]:
    """The lowest and highest ship_sk of the requested-date filter (whole days in the merchant's
    time zone, or timestamps with offset). Pure."""
    lo = clock.iso(queries._bound(params.from_, "from", tz, end=False)) if params.from_ else None
    hi = keys.through(clock.iso(queries._bound(params.to, "to", tz, end=True))) if params.to else None
    if lo and hi and lo > hi:
        raise ValidationFailed("from must not be after to", field="from")
    return lo, hi


def plan(merchant_id: str, params: ShipmentParams, tz: ZoneInfo) -> dict[str, Any]:
    """The Query (without paging) of one stage, newest request first. Pure."""
    lo, hi = requested_range(params, tz)
    key = in_range(Key("ship_pk").eq(keys.merchant_stage_pk(merchant_id, params.stage)), "ship_sk", lo, hi)
    query: dict[str, Any] = {
        "IndexName": keys.BY_MERCHANT_STAGE,
        "KeyConditionExpression": key,
        "ScanIndexForward": False,
    }
    if params.marketplace:
        query["FilterExpression"] = Attr("marketplace").eq(params.marketplace)
    return query


def stage_time(item: dict) -> str | None:
    """When the shipment reached its stage, where the order records it: the request, the
    tracking's shipped time, the cancellation that followed the withdrawal."""
    stage = item.get("shipment_stage")
    if stage == "requested":
        return item.get("shipment_requested_at")
    if stage == "shipped":
        return (item.get("tracking") or {}).get("shipped_at")
    if stage == "withdrawn":
        return item.get("cancelled_at")
    return None  # picking, picked, packed: the order's history has the warehouse's reports


def row(item: dict) -> dict:
    """One row of the list, from an index item (or an order with its index attributes)."""
    stage = item.get("shipment_stage")
    tracking = item.get("tracking") or None
    withdrawal = item.get("withdrawal") or None
    return {
        "order_id": item["order_id"],
        "marketplace": item.get("marketplace"),
        "marketplace_order_no": item.get("marketplace_order_no"),
        "packing_no": item.get("packing_no"),
        "stage": stage,
        "status": item.get("status"),
        "requested_at": item.get("shipment_requested_at"),
        "stage_at": stage_time(item),
        "recipient_name": item.get("ship_name") or "",
        "item_lines": int(item.get("ship_lines") or 0),
        "item_quantity": int(item.get("ship_units") or 0),
        "tracking": (
            {"carrier": tracking.get("carrier"), "tracking_number": tracking.get("tracking_number")}
            if tracking and stage == "shipped"
            else None
        ),
        "withdrawal": (
            {
                "state": "withdrawn" if stage == "withdrawn" else "requested",
                "requested_at": withdrawal.get("requested_at"),
                "by": withdrawal.get("by"),
                "reason": withdrawal.get("reason"),
                "withdrawn_at": item.get("cancelled_at") if stage == "withdrawn" else None,
            }
            if withdrawal
            else None
        ),
    }


def _search(merchant_id: str, params: ShipmentParams, tz: ZoneInfo) -> list[dict]:
    """The shipments of the stage whose packing number or order number is `q` (a few at most):
    the packing number's item (it must be this merchant's) and the order-number index."""
    lo, hi = requested_range(params, tz)
    table = aws.table(settings().table_name)
    found: dict[str, dict] = {}
    ref = table.get_item(Key=keys.packing_key(params.q)).get("Item")
    if ref and ref.get("merchant_id") == merchant_id:
        order = db.get_order(merchant_id, ref["order_id"])
        if order:
            found[order["order_id"]] = order
    query: dict[str, Any] = {
        "IndexName": keys.index(keys.BY_ORDER_NO),
        "KeyConditionExpression": Key("order_no_pk").eq(keys.order_no_pk(merchant_id, params.q)),
    }
    for item in db.whole_items(db.query_items(query, table)):
        order = db.order_from_item(item)
        found.setdefault(order["order_id"], order)
    items = []
    for order in found.values():
        item = {**order, **db.index_attrs(order)}
        if db.shipment_list_stage(order) != params.stage:
            continue
        if params.marketplace and order.get("marketplace") != params.marketplace:
            continue
        if (lo and item["ship_sk"] < lo) or (hi and item["ship_sk"] > hi):
            continue
        items.append(item)
    return sorted(items, key=lambda i: i["ship_sk"], reverse=True)


def list_page(merchant_id: str, query_string: dict[str, str] | None) -> dict:
    """GET /shipments: one page of one stage, the counts of every stage, the next cursor."""
    params, rest = parse(query_string)
    tz = profiles.zone_of(merchant_id)
    fingerprint = "shipments:" + paging.fingerprint(merchant_id, params.basis())
    if params.q is not None:
        # A search answers in one page: check page_size and cursor as any list does.
        size_qs = dict(rest)
        paging.take_page_size(size_qs)
        if size_qs.get("cursor"):
            paging.decode_cursor(size_qs["cursor"], fingerprint)
        rows, cursor = [row(i) for i in _search(merchant_id, params, tz)], None
    else:
        items, cursor = paging.page(plan(merchant_id, params, tz), rest, fingerprint)
        rows = [row(i) for i in items]
    return {
        "stage": params.stage,
        "shipments": rows,
        "counts": db.get_stage_counts(merchant_id),
        "next_cursor": cursor,
    }
