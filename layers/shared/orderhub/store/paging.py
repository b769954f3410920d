"""Paging of every list: the page_size and unknown-parameter checks of a list's query string, the
opaque cursor (a Query's last key, bound to the filters it was read with, signed by the stack)
and `page`, one page of a Query. Key conditions are built with store/conditions.py.

A cursor is `<base64url JSON {"k": key, "f": fingerprint}>.<base64url HMAC-SHA256 tag>`. The tag
is keyed with a key only the stack has: the MAC that the stack's KMS HMAC key (`CursorKey`,
CURSOR_KEY_ARN) gives for a fixed message, asked once per process. So a cursor the server did not
issue, or one changed by a bit, is a 400 `cursor` before any of it is used as a DynamoDB start
key (docs/orders.md, "Paging")."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from functools import lru_cache
from typing import Any

from orderhub.kernel import aws, caches
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


# What the stack's KMS HMAC key signs to give this process its cursor key (a new message, or a
# new key, makes every cursor out so far a 400: a client starts its list again).
CURSOR_KEY_MESSAGE = b"orderhub list cursors v1"
TAG_BYTES = 16  # HMAC-SHA256 truncated to 128 bits
# The table's key is in every start key (an index's start key adds the index's two attributes).
TABLE_KEY = ("pk", "sk")


@lru_cache(maxsize=1)
def signing_key() -> bytes:
    """This process's cursor key (one KMS GenerateMac per process, kept in memory only)."""
    arn = settings().cursor_key_arn
    if not arn:
        raise RuntimeError("CURSOR_KEY_ARN is not set: this function can't sign or check list cursors")
    return aws.client("kms").generate_mac(KeyId=arn, MacAlgorithm="HMAC_SHA_256", Message=CURSOR_KEY_MESSAGE)[
        "Mac"
    ]


caches.register(signing_key.cache_clear)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(payload: bytes) -> bytes:
    return hmac.new(signing_key(), payload, hashlib.sha256).digest()[:TAG_BYTES]


def encode_cursor(key: dict, fingerprint: str) -> str:
    """A signed cursor for a Query's last key, valid only with the same fingerprint."""
    payload = json.dumps({"k": key, "f": fingerprint}, separators=(",", ":"), default=str).encode()
    return f"{_b64(payload)}.{_b64(_tag(payload))}"


def _signed_key(cursor: str, fingerprint: str) -> Any:
    """What a cursor holds (`k`), if this stack signed it for this fingerprint; None otherwise."""
    try:
        body, _, tag = cursor.partition(".")
        payload = _unb64(body)
        if not hmac.compare_digest(_unb64(tag), _tag(payload)):
            return None
        data = json.loads(payload)
        return data["k"] if data["f"] == fingerprint else None
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None


def _start_key(key: Any, attrs: tuple[str, ...]) -> bool:
    """A start key: text attributes, `attrs` among them."""
    return (
        isinstance(key, dict)
        and set(attrs) <= set(key)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in key.items())
    )


def decode_cursor(cursor: str, fingerprint: str, attrs: tuple[str, ...] = TABLE_KEY) -> dict:
    """The key a cursor holds; a 400 naming `cursor` when the server did not sign it, when it is
    for another list (fingerprint), or when its key lacks one of `attrs` or is not all text."""
    key = _signed_key(cursor, fingerprint)
    if not _start_key(key, attrs):
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


def encode_shard_cursor(state: list, fingerprint: str) -> str:
    """A signed cursor for a merged read of shards (store/sharded.merged_page's state)."""
    return encode_cursor({"shards": state}, fingerprint)


def decode_shard_cursor(
    cursor: str, fingerprint: str, shards: int, attrs: tuple[str, ...] = TABLE_KEY
) -> list:
    """The per-shard state a cursor holds (each None, "done" or a start key holding `attrs`); a
    400 naming `cursor` otherwise (see decode_cursor)."""
    key = _signed_key(cursor, fingerprint)
    state = key.get("shards") if isinstance(key, dict) else None
    ok = isinstance(state, list) and len(state) == shards
    if not ok or not all(p is None or p == "done" or _start_key(p, attrs) for p in state):
        raise ValidationFailed("cursor is not valid for this query", field="cursor")
    return state


def sharded_page(
    queries: list[dict[str, Any]],
    sk_attr: str,
    key_attrs: tuple[str, ...],
    query_string: dict[str, str],
    fingerprint: str,
    *,
    descending: bool = False,
    sizes: tuple[int, ...] | range = PAGE_SIZES,
    default_size: int = 50,
) -> tuple[list[dict], str | None]:
    """One page of a key spread over shards (one Query per shard, merged by `sk_attr`): `page`
    for a sharded key. The cursor holds every shard's position."""
    from orderhub.store import sharded

    qs = dict(query_string)
    page_size = take_page_size(qs, sizes, default_size)
    cursor = qs.pop("cursor", None)
    refuse_unknown(qs)
    state = decode_shard_cursor(cursor, fingerprint, len(queries), key_attrs) if cursor else None
    items, state = sharded.merged_page(
        queries, sk_attr, key_attrs, size=page_size, descending=descending, state=state
    )
    return items, (encode_shard_cursor(state, fingerprint) if state else None)
