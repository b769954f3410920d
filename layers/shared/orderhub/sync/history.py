"""Sync history (docs/sync-flows.md): every attempt to carry a marketplace cancel or modify to the shipment.

Items: pk `M#<m>#SYNC`, sk `<at>#<id>` (newest first by a Query on the pk; dates are a key
range, kind and outcome filters).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from orderhub.domain.settings import MARKETPLACES
from orderhub.kernel import aws, clock, correlation
from orderhub.kernel.config import settings
from orderhub.kernel.errors import ValidationFailed
from orderhub.store import keys, paging
from orderhub.store.conditions import all_of, in_range

KINDS = ("cancel", "modify")
OUTCOMES = ("applied", "requested", "joined", "accepted", "rejected", "not_reflected")
_VIEW_KEYS = (
    "sync_id",
    "at",
    "kind",
    "outcome",
    "reason",
    "paid",
    "order_id",
    "marketplace",
    "marketplace_order_no",
    "source",
    "via",
    "delivery_id",
    "request_id",
    "execution_id",
    "correlation_id",
)


def item(
    merchant_id: str,
    kind: str,
    outcome: str,
    *,
    reason: str = "",
    paid: bool = False,
    order_id: str | None = None,
    execution_id: str | None = None,
    at: datetime | None = None,
    **extra: Any,
) -> dict:
    if kind not in KINDS or outcome not in OUTCOMES:
        raise ValueError(f"bad sync record {kind}/{outcome}")
    stamp = clock.iso(at or clock.now())
    sync_id = "sy_" + secrets.token_hex(8)
    out = {
        "pk": keys.sync_pk(merchant_id),
        "sk": keys.time_sk(stamp, sync_id),
        "entity": "sync",
        "sync_id": sync_id,
        "merchant_id": merchant_id,
        "at": stamp,
        "kind": kind,
        "outcome": outcome,
        "reason": reason or "",
        "paid": bool(paid),
        "order_id": order_id,
        "execution_id": execution_id,
    }
    out.update({k: v for k, v in extra.items() if v not in (None, "")})
    return correlation.stamp(out)


def record(merchant_id: str, kind: str, outcome: str, **kw: Any) -> dict:
    """Write one sync history entry and return it."""
    it = item(merchant_id, kind, outcome, **kw)
    aws.table(settings().table_name).put_item(Item=it)
    return it


def view(it: dict) -> dict:
    return {k: it.get(k) for k in _VIEW_KEYS if k in it}


def list_page(merchant_id: str, query: dict[str, str]) -> dict:
    """GET /sync-history: filters kind, outcome, marketplace, from/to (ISO dates or times),
    page_size, cursor."""
    qs = dict(query)
    kind = qs.pop("kind", None)
    marketplace = qs.pop("marketplace", None)
    outcome = qs.pop("outcome", None)
    start = qs.pop("from", None)
    end = qs.pop("to", None)
    cursor = qs.pop("cursor", None)
    page_size = paging.take_page_size(qs)
    paging.refuse_unknown(qs)
    if kind is not None and kind not in KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(KINDS)}", field="kind")
    if outcome is not None and outcome not in OUTCOMES:
        raise ValidationFailed(f"outcome must be one of {', '.join(OUTCOMES)}", field="outcome")
    if marketplace is not None and marketplace not in MARKETPLACES:
        raise ValidationFailed(f"marketplace must be one of {', '.join(MARKETPLACES)}", field="marketplace")
    bounds = []
    for name, value in (("from", start), ("to", end)):
        if value is None:
            bounds.append(None)
            continue
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationFailed(f"{name} must be an ISO 8601 date or time", field=name) from None
        if parsed.tzinfo is None:
            from datetime import UTC

            parsed = parsed.replace(tzinfo=UTC)
        try:
            parsed = clock.check_date(parsed)  # the date rule (kernel/clock.py)
        except ValueError as exc:
            raise ValidationFailed(f"{name} {exc}", field=name, rule="date_range") from None
        bounds.append(clock.iso(parsed))
    lo, hi = bounds
    if lo and hi and lo > hi:
        raise ValidationFailed("from must not be after to", field="from")
    if hi and end and len(end) == 10:  # a date: the whole day
        hi = hi[:10] + "T23:59:59.999999~"
    key = in_range(Key("pk").eq(keys.sync_pk(merchant_id)), "sk", lo, hi + "~" if hi else None)
    q: dict[str, Any] = {"KeyConditionExpression": key, "ScanIndexForward": False, "Limit": page_size}
    flt = all_of(
        [
            Attr(name).eq(value)
            for name, value in (("kind", kind), ("outcome", outcome), ("marketplace", marketplace))
            if value is not None
        ]
    )
    if flt is not None:
        q["FilterExpression"] = flt
    fp = f"sync:{merchant_id}:{kind}:{outcome}:{marketplace}:{lo}:{hi}"
    if cursor:
        q["ExclusiveStartKey"] = paging.decode_cursor(cursor, fp)
    table = aws.table(settings().table_name)
    items: list[dict] = []
    lek = None
    while True:  # a filter may leave a page short: read on until full or done
        resp = table.query(**q)
        items.extend(resp.get("Items", []))
        lek = resp.get("LastEvaluatedKey")
        if not lek or len(items) >= page_size:
            break
        q["ExclusiveStartKey"] = lek
        q["Limit"] = page_size - len(items)
    return {
        "entries": [view(i) for i in items],
        "next_cursor": paging.encode_cursor(lek, fp) if lek else None,
    }
