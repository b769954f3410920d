"""Read side of the merchant API: order lists, counts, one order with history, quarantine.

Every list is a DynamoDB Query on a key or an index (never a Scan); the key condition does
the narrowing (merchant, tab, order number, date range) and filters do the rest.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from boto3.dynamodb.conditions import Attr, Key

from orderhub.domain.actions import available
from orderhub.domain.deadline import DUE_24H, LATER, PAST, days_remaining, is_overdue, is_unfulfilled, urgency
from orderhub.domain.status import TABS, UNFULFILLED_STATUSES
from orderhub.kernel import clock
from orderhub.kernel.errors import NotFound, ValidationFailed
from orderhub.merchants import profiles
from orderhub.orders import list_params
from orderhub.orders.list_params import ListParams
from orderhub.store import db, keys, sharded
from orderhub.store.conditions import all_of, in_range
from orderhub.store.paging import decode_shard_cursor, encode_shard_cursor, fingerprint, page

# Released and not shipped yet: the fulfillment deadline runs.

parse_list_params = list_params.parse


def _bound(text: str, field: str, tz: ZoneInfo, end: bool) -> datetime:
    """A date (whole day in the merchant's time zone) or an ISO timestamp with offset, inside
    the date rule (list_params.date_bound)."""
    bound = list_params.date_bound(text, field)
    if isinstance(bound, datetime):
        return bound
    start = datetime.combine(bound, time.min, tzinfo=tz)
    return start + timedelta(days=1) - timedelta(milliseconds=1) if end else start


def _fingerprint(merchant_id: str, params: ListParams) -> str:
    return fingerprint(merchant_id, params.basis())


def plan(merchant_id: str, params: ListParams, tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    """The Queries (without paging) of a list request: one per shard of the merchant's list or
    tab (keys.all_shards: the legacy unsharded value last), merged by `sk_attr` newest first; the
    order-number search is one Query. Pure: tested without AWS."""
    lo = _bound(params.from_, "from", tz, end=False) if params.from_ else None
    hi = _bound(params.to, "to", tz, end=True) if params.to else None
    if params.preset in ("today", "last_7_days"):
        today = now.astimezone(tz).date()
        start = today if params.preset == "today" else today - timedelta(days=6)
        lo = (
            max(lo, datetime.combine(start, time.min, tzinfo=tz))
            if lo
            else datetime.combine(start, time.min, tz)
        )
    if lo and hi and lo > hi:
        raise ValidationFailed("from must not be after to", field="from")
    mapping = "fail" if params.preset == "unmapped" else params.mapping
    if params.preset == "unmapped" and params.mapping == "ok":
        raise ValidationFailed("preset unmapped contradicts mapping=ok", field="mapping")

    sk_attr = "placed_sk" if params.date_basis == "placed" else "updated_sk"
    filters = []
    if params.q:
        index, pk_attr = keys.index(keys.BY_ORDER_NO), "order_no_pk"
        pks = [keys.order_no_pk(merchant_id, params.q)]
        if params.status:
            filters.append(Attr("status").eq(params.status))
        elif not params.include_deleted:
            filters.append(Attr("status").ne("deleted"))
        range_attr = "placed_sk"
    elif params.status:
        index, pk_attr = keys.by_status(params.date_basis), "status_pk"
        pks = keys.all_shards(keys.status_pk(merchant_id, params.status), keys.LIST_SHARDS)
        range_attr = sk_attr
    else:
        index, pk_attr = keys.by_date(params.date_basis), "list_pk"
        pks = keys.all_shards(keys.list_pk(merchant_id), keys.LIST_SHARDS)
        range_attr = sk_attr
    if params.include_deleted and not params.q:
        raise ValidationFailed(
            "include_deleted needs q (deleted orders are found by order number)", field="include_deleted"
        )

    lo_s = clock.iso(lo) if lo else None
    hi_s = keys.through(clock.iso(hi)) if hi else None
    if range_attr != sk_attr:  # order-number search with the updated basis: the date is a filter
        if lo_s:
            filters.append(Attr(sk_attr).gte(lo_s))
        if hi_s:
            filters.append(Attr(sk_attr).lte(hi_s))
    if params.marketplace:
        filters.append(Attr("marketplace").eq(params.marketplace))
    if params.country:
        filters.append(Attr("recipient.country").eq(params.country.upper()))
    if mapping:
        filters.append(Attr("mapping").eq(mapping))
    if params.tag:
        filters.append(Attr("tags").contains(params.tag))
    if params.preset == "due_24h":
        if params.status and params.status not in UNFULFILLED_STATUSES:
            raise ValidationFailed("preset due_24h lists unshipped orders only", field="status")
        filters.append(Attr("deadline_at").lte(clock.iso(now + timedelta(hours=24))))
        filters.append(Attr("status").is_in(list(UNFULFILLED_STATUSES)) & Attr("tracking").eq(None))
    if params.preset == "overdue":
        # Flagged overdue by the deadline check and left as they are (docs/orders.md): the same
        # orders GET /orders/counts counts as `overdue` (db.index_attrs writes the attribute).
        if params.status and params.status not in UNFULFILLED_STATUSES:
            raise ValidationFailed("preset overdue lists unshipped orders only", field="status")
        filters.append(Attr("overdue").eq(True))

    queries = []
    for pk in pks:
        key = Key(pk_attr).eq(pk)
        if range_attr == sk_attr:
            key = in_range(key, range_attr, lo_s, hi_s)
        query: dict[str, Any] = {"IndexName": index, "KeyConditionExpression": key, "ScanIndexForward": False}
        if filters:
            query["FilterExpression"] = all_of(filters)
        queries.append(query)
    return {"queries": queries, "sk_attr": range_attr, "key_attrs": ("pk", "sk", pk_attr, range_attr)}


def list_orders(merchant_id: str, query_string: dict[str, str] | None) -> dict:
    """One page of GET /orders, newest first: the plan's Queries merged (store/sharded.py); the
    cursor holds each Query's position and fits only the same filters."""
    params = parse_list_params(query_string)
    p = plan(merchant_id, params, profiles.zone_of(merchant_id), clock.now())
    fp = _fingerprint(merchant_id, params)
    state = (
        decode_shard_cursor(params.cursor, fp, len(p["queries"]), p["key_attrs"]) if params.cursor else None
    )
    items, state = sharded.merged_page(
        p["queries"], p["sk_attr"], p["key_attrs"], size=params.page_size, descending=True, state=state
    )
    # The page is read on the index; its orders are read whole from the table (db.whole_items).
    orders = [order_view(db.order_from_item(i)) for i in db.whole_items(items)]
    return {"orders": orders, "next_cursor": encode_shard_cursor(state, fp) if state else None}


# The order's fields in the order the API documents them (docs/openapi.json); other fields follow.
VIEW_FIELDS = (
    "order_id",
    "merchant_id",
    "marketplace",
    "marketplace_order_no",
    "origin",
    "packing_no",
    "status",
    "shipment_stage",
    "placed_at",
    "released_at",
    "deadline_at",
    "days_remaining",
    "overdue",
    "updated_at",
    "items",
    "mapping",
    "recipient",
    "tracking",
    "tags",
    "actions",
    "version",
)


def order_view(order: dict, now: datetime | None = None) -> dict:
    """The order as the API shows it (docs/openapi.json), with the calendar days left to ship it."""
    extra = dict(order)
    if order.get("status") in UNFULFILLED_STATUSES and not order.get("tracking"):
        extra["days_remaining"] = days_remaining(
            order.get("deadline_at"), now or clock.now(), profiles.timezone_of(order["merchant_id"])
        )
        extra["overdue"] = is_overdue(order)
    if extra.get("status") != "pending":
        extra.pop("hold_release_at", None)
    # What the merchant may do now, by the same rules the action routes apply (domain/actions.py)
    extra["actions"] = available(order, now)
    view = {k: extra.pop(k, None) for k in VIEW_FIELDS}
    view.update(extra)
    return view


# The newest history entries GET /orders/{id} shows; the older ones are paged by
# GET /orders/{id}/history from its history_next_cursor (an answer stays far under Lambda's 6 MB).
HISTORY_SHOWN = 50


def get_order_with_history(merchant_id: str, order_id: str) -> dict:
    """The order, its newest HISTORY_SHOWN history entries oldest first, and the cursor of the
    older ones (None when there are none)."""
    order = db.get_order(merchant_id, order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found", field="order_id")
    view = order_view(order)
    older = order_history(merchant_id, order_id, {"page_size": str(HISTORY_SHOWN)})
    view["history"] = older["history"][::-1]
    view["history_next_cursor"] = older["next_cursor"]
    return view


def order_history(merchant_id: str, order_id: str, query_string: dict[str, str] | None) -> dict:
    """An order's history, newest first, a page at a time (page_size, cursor)."""
    key = Key("pk").eq(keys.order_pk(merchant_id, order_id)) & Key("sk").begins_with(keys.HISTORY_PREFIX)
    items, cursor = page(
        {"KeyConditionExpression": key, "ScanIndexForward": False},
        query_string or {},
        f"history:{merchant_id}:{order_id}",
        default_size=HISTORY_SHOWN,
    )
    if not items and not (query_string or {}).get("cursor") and db.get_order(merchant_id, order_id) is None:
        raise NotFound(f"order {order_id} not found", field="order_id")
    return {"history": [db.plain_item(i) for i in items], "next_cursor": cursor}


def list_quarantine(merchant_id: str, query_string: dict[str, str] | None) -> dict:
    items, cursor = page(
        {"KeyConditionExpression": Key("pk").eq(keys.quarantine_pk(merchant_id)), "ScanIndexForward": False},
        query_string or {},
        "quarantine:" + merchant_id,
    )
    entries = [{k: v for k, v in i.items() if k not in ("pk", "sk", "entity")} for i in items]
    return {"quarantine": entries, "next_cursor": cursor}


def list_violations(merchant_id: str, query_string: dict[str, str] | None) -> dict:
    """Missed fulfillment deadlines (the deadline check's refunds), newest first."""
    items, cursor = page(
        {"KeyConditionExpression": Key("pk").eq(keys.violation_pk(merchant_id)), "ScanIndexForward": False},
        query_string or {},
        "violations:" + merchant_id,
    )
    entries = [db.plain_item(i) for i in items]
    return {"violations": entries, "next_cursor": cursor}


def list_flagged_skus(merchant_id: str, query_string: dict[str, str] | None) -> dict:
    """SKUs of deadline-refunded orders (count of refunds, last order), by marketplace and SKU."""
    qs = dict(query_string or {})
    marketplace = qs.pop("marketplace", None)
    key = Key("pk").eq(keys.sku_flag_pk(merchant_id))
    if marketplace:
        key = key & Key("sk").begins_with(keys.marketplace_prefix(marketplace))
    items, cursor = page({"KeyConditionExpression": key}, qs, f"skuflags:{merchant_id}:{marketplace}")
    entries = [db.plain_item(i) for i in items]
    return {"flagged_skus": entries, "next_cursor": cursor}


def get_delivery(merchant_id: str, adapter: str, delivery_id: str) -> dict:
    found = db.get_delivery(merchant_id, adapter, delivery_id)
    if found is None:
        raise NotFound(f"no delivery {delivery_id} for {adapter}", field="delivery_id")
    return found


# The unfulfilled counts read the merchant's unfulfilled orders: at most this many per status.
URGENCY_READ_LIMIT = 5_000


def counts(merchant_id: str) -> dict[str, int]:
    """The tab counts and `overdue`: counters, changed in each order's own transaction."""
    return db.get_counts(merchant_id)


def order_counts(merchant_id: str, now: datetime | None = None) -> dict[str, Any]:
    """GET /orders/counts: the tab counts and the unfulfilled orders' `urgency`."""
    return {**counts(merchant_id), **urgency_counts(merchant_id, now)}


def urgency_counts(merchant_id: str, now: datetime | None = None) -> dict[str, Any]:
    """The fulfillment counts of the console's badge and the digest: `unfulfilled`,
    `due_within_24h`, `past_deadline` (domain.deadline.urgency), counted from the merchant's new,
    processing and on-hold orders by one Query per shard of each status's tab, in parallel
    (`urgency_complete` false when a status held more than URGENCY_READ_LIMIT)."""
    now = now or clock.now()
    tally = {"unfulfilled": 0, PAST: 0, DUE_24H: 0}
    complete = True
    for status in UNFULFILLED_STATUSES:
        pks = keys.all_shards(keys.status_pk(merchant_id, status), keys.LIST_SHARDS)
        shard_queries = [
            {
                "IndexName": keys.by_status("placed"),
                "Limit": -(-URGENCY_READ_LIMIT // len(pks)),  # a first round reads at most the limit
                "KeyConditionExpression": Key("status_pk").eq(pk),
                "FilterExpression": Attr("deadline_at").exists()
                & (Attr("tracking").not_exists() | Attr("tracking").eq(None)),
                "ProjectionExpression": "#s, deadline_at, tracking",
                "ExpressionAttributeNames": {"#s": "status"},
            }
            for pk in pks
        ]
        items, whole = sharded.items_upto(shard_queries, URGENCY_READ_LIMIT)
        complete = complete and whole
        for item in items:
            if not is_unfulfilled(item):
                continue
            tally["unfulfilled"] += 1
            near = urgency(item["deadline_at"], now)
            if near != LATER:
                tally[near] += 1
    return {**tally, "urgency_complete": complete}


__all__ = [
    "TABS",
    "counts",
    "get_order_with_history",
    "list_orders",
    "list_quarantine",
    "order_history",
    "plan",
]
