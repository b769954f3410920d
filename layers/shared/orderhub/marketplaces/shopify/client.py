"""Shopify's order API: Shopify's REST Admin API (version API_VERSION), header
X-Shopify-Access-Token (the base URL and token: see orderhub.marketplaces.client).

    GET  {base}/admin/api/{v}/orders.json?name=<no>&status=any        -> {"orders": [<order>...]}
    POST {base}/admin/api/{v}/orders/{id}/cancel.json                  {"reason": "other", "email": false}
    GET  {base}/admin/api/{v}/orders/{id}/fulfillment_orders.json      -> {"fulfillment_orders": [...]}
    POST {base}/admin/api/{v}/fulfillments.json                        {"fulfillment": {
         "line_items_by_fulfillment_order", "tracking_info", "notify_customer",
         "origin_address": {"country_code"}?, "message"?}}
    GET  {base}/admin/api/{v}/orders/{id}/fulfillments.json            -> {"fulfillments": [...]}
    POST {base}/admin/api/{v}/fulfillments/{fid}/update_tracking.json
         {"fulfillment": {"tracking_info": {"number": "...", "company": "..."}, "notify_customer": ...}}

The order number is Shopify's `order_number` (what the webhooks store); of the orders the
name search returns, only the one whose number is exactly it counts. A fulfillment posts the
order's open fulfillment orders. A tracking change goes to the order's latest fulfillment in
effect (highest id whose status is not cancelled, error or failure); nothing is posted when it
already carries that company and number, and an order with no such fulfillment is fulfilled
instead. `tracking_info.company` is Shopify's tracking company name for orderhub's carrier code
(SHOPIFY_TRACKING_COMPANIES: "yamato" -> "Yamato (JA)"...); any other value is sent as is.
`notify_customer` is the integration's setting of that name (on by default: Shopify e-mails the
buyer the tracking, as when the merchant fulfills in Shopify's admin).

The shipment's origin country goes in the fulfillment's `origin_address` as `country_code`
alone (the fulfillment resource's origin_address, API 2021-10 on; of its fields only the
country is required, by GraphQL's FulfillmentOriginAddressInput), and its note as the
fulfillment's `message` ("an optional message for the fulfillment request"; Shopify documents no
length limit and not where it shows it); each only when the shipment has one. A tracking change
carries neither (update_tracking.json takes tracking_info and notify_customer only), so a change
of the origin or the note alone sends nothing; an order with no fulfillment in effect is
fulfilled instead, with both.

Fetched orders are normalized by the Shopify webhook adapter's code, with topic "updated".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orderhub.marketplaces.client import MarketplaceClient, MarketplaceError, quote

if TYPE_CHECKING:
    from orderhub.domain.models import OrderChange

API_VERSION = "2024-10"

# Shopify's tracking company names for orderhub's carrier codes (orderhub.marketplaces.client's
# CARRIER_CODES); Shopify builds tracking URLs for its supported names.
SHOPIFY_TRACKING_COMPANIES: dict[str, str] = {
    "japan_post": "Japan Post (JA)",
    "yamato": "Yamato (JA)",
    "sagawa": "Sagawa (JA)",
    "ups": "UPS",
    "fedex": "FedEx",
    "dhl": "DHL Express",
    "usps": "USPS",
    "other": "Other",
}

# Shopify fulfillment statuses of a fulfillment that is not (or no longer) in effect.
_DEAD_FULFILLMENT_STATUSES = ("cancelled", "error", "failure")


class ShopifyClient(MarketplaceClient):
    kind = "shopify"

    def _auth_headers(self) -> dict[str, str]:
        return {"X-Shopify-Access-Token": self._token}

    def _admin(self, rest: str) -> str:
        return f"/admin/api/{API_VERSION}/{rest}"

    def find_order(self, order_no: str) -> dict:
        """The Shopify order object whose order number is exactly `order_no`."""
        status, parsed = self.request(
            "GET", self._admin("orders.json"), query={"name": order_no, "status": "any"}
        )
        found = parsed.get("orders") if isinstance(parsed, dict) else None
        if not isinstance(found, list):
            raise self._error("http_error", status, "the answer has no 'orders' list")
        for order in found:
            if not isinstance(order, dict):
                continue
            number = str(order.get("order_number") or "").strip()
            name = str(order.get("name") or "").strip().lstrip("#").strip()
            if number == order_no or (not number and name == order_no):
                return order
        raise self._error("not_found", status, f"no order {order_no} in the shop")

    def _order_id(self, order: dict, status: int = 200) -> str:
        oid = order.get("id")
        if isinstance(oid, bool) or not isinstance(oid, int | str) or not str(oid).strip():
            raise self._error("http_error", status, "the order has no id")
        return quote(str(oid))

    def fetch_order(self, order_no: str) -> OrderChange:
        from orderhub.marketplaces.shopify import webhook as shopify

        order = self.find_order(order_no)
        return self._normalize(lambda: shopify.normalize_order(order, "updated"), 200)

    def fetch_for_relink(self, order_no: str) -> tuple[OrderChange, bool | None]:
        from orderhub.marketplaces.shopify import webhook as shopify

        order = self.find_order(order_no)
        change = self._normalize(lambda: shopify.normalize_order(order, "updated"), 200)
        return change, str(order.get("fulfillment_status") or "").lower() in ("fulfilled", "partial")

    def cancel_order(self, order_no: str, reason: str = "") -> None:
        order = self.find_order(order_no)
        if order.get("cancelled_at"):
            return  # already cancelled (an earlier attempt, or at the shop): nothing to send
        path = self._admin(f"orders/{self._order_id(order)}/cancel.json")
        try:
            self.request("POST", path, body={"reason": "other", "email": False})
        except MarketplaceError as exc:
            # Shopify refuses to cancel a cancelled order (422): a retried POST whose first try
            # went through ends here; the order's state says whether the cancel stands.
            if exc.kind != "http_error" or exc.status != 422:
                raise
            if self.find_order(order_no).get("cancelled_at"):
                return
            raise

    def carrier_name(self, carrier: str) -> str:
        return SHOPIFY_TRACKING_COMPANIES.get(carrier, carrier)

    def _notify_customer(self) -> bool:
        return bool(self.settings.get("notify_customer", True))

    def fulfill_order(
        self,
        order_no: str,
        carrier: str,
        tracking_number: str,
        *,
        origin_country: str | None = None,
        note: str | None = None,
    ) -> None:
        self._fulfill(self.find_order(order_no), order_no, carrier, tracking_number, origin_country, note)

    def update_tracking(
        self,
        order_no: str,
        carrier: str,
        tracking_number: str,
        *,
        origin_country: str | None = None,
        note: str | None = None,
    ) -> None:
        """Shopify's update_tracking takes the tracking only: the origin country and the note go
        only when the order has no fulfillment in effect and is fulfilled instead."""
        order = self.find_order(order_no)
        path = self._admin(f"orders/{self._order_id(order)}/fulfillments.json")
        status, parsed = self.request("GET", path)
        found = parsed.get("fulfillments") if isinstance(parsed, dict) else None
        if not isinstance(found, list):
            raise self._error("http_error", status, "the answer has no 'fulfillments' list")
        current = _latest_fulfillment(found)
        if current is None:  # not fulfilled at the shop yet: the tracking goes with a fulfillment
            self._fulfill(order, order_no, carrier, tracking_number, origin_country, note)
            return
        company = self.carrier_name(carrier)
        if current.get("tracking_company") == company and current.get("tracking_number") == tracking_number:
            return  # already so (an earlier attempt, or changed at the shop): nothing to send
        body = {
            "fulfillment": {
                "tracking_info": {"number": tracking_number, "company": company},
                "notify_customer": self._notify_customer(),
            }
        }
        fid = quote(str(current["id"]))
        self.request("POST", self._admin(f"fulfillments/{fid}/update_tracking.json"), body=body)

    def _fulfill(
        self,
        order: dict,
        order_no: str,
        carrier: str,
        tracking_number: str,
        origin_country: str | None,
        note: str | None,
    ) -> None:
        path = self._admin(f"orders/{self._order_id(order)}/fulfillment_orders.json")
        status, parsed = self.request("GET", path)
        fos = parsed.get("fulfillment_orders") if isinstance(parsed, dict) else None
        if not isinstance(fos, list):
            raise self._error("http_error", status, "the answer has no 'fulfillment_orders' list")
        open_ids = [
            fo["id"]
            for fo in fos
            if isinstance(fo, dict)
            and fo.get("id") is not None
            and fo.get("status") in ("open", "in_progress")
        ]
        if not open_ids:
            raise self._error("http_error", 422, f"order {order_no} has no open fulfillment order")
        fulfillment: dict = {
            "line_items_by_fulfillment_order": [{"fulfillment_order_id": i} for i in open_ids],
            "tracking_info": {"company": self.carrier_name(carrier), "number": tracking_number},
            "notify_customer": self._notify_customer(),
        }
        origin = (origin_country or "").strip().upper()
        if origin:
            fulfillment["origin_address"] = {"country_code": origin}
        message = (note or "").strip()
        if message:
            fulfillment["message"] = message
        self.request("POST", self._admin("fulfillments.json"), body={"fulfillment": fulfillment})


def _latest_fulfillment(fulfillments: list) -> dict | None:
    """The fulfillment in effect with the highest id (Shopify's ids grow), the later listed on a tie."""
    best: tuple[tuple[int, int], dict] | None = None
    for index, f in enumerate(fulfillments):
        if not isinstance(f, dict) or str(f.get("status") or "").lower() in _DEAD_FULFILLMENT_STATUSES:
            continue
        fid = f.get("id")
        if isinstance(fid, bool) or not isinstance(fid, int | str) or not str(fid).strip():
            continue
        try:
            rank = int(str(fid).strip())
        except ValueError:
            rank = -1
        if best is None or (rank, index) >= best[0]:
            best = ((rank, index), f)
    return best[1] if best else None
