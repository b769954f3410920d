"""JSON responses and the one place where an error becomes an HTTP status and body
(`error_status_body`; the webhook receiver and the HTTP APIs' error handlers both use it); and
the one parser of a JSON body a client sent (`parse_json`: the webhooks and both HTTP APIs)."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from orderhub.kernel.errors import OrderhubError, ValidationFailed


def _default(o):
    if isinstance(o, Decimal):
        return int(o) if o == o.to_integral_value() else str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def dumps(body) -> str:
    return json.dumps(body, default=_default, ensure_ascii=False, separators=(",", ":"))


def response(status: int, body) -> dict:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": dumps(body)}


def error_status_body(exc: BaseException, request_id: str | None = None) -> tuple[int, dict]:
    """A domain error (OrderhubError): its status and `{"error": {code, message, field?, ...}}`.
    Anything else: 500 internal_error naming the request id, and nothing of the exception."""
    if isinstance(exc, OrderhubError):
        return exc.status, exc.to_body()
    return 500, {"error": {"code": "internal_error", "message": "unexpected error", "request_id": request_id}}


def error_response(exc: OrderhubError) -> dict:
    return response(*error_status_body(exc))


def internal_error(request_id: str | None) -> dict:
    return response(*error_status_body(Exception(), request_id))


# ---------------------------------------------------------------- request bodies
# How deep a body's arrays and objects may nest (docs/webhooks.md, "Bodies"): DynamoDB stores a
# document of at most 32 levels, and no order, webhook or request body orderhub reads comes near
# it (a Shopify order nests 6). Checked before parsing: Python's parser recurses once per level,
# so 20,000 "[" are a RecursionError, not a ValueError.
MAX_JSON_DEPTH = 32
# A string (skipped whole, brackets inside it do not count) or one bracket.
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth_over(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `text` nests arrays and objects more than `limit` deep (stops at the first level
    over it)."""
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        mark = match.group()
        if mark in "[{":
            depth += 1
            if depth > limit:
                return True
        elif mark in "]}":
            depth -= 1
    return False


def parse_json(data: str | bytes | None, error: type[OrderhubError] = ValidationFailed, **options):
    """The JSON value of a body a client sent; `error` (naming the field `body`) when it is not
    JSON, not text, or nests deeper than MAX_JSON_DEPTH. `options` go to json.loads (parse_float)."""
    try:
        text = data.decode(json.detect_encoding(data), "surrogatepass") if isinstance(data, bytes) else data
    except (UnicodeDecodeError, LookupError):
        raise error("the body is not text (UTF-8 JSON)", field="body") from None
    if not text:
        raise error("the body is empty; JSON is expected", field="body")
    if json_depth_over(text):
        raise error(
            f"the body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep",
            field="body",
            rule="max_depth",
        )
    try:
        return json.loads(text, **options)
    except (ValueError, RecursionError) as exc:
        raise error(f"the body is not valid JSON: {exc}", field="body") from None
