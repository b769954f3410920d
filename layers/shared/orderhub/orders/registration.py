"""Orders the merchant registers itself (docs/registration.md): the validation of
one order and its registration. One by hand (POST /orders, origin `manual`) or many from a CSV
file (origin `csv`: orderhub.orders.csv_import reads the rows and registers each order here).

A registered order starts in `new` (released now), stage `none`, with a new packing number.
Its marketplace order number must be free: a cancelled number never comes back
(`cancelled_number`), an active one is a duplicate (`duplicate_order_no`), a deleted one may be
registered again (the number's lookup moves to the new order; the deleted order stays).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from orderhub.domain.deadline import deadline_for
from orderhub.domain.order import ORDER_BYTES, REFLECT_TAG, WITHDRAWAL_TAG, mapping_result, order_bytes
from orderhub.domain.parts import Item, Payment, Recipient
from orderhub.domain.settings import Integration
from orderhub.kernel import clock, ids
from orderhub.kernel.errors import ConcurrentUpdate, RuleRefused, ValidationFailed
from orderhub.orders import mappings
from orderhub.store import db
from orderhub.sync import integrations

MAX_ATTEMPTS = 5
MAX_ITEMS = 500
MAX_TAGS = 20
MAX_TAG_CHARS = 50
MAX_ITEM_CODE_CHARS = 200
# A timestamp may be this far ahead of our clock (the merchant's clock may run fast).
FUTURE_SKEW = timedelta(minutes=5)
SYSTEM_TAGS = frozenset({REFLECT_TAG, WITHDRAWAL_TAG})

BODY_FIELDS = (
    "marketplace",
    "marketplace_order_no",
    "placed_at",
    "payment",
    "currency",
    "items",
    "recipient",
    "tags",
)
PAYMENT_FIELDS = ("method", "paid_at")
REQUIRED_RECIPIENT = ("name", "address1", "city", "postal_code", "country")
_MARKETPLACE = re.compile(r"^[a-z0-9_]{1,40}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A sign, an exponent or a digit separator Decimal() would accept (other shapes are left to the
# number check, whose messages say "must be a number" / "at least 0").
_NOT_PLAIN_DECIMAL = re.compile(r"^\+|[eE_]")
# Local date-times a spreadsheet writes (CSV only; read in the merchant's time zone).
_LOCAL_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d",
)


@dataclass(frozen=True)
class Registration:
    """A validated order to register."""

    marketplace: str
    marketplace_order_no: str
    placed_at: datetime
    payment: Payment
    currency: str
    items: tuple[Item, ...]
    recipient: Recipient
    tags: tuple[str, ...] = ()


# ------------------------------------------------------------------ validation
_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "unknown field",
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "decimal_type": "must be a number",
    "decimal_parsing": "must be a number (digits and a decimal point, no thousands separators)",
    "finite_number": "must be a finite number",
    "datetime_type": "must be a timestamp",
    "list_type": "must be a list",
    "model_type": "must be an object",
    "dict_type": "must be an object",
}


def _path(prefix: str, loc: tuple) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


class FieldError(ValidationFailed):
    """A 400 naming a field path; `short` is the message without the path (CSV row results)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}", field=path)
        self.short = message


def pydantic_error(exc: ValidationError, prefix: str = "") -> FieldError:
    """The first error of a pydantic validation as a 400 naming the dotted field path."""
    err = exc.errors()[0]
    path = _path(prefix, tuple(err["loc"])) or prefix or "body"
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "greater_than_equal":
        message = f"must be at least {ctx['ge']}"
    elif kind == "less_than_equal":
        message = f"must be at most {ctx['le']}"
    elif kind == "string_too_short":
        message = "is required" if ctx.get("min_length") == 1 else f"needs {ctx['min_length']} characters"
    elif kind == "string_too_long":
        message = f"must be at most {ctx['max_length']} characters"
    elif kind == "literal_error":
        message = f"must be one of {ctx['expected'].replace(chr(39), '')}"
    elif kind == "value_error":
        message = str(ctx.get("error") or err["msg"]).removeprefix("Value error, ")
    else:
        message = _MESSAGES.get(kind, err["msg"])
    return FieldError(path, message)


