"""What a merchant route reads from the request being served: the merchant the token names, the
query, the JSON body, an uploaded file. The routers call these through the module
(`request.merchant_id()`), so a test can stand in for one of them for every route."""

from __future__ import annotations

import base64
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

from orderhub.api.common import claims, json_body
from orderhub.kernel.errors import Unauthorized


def current_event():
    """The request being served (Powertools sets it for every router when the app resolves one)."""
    return BaseRouter.current_event


def merchant_id() -> str:
    """The merchant the JWT authorizer vouched for: claim `merchant_id`, or `custom:merchant_id`
    in an ID token of the stack's Cognito user pool (set by the operator; users can't write it)."""
    held = claims(current_event())
    mid = held.get("merchant_id") or held.get("custom:merchant_id")
    if not mid:
        raise Unauthorized("the token has no merchant_id claim", field="Authorization")
    return mid


def query() -> dict[str, str]:
    return current_event().query_string_parameters or {}


def body(allowed: set[str] | None = None, required: bool = False) -> dict[str, Any]:
    return json_body(current_event(), allowed, required)


def upload() -> tuple[bytes, str]:
    """The request body as raw bytes (a CSV file may be Shift_JIS) and its content type."""
    ev = current_event()
    if not ev.body:
        data = b""
    elif ev.is_base64_encoded:
        data = base64.b64decode(ev.body)
    else:
        data = ev.body.encode("utf-8")
    return data, ev.headers.get("content-type", "")
