"""The contract every webhook adapter follows.

An adapter is stateless. The receiver calls, in order:
  verify(headers, body, secret, now)  -> raises SignatureInvalid (401), nothing stored
  parse(headers, body)                -> (delivery_id, OrderChange) or raises MalformedPayload (400,
                                         field names the offending field; the receiver quarantines)
An adapter whose marketplace sends several orders in one delivery (Wish) also has
  batch(headers, body)                -> the orders, or None for a single-order body
  parse_element(headers, i, order)    -> (delivery_id, OrderChange) of one of them; the receiver
                                         quarantines a malformed one alone and queues the others
Headers are given with lower-case names.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from orderhub.domain.models import OrderChange


class WebhookAdapter(Protocol):
    name: str

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, now: datetime) -> None: ...

    def parse(self, headers: Mapping[str, str], body: bytes) -> tuple[str, OrderChange]: ...


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    return hmac.compare_digest(a, b)
