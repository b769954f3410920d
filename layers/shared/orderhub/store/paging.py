"""Paging of every list: the page_size and unknown-parameter checks of a list's query string, the
opaque cursor (a Query's last key, bound to the filters it was read with) and `page`, one page of
a Query. Key conditions are built with store/conditions.py."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from orderhub.kernel import aws
from orderhub.kernel.config import settings
from orderhub.kernel.errors import ValidationFailed

PAGE_SIZES = (25, 50, 100, 200)


def take_page_size(qs: dict, sizes: tuple[int, ...] | range = PAGE_SIZES, default: int = 50) -> int:
    """Pop `page_size` from a query string and check it (a 400 naming it otherwise)."""
    raw = qs.pop("page_size", default)
    try:
        size = int(raw)
    except ValueError:
        raise ValidationFailed("page_size must be an integer", field="page_size") from None
    if size not in sizes:
        allowed = (
            f"between {sizes[0]} and {sizes[-1]}"
            if isinstance(sizes, range)
            else "one of " + ", ".join(map(str, sizes))
        )
        raise ValidationFailed(f"page_size must be {allowed}", field="page_size")
    return size


def refuse_unknown(qs: dict, known=()) -> None:
    """A 400 naming the first parameter (alphabetically) of `qs` not in `known`."""
    unknown = sorted(set(qs) - set(known))
    if unknown:
        raise ValidationFailed(f"unknown query parameter {unknown[0]!r}", field=unknown[0])


def fingerprint(*basis: Any) -> str:
    """A short hash of what a list was filtered by: a cursor only fits the same fingerprint."""
    return hashlib.sha256(json.dumps(list(basis), sort_keys=True, default=str).encode()).hexdigest()[:16]


def encode_cursor(key: dict, fingerprint: str) -> str:
    raw = json.dumps({"k": key, "f": fingerprint}, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> dict:
    """The key a cursor holds; a 400 naming `cursor` when it is not one of ours for this list."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        key = data["k"]
        ok = data["f"] == fingerprint and isinstance(key, dict)
        ok = ok and all(isinstance(k, str) and isinstance(v, str) for k, v in key.items())
    except (ValueError, KeyError, TypeError, binascii.Error):
        ok = False
    if not ok:
        raise ValidationFailed("cursor is not valid for this query", field="cursor")
    return key


def page(
    query: dict[str, Any],
    query_string: dict[str, str],
    fingerprint: str,
    *,
    sizes: tuple[int, ...] | range = PAGE_SIZES,
    default_size: int = 50,
) -> tuple[list[dict], str | None]:
    """One page of a Query. Takes `page_size` and `cursor` from the query string and refuses
    any parameter the caller did not consume; the cursor only fits the same fingerprint."""
    qs = dict(query_string)
    page_size = take_page_size(qs, sizes, default_size)
    cursor = qs.pop("cursor", None)
    refuse_unknown(qs)
    query = {**query, "Limit": page_size}
    if cursor:
        query["ExclusiveStartKey"] = decode_cursor(cursor, fingerprint)
    resp = aws.table(settings().table_name).query(**query)
    lek = resp.get("LastEvaluatedKey")
    return resp.get("Items", []), (encode_cursor(lek, fingerprint) if lek else None)
