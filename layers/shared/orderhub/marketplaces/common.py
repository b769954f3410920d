"""Helpers shared by the webhook adapters (private to orderhub.marketplaces.registry).

Every helper raises `MalformedPayload` with `field` set to a path in the *sender's* naming
("line_items[0].quantity", "order.recipient.country"), so an integrator can find the offending
field in the payload they sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from orderhub.domain.models import OrderChange
from orderhub.kernel import clock
from orderhub.kernel.errors import MalformedPayload
from orderhub.kernel.http import parse_json

Loc = tuple[str | int, ...]


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased (the receiver already does it; this keeps adapters robust)."""
    return {str(k).lower(): v for k, v in headers.items()}


def hmac_sha256_base64(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def load_json_object(body: bytes) -> dict[str, Any]:
    """Parse a JSON object body (kernel/http.py parse_json: text, JSON, nesting); floats become
    Decimal so money stays exact."""
    data = parse_json(body, MalformedPayload, parse_float=Decimal)
    if not isinstance(data, dict):
        raise MalformedPayload("body must be a JSON object", field="body")
    return data


def path(*parts: str | int) -> str:
    """('line_items', 0, 'quantity') -> 'line_items[0].quantity'."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif out:
            out += f".{p}"
        else:
            out = p
    return out


def obj(value: Any, field: str, *, required: bool = True) -> dict[str, Any] | None:
    """A nested JSON object, or None when absent/null and not required."""
    if value is None:
        if required:
            raise MalformedPayload(f"{field} is required", field=field)
        return None
    if not isinstance(value, dict):
        raise MalformedPayload(f"{field} must be an object", field=field)
    return value


def text(value: Any, field: str, *, required: bool = False) -> str:
    """A string field: None -> '' (or an error when required); numbers are accepted as text."""
    if value is None:
        if required:
            raise MalformedPayload(f"{field} is required", field=field)
        return ""
    if isinstance(value, bool):
        raise MalformedPayload(f"{field} must be a string", field=field)
    if isinstance(value, int | Decimal):
        value = str(value)
    if not isinstance(value, str):
        raise MalformedPayload(f"{field} must be a string", field=field)
    value = value.strip()
    if required and not value:
        raise MalformedPayload(f"{field} must not be empty", field=field)
    return value


def money(value: Any, field: str, *, required: bool = True) -> Decimal | None:
    """A decimal amount given as a JSON number or a decimal string."""
    if value is None or value == "":
        if required:
            raise MalformedPayload(f"{field} is required", field=field)
        return None
    if isinstance(value, bool):
        raise MalformedPayload(f"{field} must be a decimal amount", field=field)
    try:
        amount = Decimal(value) if isinstance(value, int | Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise MalformedPayload(f"{field} must be a decimal amount", field=field) from None
    if not amount.is_finite():
        raise MalformedPayload(f"{field} must be a finite amount", field=field)
    return amount


def timestamp(value: Any, field: str, *, required: bool = True) -> datetime | None:
    """An ISO 8601 timestamp with an offset (or Z), returned as aware UTC."""
    if value is None or value == "":
        if required:
            raise MalformedPayload(f"{field} is required", field=field)
        return None
    if not isinstance(value, str):
        raise MalformedPayload(f"{field} must be an ISO 8601 timestamp string", field=field)
    try:
        dt = datetime.fromisoformat(value.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise MalformedPayload(f"{field} is not an ISO 8601 timestamp: {value!r}", field=field) from None
    if dt.tzinfo is None:
        raise MalformedPayload(f"{field} needs a time zone offset: {value!r}", field=field)
    try:
        return clock.check_date(dt)
    except ValueError as exc:
        raise MalformedPayload(f"{field} {exc}: {value!r}", field=field, rule="date_range") from None


_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


def country_code(value: Any, field: str, *, required: bool = True) -> str:
    """An ISO 3166-1 alpha-2 code, upper-cased (ASCII letters only: the model's own check
    would let two CJK letters through)."""
    code = text(value, field, required=required)
    if code and not _COUNTRY.match(code):
        raise MalformedPayload(f"{field} must be a two-letter ISO 3166-1 code, got {code!r}", field=field)
    return code.upper()


STRICT_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


def build_change(data: dict[str, Any], translate: Callable[[Loc], str]) -> OrderChange:
    """Validate the normalized dict into an OrderChange.

    A pydantic error is turned into MalformedPayload naming the first error's field, mapped
    back to the sender's naming by `translate` (which gets the OrderChange-side location).
    """
    try:
        change = OrderChange.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc: Loc = tuple(err.get("loc", ()))
        field = translate(loc) if loc else "body"
        msg = str(err.get("msg", "invalid value"))
        raise MalformedPayload(f"{field}: {msg}", field=field) from None
    _check_dates(change, translate)
    return change


# The times of a change (kernel/clock.py, the date rule): in the range, and none more than a day
# ahead of its receipt (a change dated 2099 would make every later real update look stale).
_CHANGE_DATES: tuple[Loc, ...] = (
    ("marketplace_updated_at",),
    ("placed_at",),
    ("cancelled_at",),
    ("payment", "paid_at"),
)


def _check_dates(change: OrderChange, translate: Callable[[Loc], str]) -> None:
    received = clock.now()
    for loc in _CHANGE_DATES:
        value: Any = change
        for part in loc:
            value = getattr(value, str(part))
        if value is None:
            continue
        try:
            clock.check_date(value, received=received)
        except ValueError as exc:
            field = translate(loc)
            raise MalformedPayload(f"{field} {exc}", field=field, rule="date_range") from None


def translate_with(table: Mapping[Loc, str], fallback_prefix: str = "") -> Callable[[Loc], str]:
    """A translator from a table of OrderChange locations to sender paths (longest prefix wins).

    The remainder of the location beyond the matched prefix is appended in dotted form.
    """

    def translate(loc: Loc) -> str:
        for n in range(len(loc), 0, -1):
            hit = table.get(loc[:n])
            if hit is not None:
                rest = loc[n:]
                return path(hit, *rest) if rest else hit
        return path(fallback_prefix, *loc) if fallback_prefix else path(*loc)

    return translate
