"""The orderhub marketplace protocol, spoken by every marketplace without a client of its own
(rakuten, qoo10...; the registry picks the client), header `Authorization: Bearer <token>`:

    GET  {base}/orders?updated_since=<iso>&limit=<n>[&page_token=<t>]
                                            -> 200 {"orders": [...], "next_page_token": t | null}
                                            (changed since, oldest change first: docs/pull.md)
    GET  {base}/orders/{no}                 -> 200 {"order": <order object>}   (404 unknown)
    POST {base}/orders/{no}/cancel          {"reason": "..."}  -> 200 {"order": ...}
    POST {base}/orders/{no}/fulfillments    {"carrier": "...", "tracking_number": "...",
                                             "origin_country": "JP", "note": "..."} -> 201
    PUT  {base}/orders/{no}/fulfillments/tracking
                                            {"carrier": "...", "tracking_number": "...",
                                             "origin_country": "JP", "note": "..."} -> 200

The order object is the marketplace's own format where orderhub has an adapter for it (Wish:
the v3 order object, orderhub.marketplaces.wish.client) and otherwise the `order` object of the
generic webhook format (docs/schemas/generic-webhook.schema.json). `carrier` is orderhub's
carrier code as is (orderhub.marketplaces.client.CARRIER_CODES). `origin_country` (the
shipment's ISO 3166-1 alpha-2 code, upper case) and `note` (the merchant's text about the
shipment, 1 to 500 characters) are sent only when the shipment has them: a shipment without
one leaves the key out (a PUT that leaves them out clears them). The PUT replaces the tracking
of the order's fulfillment (the marketplace creates the fulfillment when the order has none yet).
POSTs and PUTs carry `Idempotency-Key` (same key on every retry of one call), and a cancel of
an already cancelled order answers 200. The POSTs' key follows from what they send (the origin
country and note count only when sent, so a shipment without them keeps the key it always had);
the tracking PUT's is new for every call (a PUT is idempotent by itself, and a key derived from
the tracking would make a change back to an earlier one, A -> B -> A, look like a repeat).

Fetched orders are normalized by the same adapter code as the webhooks, with topic "updated".
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orderhub.kernel import clock
from orderhub.kernel.errors import MalformedPayload
from orderhub.marketplaces.client import MarketplaceClient, quote

if TYPE_CHECKING:
    from orderhub.domain.models import OrderChange


class GenericClient(MarketplaceClient):
    """The orderhub marketplace protocol with the generic format's order object."""

    kind = "generic"

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def _idempotency_key(self, *parts: str) -> str:
        digest = hashlib.sha256("\x1f".join((self.marketplace, *parts)).encode()).hexdigest()
        return digest[:40]

    def get_order_object(self, order_no: str) -> tuple[int, dict]:
        status, parsed = self.request("GET", f"/orders/{quote(order_no)}")
        return status, self._expect_object(parsed, "order", status)

    def to_change(self, order: dict) -> OrderChange:
        from pydantic import ValidationError

        from orderhub.marketplaces.common import path
        from orderhub.marketplaces.generic import webhook as generic

        event = {
            "event_id": f"fetch-{self.marketplace}",
            "type": "order.updated",
            "marketplace": self.marketplace,
            "occurred_at": clock.iso(clock.now()),
            "order": order,
        }
        try:
            parsed = generic.GenericEvent.model_validate(event)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = path(*err["loc"]) if err.get("loc") else "order"
            raise MalformedPayload(f"{field}: {err['msg']}", field=field) from None
        return generic.to_change(parsed)

    def list_changed(
        self, since: datetime, page_token: str | None, limit: int
    ) -> tuple[list[Any], str | None]:
        """One page of the orders changed since `since`, oldest change first (docs/pull.md):
        GET /orders?updated_since=&limit=[&page_token=] -> {"orders": [...], "next_page_token"}.
        The orders come back as the marketplace's objects; `to_change` reads each."""
        query = {"updated_since": clock.iso(since), "limit": str(limit)}
        if page_token:
            query["page_token"] = page_token
        status, parsed = self.request("GET", "/orders", query=query)
        orders = parsed.get("orders") if isinstance(parsed, dict) else None
        token = parsed.get("next_page_token") if isinstance(parsed, dict) else None
        if not isinstance(orders, list) or not (token is None or (isinstance(token, str) and token)):
            raise self._error("http_error", status, "the answer is not {orders: [...], next_page_token}")
        if len(orders) > limit:
            raise self._error("http_error", status, f"{len(orders)} orders in a page of {limit}")
        return orders, token

    def fetch_order(self, order_no: str) -> OrderChange:
        status, order = self.get_order_object(order_no)
        return self._fetched(order_no, lambda: self.to_change(order), status)

    def cancel_order(self, order_no: str, reason: str = "") -> None:
        self.request(
            "POST",
            f"/orders/{quote(order_no)}/cancel",
            body={"reason": reason or ""},
            headers={"Idempotency-Key": self._idempotency_key("cancel", order_no)},
        )

    def fulfill_order(
        self,
        order_no: str,
        carrier: str,
        tracking_number: str,
        *,
        origin_country: str | None = None,
        note: str | None = None,
    ) -> None:
        body = _shipment(carrier, tracking_number, origin_country, note)
        sent = [f"{k}={body[k]}" for k in ("origin_country", "note") if k in body]
        key = self._idempotency_key("fulfill", order_no, carrier, tracking_number, *sent)
        self.request(
            "POST", f"/orders/{quote(order_no)}/fulfillments", body=body, headers={"Idempotency-Key": key}
        )

    def update_tracking(
        self,
        order_no: str,
        carrier: str,
        tracking_number: str,
        *,
        origin_country: str | None = None,
        note: str | None = None,
    ) -> None:
        self.request(
            "PUT",
            f"/orders/{quote(order_no)}/fulfillments/tracking",
            body=_shipment(carrier, tracking_number, origin_country, note),
            headers={"Idempotency-Key": self._idempotency_key("tracking", order_no, uuid.uuid4().hex)},
        )


def _shipment(
    carrier: str, tracking_number: str, origin_country: str | None, note: str | None
) -> dict[str, str]:
    body = {"carrier": carrier, "tracking_number": tracking_number}
    origin = (origin_country or "").strip().upper()
    if origin:
        body["origin_country"] = origin
    text = (note or "").strip()
    if text:
        body["note"] = text
    return body
