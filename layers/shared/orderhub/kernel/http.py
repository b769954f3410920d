"""JSON responses and the one place where an error becomes an HTTP status and body
(`error_status_body`; the webhook receiver and the HTTP APIs' error handlers both use it)."""

from __future__ import annotations

import json
from decimal import Decimal

from orderhub.kernel.errors import OrderhubError


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
