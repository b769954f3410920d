"""JSON responses and the one place where domain errors become HTTP statuses."""

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


def error_response(exc: OrderhubError) -> dict:
    return response(exc.status, exc.to_body())


def internal_error(request_id: str | None) -> dict:
    return response(
        500, {"error": {"code": "internal_error", "message": "unexpected error", "request_id": request_id}}
    )