def _fail(path: str, message: str) -> FieldError:
    return FieldError(path, message)


def _object(value: Any, path: str, allowed: tuple[str, ...]) -> dict:
    if not isinstance(value, dict):
        raise _fail(path, "must be an object")
    for key in value:
        if key not in allowed:
            raise _fail(f"{path}.{key}" if path else str(key), "unknown field")
    return value


def _text(value: Any, path: str, *, required: bool = False, max_len: int = 500) -> str:
    """Stripped text; None/"" mean absent."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _fail(path, "must be text")
    value = value.strip()
    if not value:
        if required:
            raise _fail(path, "is required")
        return ""
    if len(value) > max_len:
        raise _fail(path, f"must be at most {max_len} characters")
    return value


def _when(value: Any, path: str, now: datetime, tz: tzinfo | None) -> datetime | None:
    """An ISO 8601 timestamp with offset; with `tz` (CSV) also a local date-time in that zone."""
    text = _text(value, path, max_len=40)
    if not text:
        return None
    try:
        at = clock.parse_iso(text)
    except clock.DateOutOfRange as exc:
        raise _fail(path, str(exc)) from None
    except ValueError:
        at = None
        if tz is not None:
            for fmt in _LOCAL_FORMATS:
                try:
                    at = datetime.strptime(text, fmt).replace(tzinfo=tz)
                    break
                except ValueError:
                    continue
        if at is None:
            hint = "a timestamp with offset (2026-11-25T12:00:00+09:00)"
            if tz is not None:
                hint += " or a local date-time (2026-11-25 12:00)"
            raise _fail(path, f"must be {hint}") from None
    try:
        at = clock.check_date(at)  # the date rule: 2000-01-01 to 2100-01-01 (docs/orders.md, "Dates")
    except ValueError as exc:
        raise _fail(path, str(exc)) from None
    if at > now + FUTURE_SKEW:
        raise _fail(path, "must not be in the future")
    return at


def _marketplace(value: Any) -> str:
    text = _text(value, "marketplace", required=True, max_len=40).lower()
    if not _MARKETPLACE.match(text):
        raise _fail("marketplace", "must be a marketplace slug (a-z, 0-9, _)")
    return text


def _order_no(value: Any) -> str:
    text = _text(value, "marketplace_order_no", required=True, max_len=100)
    if _CONTROL.search(text):
        raise _fail("marketplace_order_no", "must not contain control characters")
    return text


def _payment(value: Any, now: datetime, tz: tzinfo | None) -> Payment:
    data = _object({} if value is None else value, "payment", PAYMENT_FIELDS)
    method = _text(data.get("method"), "payment.method", max_len=40) or "other"
    paid_at = _when(data.get("paid_at"), "payment.paid_at", now, tz)
    try:
        return Payment(method=method, paid_at=paid_at)
    except ValidationError as exc:
        raise pydantic_error(exc, "payment") from None


def _currency(value: Any) -> str:
    text = _text(value, "currency", max_len=3).upper()
    if text and not _CURRENCY.match(text):
        raise _fail("currency", "must be a three-letter ISO 4217 code")
    return text


def _recipient(value: Any) -> Recipient:
    if value is None:
        raise _fail("recipient", "is required")
    data = _object(value, "recipient", tuple(Recipient.model_fields))
    clean = {}
    for key, raw in data.items():
        if raw is not None and not isinstance(raw, str):
            raise _fail(f"recipient.{key}", "must be text")
        clean[key] = (raw or "").strip()
    country = clean.get("country", "")
    if country and (len(country) != 2 or not (country.isascii() and country.isalpha())):
        raise _fail("recipient.country", "must be a two-letter ISO 3166-1 code (JP, US...)")
    try:
        recipient = Recipient.model_validate(clean)
    except ValidationError as exc:
        raise pydantic_error(exc, "recipient") from None
    for key in REQUIRED_RECIPIENT:
        if not getattr(recipient, key):
            raise _fail(f"recipient.{key}", "is required")
    if recipient.email and not _EMAIL.match(recipient.email):
        raise _fail("recipient.email", "must be an email address")
    return recipient


def _tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail("tags", "must be a list of short texts")
    if len(value) > MAX_TAGS:
        raise _fail("tags", f"at most {MAX_TAGS} tags")
    out = set()
    for n, tag in enumerate(value):
        text = _text(tag, f"tags[{n}]", required=True, max_len=MAX_TAG_CHARS)
        if _CONTROL.search(text):
            raise _fail(f"tags[{n}]", "must not contain control characters")
        if text in SYSTEM_TAGS:
            raise _fail(f"tags[{n}]", f"{text} is set by orderhub only")
        out.add(text)
    return tuple(sorted(out))


def item(value: Any, path: str, csv_cells: bool = False) -> Item:
    """One order line: {sku, title?, quantity, price, item_code?}."""
    data = dict(_object(value, path, ("sku", "title", "quantity", "price", "item_code")))
    for key in ("quantity", "price"):
        if isinstance(data.get(key), bool):
            raise _fail(f"{path}.{key}", "must be a number")
        if isinstance(data.get(key), str):
            data[key] = data[key].strip()
        if data.get(key) in (None, ""):
            raise _fail(f"{path}.{key}", "is required")
    data["sku"] = _text(data.get("sku"), f"{path}.sku", required=True, max_len=200)
    data["title"] = _text(data.get("title"), f"{path}.title", max_len=500)
    data["item_code"] = _text(data.get("item_code"), f"{path}.item_code", max_len=MAX_ITEM_CODE_CHARS) or None
    if isinstance(data["price"], float):
        data["price"] = repr(data["price"])
    elif csv_cells and _NOT_PLAIN_DECIMAL.search(data["price"]):
        # A CSV cell: no sign, exponent or separators ("+100" is also a spreadsheet formula start).
        raise _fail(f"{path}.price", "must be digits with an optional decimal point")
    if isinstance(data["quantity"], str) and not data["quantity"].isascii():
        raise _fail(f"{path}.quantity", "must be a whole number")
    try:
        return Item.model_validate(data)
    except ValidationError as exc:
        raise pydantic_error(exc, path) from None


def _items(value: Any) -> tuple[Item, ...]:
    if not isinstance(value, list) or not value:
        raise _fail("items", "needs at least one item")
    if len(value) > MAX_ITEMS:
        raise _fail("items", f"at most {MAX_ITEMS} items per order")
    return tuple(item(v, f"items[{n}]") for n, v in enumerate(value))


def order_fields(data: dict, now: datetime, tz: tzinfo | None = None) -> dict:
    """The order-level fields of a registration (everything but the items)."""
    return {
        "marketplace": _marketplace(data.get("marketplace")),
        "marketplace_order_no": _order_no(data.get("marketplace_order_no")),
        "placed_at": _when(data.get("placed_at"), "placed_at", now, tz) or now,
        "payment": _payment(data.get("payment"), now, tz),
        "currency": _currency(data.get("currency")),
        "recipient": _recipient(data.get("recipient")),
        "tags": _tags(data.get("tags")),
    }


def parse_body(body: Any, now: datetime) -> Registration:
    """Validate the JSON body of POST /orders (400 naming the field path on the first error)."""
    data = _object(body, "", BODY_FIELDS)
    fields = order_fields(data, now)
    return Registration(items=_items(data.get("items")), **fields)


# ------------------------------------------------------------------ writing
def _money(value: Decimal) -> str:
    return format(value, "f")


def build_order(
    merchant_id: str,
    reg: Registration,
    *,
    origin: str,
    now: datetime,
    order_id: str,
    packing_no: str,
    codes: dict[str, str],
    job_id: str | None = None,
    integration: Integration | None = None,
) -> dict:
    integration = integration or Integration()
    items = [
        {
            "sku": i.sku,
            "title": i.title,
            "quantity": i.quantity,
            "price": _money(i.price),
            "item_code": i.item_code or codes.get(i.sku),
        }
        for i in reg.items
    ]
    order: dict[str, Any] = {
        "order_id": order_id,
        "merchant_id": merchant_id,
        "marketplace": reg.marketplace,
        "marketplace_order_no": reg.marketplace_order_no,
        "origin": origin,
        "packing_no": packing_no,
        "status": "new",
        "shipment_stage": "none",
        "placed_at": clock.iso(reg.placed_at),
        "released_at": clock.iso(now),
        "hold_release_at": None,
        "deadline_at": clock.iso(deadline_for(now, integration.fulfillment_days)),
        "cancelled_at": None,
        "cancel_reason": None,
        "tracking": None,
        "tags": list(reg.tags),
        "version": 0,
        "created_at": clock.iso(now),
        "updated_at": clock.iso(now),
        "marketplace_updated_at": None,
        "payment": {
            "method": reg.payment.method,
            "paid_at": clock.iso(reg.payment.paid_at) if reg.payment.paid_at else None,
            "gateway": "",
        },
        "currency": reg.currency,
        "total": None,
        "items": items,
        "recipient": reg.recipient.model_dump(),
        "mapping": mapping_result(items),
    }
    if job_id:
        order["import_job_id"] = job_id
    return order


def _refusal(existing: dict | None, order_id: str, reg: Registration) -> RuleRefused:
    no = reg.marketplace_order_no
    if existing is not None and existing["status"] == "cancelled":
        return RuleRefused(
            f"order number {no} of {reg.marketplace} was cancelled ({order_id}); "
            "a cancelled number can never be registered again",
            field="marketplace_order_no",
            rule="cancelled_number",
            order_id=order_id,
            status="cancelled",
        )
    extra = {"status": existing["status"]} if existing else {}
    return RuleRefused(
        f"order number {no} of {reg.marketplace} is already registered as {order_id}",
        field="marketplace_order_no",
        rule="duplicate_order_no",
        order_id=order_id,
        **extra,
    )


def register(
    merchant_id: str,
    reg: Registration,
    *,
    origin: str,
    codes: dict[str, str] | None = None,
    job_id: str | None = None,
    rows: list[int] | None = None,
    also: Callable[[dict], list[dict]] | None = None,
) -> dict:
    """Write one registered order (order, lookup, packing number, history, counters in one
    transaction, with `also(order)`'s items: an import's row results). A lost race re-reads the
    number's lookup and decides again. An order this job registered before it was interrupted
    is returned as it is, with nothing written."""
    if codes is None:
        codes = mappings.codes_for(merchant_id, reg.marketplace, {i.sku for i in reg.items}, fresh=True)
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
        now = clock.now()
        lookup = db.get_lookup(merchant_id, reg.marketplace, reg.marketplace_order_no)
        replaces = None
        if lookup:
            existing = db.get_order(merchant_id, lookup["order_id"])
            if existing is not None and job_id and existing.get("import_job_id") == job_id:
                return existing  # this job registered it before it was interrupted
            if existing is None or existing["status"] != "deleted":
                raise _refusal(existing, lookup["order_id"], reg)
            replaces = existing["order_id"]
        order = build_order(
            merchant_id,
            reg,
            origin=origin,
            now=now,
            order_id=ids.new_order_id(),
            packing_no=ids.new_packing_no(),
            codes=codes,
            job_id=job_id,
            integration=integrations.for_ingestion(merchant_id, reg.marketplace),
        )
        size = order_bytes(order)
        if size > ORDER_BYTES:
            raise ValidationFailed(
                f"the order would be {size} bytes stored; at most {ORDER_BYTES}: fewer lines or shorter text",
                field="items",
                rule="order_too_large",
            )
        history = db.history_item(
            order,
            now,
            "merchant",
            "registered",
            origin=origin,
            status=order["status"],
            replaces=replaces,
            job_id=job_id,
            rows=rows,
        )
        try:
            db.transact(
                db.create_order_ops(order, history, None, replaces=replaces) + (also(order) if also else [])
            )
        except ConcurrentUpdate:
            continue
        return order
    raise ConcurrentUpdate(f"order number {reg.marketplace_order_no} kept changing; try again")


# ------------------------------------------------------------------ entry points
def register_manual(merchant_id: str, body: Any) -> dict:
    """POST /orders: validate, register, and return the order view."""
    from orderhub.orders import queries  # the order view: the API's (the CSV import job needs none)

    reg = parse_body(body, clock.now())
    return queries.order_view(register(merchant_id, reg, origin="manual"))
