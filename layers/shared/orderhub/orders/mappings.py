"""Item mapping: marketplace SKU -> merchant item code (docs/orders.md).

A mapping is per marketplace, or `*` for every marketplace (a marketplace's own mapping wins).
Items: pk=M#<m>#MAP, sk=<marketplace>#<sku>. Ingestion reads a merchant's whole mapping
table through a 60-second in-process cache, so a new order costs no extra read when warm;
the map-items actions read it fresh.
"""

from __future__ import annotations

import re
import time
from typing import Any

from boto3.dynamodb.conditions import Key

from orderhub.kernel import aws, caches, clock
from orderhub.kernel.config import settings
from orderhub.kernel.errors import ValidationFailed
from orderhub.store import db, keys
from orderhub.store.paging import page

MAX_PUT = 500
CACHE_SECONDS = 60.0
_MARKETPLACE = re.compile(r"^(\*|[a-z0-9_]{1,40})$")
_cache: dict[str, tuple[float, dict[tuple[str, str], str]]] = {}


def validate(entries: Any) -> list[dict]:
    if not isinstance(entries, list) or not entries:
        raise ValidationFailed("mappings must be a non-empty list", field="mappings")
    if len(entries) > MAX_PUT:
        raise ValidationFailed(f"at most {MAX_PUT} mappings at once", field="mappings")
    out, seen = [], set()
    for n, e in enumerate(entries):
        where = f"mappings[{n}]"
        if not isinstance(e, dict):
            raise ValidationFailed("each mapping is an object", field=where)
        unknown = set(e) - {"marketplace", "sku", "item_code"}
        if unknown:
            raise ValidationFailed(
                f"unknown field {sorted(unknown)[0]!r}", field=f"{where}.{sorted(unknown)[0]}"
            )
        mp = e.get("marketplace", "*")
        if not isinstance(mp, str) or not _MARKETPLACE.match(mp):
            raise ValidationFailed(
                "marketplace must be a marketplace slug or *", field=f"{where}.marketplace"
            )
        sku = e.get("sku")
        if not isinstance(sku, str) or not sku.strip() or len(sku) > 200:
            raise ValidationFailed("sku is required (at most 200 characters)", field=f"{where}.sku")
        code = e.get("item_code")
        if code is not None and (not isinstance(code, str) or not code.strip() or len(code) > 200):
            raise ValidationFailed(
                "item_code must be text (or null to remove the mapping)", field=f"{where}.item_code"
            )
        if (mp, sku) in seen:
            raise ValidationFailed(f"sku {sku!r} appears twice for {mp}", field=f"{where}.sku")
        seen.add((mp, sku))
        out.append({"marketplace": mp, "sku": sku.strip(), "item_code": code.strip() if code else None})
    return out


def put(merchant_id: str, entries: Any) -> dict:
    rows = validate(entries)
    now = clock.iso(clock.now())
    table = aws.table(settings().table_name)
    with table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
        for r in rows:
            key = keys.mapping_key(merchant_id, r["marketplace"], r["sku"])
            if r["item_code"] is None:
                batch.delete_item(Key=key)
            else:
                batch.put_item(Item={**key, "entity": "mapping", **r, "updated_at": now})
    _cache.pop(merchant_id, None)
    return {
        "saved": sum(1 for r in rows if r["item_code"]),
        "removed": sum(1 for r in rows if not r["item_code"]),
    }


def list_page(merchant_id: str, query: dict[str, str] | None) -> dict:
    qs = dict(query or {})
    marketplace = qs.pop("marketplace", None)
    cond = Key("pk").eq(keys.mapping_pk(merchant_id))
    if marketplace:
        if not _MARKETPLACE.match(marketplace):
            raise ValidationFailed("marketplace must be a marketplace slug or *", field="marketplace")
        cond = cond & Key("sk").begins_with(keys.marketplace_prefix(marketplace))
    items, cursor = page(
        {"KeyConditionExpression": cond},
        qs,
        f"map:{merchant_id}:{marketplace}",
        sizes=range(1, 1001),
        default_size=100,
    )
    rows = [{k: i[k] for k in ("marketplace", "sku", "item_code", "updated_at")} for i in items]
    return {"mappings": rows, "next_cursor": cursor}


def _all(merchant_id: str) -> dict[tuple[str, str], str]:
    q = {"KeyConditionExpression": Key("pk").eq(keys.mapping_pk(merchant_id))}
    return {(i["marketplace"], i["sku"]): i["item_code"] for i in db.query_items(q)}


def codes_for(merchant_id: str, marketplace: str, skus, *, fresh: bool = False) -> dict[str, str]:
    """sku -> item code for the given SKUs (only those that are mapped)."""
    hit = _cache.get(merchant_id)
    if fresh or hit is None or hit[0] < time.monotonic():
        table = _all(merchant_id)
        _cache[merchant_id] = (time.monotonic() + CACHE_SECONDS, table)
    else:
        table = hit[1]
    out = {}
    for sku in skus:
        code = table.get((marketplace, sku)) or table.get(("*", sku))
        if code:
            out[sku] = code
    return out


def clear_cache() -> None:
    _cache.clear()


caches.register(clear_cache)


__all__ = ["codes_for", "list_page", "put", "db"]
