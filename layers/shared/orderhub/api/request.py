"""What a merchant route reads from the request being served: the merchant the token names, the
query, the JSON body, an uploaded file. The routers call these through the module
(`request.merchant_id()`), so a test can stand in for one of them for every route."""

from __future__ import annotations

import base64
from typing import Any

from orderhub.api import routing
from orderhub.api.common import claims, json_body
from orderhub.kernel import correlation, ids
from orderhub.kernel.errors import Unauthorized

MERCHANT_CLAIMS = ("merchant_id", "custom:merchant_id")


def current_event() -> routing.Request:
    """The request being served (set by the app resolving it: orderhub/api/routing.py)."""
    return routing.current()


def merchant_id() -> str:
    """The merchant the JWT authorizer vouched for: claim `merchant_id`, or `custom:merchant_id`
    in an ID token of the stack's Cognito user pool (set by the operator; users can't write it).
    A claim that is not a merchant id by the operators' rule (kernel/ids.py: no `#`, no other
    separator, no capitals), or two claims naming two merchants, is refused (401) before
    anything is read: the merchant id goes into every key (docs/data-model.md)."""
    held = claims(current_event())
    named = [held[name] for name in MERCHANT_CLAIMS if held.get(name)]
    if not named:
        raise Unauthorized("the token has no merchant_id claim", field="Authorization")
    mid = named[0]
    if any(other != mid for other in named):
        raise Unauthorized("the token names two merchants", field="Authorization")
    if not ids.is_merchant_id(mid):
        raise Unauthorized(
            f"the token's merchant_id is not a merchant id ({ids.MERCHANT_ID_RULE})", field="Authorization"
        )
    correlation.add_keys(merchant_id=mid)  # every further log line of the request names it
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
