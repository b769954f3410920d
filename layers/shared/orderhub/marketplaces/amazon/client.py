"""Amazon's Selling Partner API: Orders v0, Tokens and Feeds, with Login with Amazon (LWA) tokens.
Paths and bodies: amzn/selling-partner-api-models `models/orders-api-model/ordersV0.json`,
`models/tokens-api-model/tokens_2021-03-01.json`, `models/feeds-api-model/feeds_2021-06-30.json`.

    POST {lwa_token_url}   grant_type=refresh_token&refresh_token=&client_id=&client_secret=
                           (form)                   -> {"access_token", "expires_in", ...}
    POST {base}/tokens/2021-03-01/restrictedDataToken
         {"restrictedResources": [{"method": "GET", "path": ..., "dataElements": ["shippingAddress"]}]}
                                                    -> {"restrictedDataToken", "expiresIn"}
    GET  {base}/orders/v0/orders?MarketplaceIds=&LastUpdatedAfter=&FulfillmentChannels=MFN
         &MaxResultsPerPage=[&NextToken=]            -> {"payload": {"Orders": [...], "NextToken"}}
    GET  {base}/orders/v0/orders/{id}                -> {"payload": <Order>}
    GET  {base}/orders/v0/orders/{id}/orderItems[?NextToken=]
                                                    -> {"payload": {"OrderItems": [...], "NextToken"}}
    POST {base}/orders/v0/orders/{id}/shipmentConfirmation
         {"marketplaceId", "packageDetail": {"packageReferenceId": "1", "carrierCode",
          ["carrierName"], "trackingNumber", "shipDate", "orderItems": [{"orderItemId", "quantity"}]}}
                                                    -> 204
    POST {base}/feeds/2021-06-30/documents   {"contentType": "text/xml; charset=UTF-8"}
                                                    -> 201 {"feedDocumentId", "url"}
    PUT  {url}                                     the feed document (another origin, no token)
    POST {base}/feeds/2021-06-30/feeds        {"feedType": "POST_ORDER_ACKNOWLEDGEMENT_DATA",
         "marketplaceIds": [...], "inputFeedDocumentId"}  -> 202 {"feedId"}

Every SP-API call carries `x-amz-access-token`: the LWA access token, fetched with the
integration's refresh token and kept on the client until 60 s before it expires (LWA tokens
live an hour); a 401/403 on a kept token drops it and the call is made once more with a new
one. getOrders and getOrder answer the address's name, street lines and phone only to a
Restricted Data Token (RDT), which the client asks the Tokens API for, for exactly the path
it reads and the `shippingAddress` element (no buyer info). An application without the
restricted role gets 403 there: the read fails, naming the role (an order without its
recipient's name and street cannot be shipped, and would overwrite a complete address).

Settings (domain/settings.py): `lwa_client_id`, `amazon_marketplace_id` (default Amazon.co.jp,
A1VC38T7YXB528), `lwa_token_url` (default https://api.amazon.com/auth/o2/token), `seller_id`
(the cancel feed's MerchantIdentifier); secrets: `lwa_client_secret`, `lwa_refresh_token`.
`api_base_url` is the SP-API endpoint (https://sellingpartnerapi-fe.amazon.com for Japan).

- Pull (`updated_since`): getOrders by LastUpdatedAfter (the window's start, to the second),
  seller-fulfilled orders only, then getOrderItems for each order; a page is at most
  `page_limit` 20 orders: each order costs one getOrderItems call (0.5 requests/s, burst 30),
  so a page of 20 stays inside that burst where the default 100 would drain it and fail the
  run on 429s (getOrders itself: 0.0167/s, burst 20, one call a page).
- fulfill_order: confirmShipment of the quantities not shipped yet, as package "1" (the
  shipment's origin country and note are not sent: confirmShipment has no field for them);
  update_tracking: confirmShipment again, package "1" with every line's ordered quantity. Amazon
  documents no call that changes a confirmed tracking; Seller Central's help says newly uploaded
  tracking data overwrites the old, and a confirmation of the same package is the API's
  equivalent: whether Amazon overwrites or refuses it is not documented (a refusal is a 400,
  and the tracking change is tagged as not reflected).
- cancel_order: the order acknowledgement feed (StatusCode Failure, a CancelReason per line):
  createFeedDocument, an upload of the XML to the document's pre-signed URL, createFeed. Amazon
  processes feeds later: the call returns once the feed is accepted, and the order shows
  Canceled on a later read (the pull or a notification) when Amazon applied it. The feed's
  processing report (a rejection) is not read.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from orderhub.kernel import clock
from orderhub.marketplaces.amazon import carriers
from orderhub.marketplaces.client import MarketplaceClient, MarketplaceError, quote

if TYPE_CHECKING:
    from orderhub.domain.models import OrderChange

logger = Logger(child=True)

DEFAULT_MARKETPLACE_ID = "A1VC38T7YXB528"  # Amazon.co.jp
DEFAULT_LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"  # noqa: S105 a URL
TOKEN_HEADER = "x-amz-access-token"  # noqa: S105 a header name
TOKEN_MARGIN_SECONDS = 60  # a kept token is renewed this long before it expires
ORDERS = "/orders/v0/orders"
RDT_PATH = "/tokens/2021-03-01/restrictedDataToken"
FEEDS = "/feeds/2021-06-30"
CANCEL_FEED_TYPE = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
FEED_CONTENT_TYPE = "text/xml; charset=UTF-8"
PACKAGE_REFERENCE = "1"  # orderhub sends an order as one parcel
MAX_ITEM_PAGES = 50  # getOrderItems pages read for one order (an order has at most a few)
# Amazon shows a parcel of the order gone (orders.SHIPPING_STARTED_STATUSES; kept here so the
# client does not load the mapping, and pydantic with it, before it maps an order).
SHIPPING_STARTED_STATUSES = frozenset({"PartiallyShipped", "Shipped", "InvoiceUnconfirmed"})

# The order acknowledgement feed's CancelReason values (Amazon's OrderAcknowledgement.xsd).
CANCEL_REASONS = (
    "NoInventory",
    "ShippingAddressUndeliverable",
    "CustomerExchange",
    "BuyerCanceled",
    "GeneralAdjustment",
    "CarrierCreditDecision",
    "RiskAssessmentInformationNotValid",
    "CarrierCoverageFailure",
    "CustomerReturn",
    "MerchandiseNotReceived",
)
_BUYER_WORDS = ("buyer", "customer", "購入者", "お客様", "顧客")
_ADDRESS_WORDS = ("address", "undeliverable", "住所")


def cancel_reason(reason: str) -> str:
    """The feed's CancelReason for orderhub's free-text cancel reason: one of Amazon's values as
    written (any case), a buyer's request (buyer, customer, 購入者, お客様, 顧客) -> BuyerCanceled, an
    address that cannot be delivered to (address, undeliverable, 住所) -> ShippingAddressUndeliverable,
    anything else (the merchant cannot ship it) -> NoInventory."""
    given = (reason or "").strip()
    for value in CANCEL_REASONS:
        if given.lower() == value.lower():
            return value
    lowered = given.lower()
    if any(word in lowered for word in _BUYER_WORDS):
        return "BuyerCanceled"
    if any(word in lowered for word in _ADDRESS_WORDS):
        return "ShippingAddressUndeliverable"
    return "NoInventory"


def cancel_feed(seller_id: str, order_no: str, order_item_ids: list[str], reason_code: str) -> bytes:
    """The order acknowledgement feed (AmazonEnvelope, MessageType OrderAcknowledgement) that
    cancels one order: StatusCode Failure, each line with its CancelReason."""
    from xml.etree import ElementTree as ET

    envelope = ET.Element("AmazonEnvelope")
    envelope.set("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
    envelope.set("xsi:noNamespaceSchemaLocation", "amzn-envelope.xsd")
    header = ET.SubElement(envelope, "Header")
    ET.SubElement(header, "DocumentVersion").text = "1.01"
    ET.SubElement(header, "MerchantIdentifier").text = seller_id
    ET.SubElement(envelope, "MessageType").text = "OrderAcknowledgement"
    message = ET.SubElement(envelope, "Message")
    ET.SubElement(message, "MessageID").text = "1"
    ack = ET.SubElement(message, "OrderAcknowledgement")
    ET.SubElement(ack, "AmazonOrderID").text = order_no
    ET.SubElement(ack, "StatusCode").text = "Failure"
    for item_id in order_item_ids:
        item = ET.SubElement(ack, "Item")
        ET.SubElement(item, "AmazonOrderItemCode").text = item_id
        ET.SubElement(item, "CancelReason").text = reason_code
    return ET.tostring(envelope, encoding="UTF-8", xml_declaration=True)


def error_codes(body: Any) -> str:
    """The codes of Amazon's error body {"errors": [{"code", "message", "details"}]}, or of LWA's
    {"error", "error_description"}, as "InvalidInput, Unauthorized"; "" when the body is neither.
    Only the codes: a message may echo what was sent."""
    if not isinstance(body, dict):
        return ""
    errors = body.get("errors")
    if isinstance(errors, list):
        codes = [str(e["code"]) for e in errors if isinstance(e, dict) and isinstance(e.get("code"), str)]
        return ", ".join(dict.fromkeys(c for c in codes if c))
    return body["error"] if isinstance(body.get("error"), str) else ""


def amazon_time(dt: datetime) -> str:
    """An ISO 8601 UTC time to the second, as Amazon's examples write them (floored: an
    "after (or at)" filter then reads a little more, never less)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


RATE_LIMIT_HEADER = "x-amzn-RateLimit-Limit"


class AmazonClient(MarketplaceClient):
    kind = "amazon"
    pull_mode = "updated_since"
    # Each listed order costs one getOrderItems call (0.5/s, burst 30): see the module docstring.
    page_limit = 20

    def retry_after(self, headers: Any) -> float | None:
        """Retry-After, else the wait the operation's rate allows: SP-API answers a 429 without
        Retry-After but names the rate in `x-amzn-RateLimit-Limit` (requests per second; getOrderItems
        0.5, so 2 s). The base honours it up to MAX_RETRY_AFTER; past that the pull resumes later."""
        given = super().retry_after(headers)
        if given is not None:
            return given
        try:
            rate = float((headers.get(RATE_LIMIT_HEADER) if headers else None) or "")
        except ValueError:
            return None
        return 1.0 / rate if rate > 0 else None

    def __init__(self, *args: Any, monotonic: Callable[[], float] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._monotonic = monotonic or time.monotonic
        self._access: tuple[str, float] | None = None  # (LWA access token, renew at)
        self._token_fetches = 0
        self._restricted: dict[str, tuple[str, float]] = {}  # path -> (RDT, renew at)

    def request(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        """The base's call; a refusal (4xx) names Amazon's error codes in its message."""
        try:
            return super().request(method, path, **kw)
        except MarketplaceError as exc:
            codes = error_codes(exc.body) if exc.kind == "http_error" else ""
            if codes:
                exc.message = f"{exc.message} ({codes})"
            raise

    # ------------------------------------------------------------------ settings
    @property
    def marketplace_id(self) -> str:
        return str(self.settings.get("amazon_marketplace_id") or DEFAULT_MARKETPLACE_ID)

    # ------------------------------------------------------------------ tokens
    def _auth_headers(self) -> dict[str, str]:
        return {TOKEN_HEADER: self.access_token()}

    def access_token(self) -> str:
        """The LWA access token, kept until TOKEN_MARGIN_SECONDS before it expires."""
        now = self._monotonic()
        if self._access is not None and now < self._access[1]:
            return self._access[0]
        client_id = str(self.settings.get("lwa_client_id") or "")
        secret, refresh = self.credential("lwa_client_secret"), self.credential("lwa_refresh_token")
        missing = [
            name
            for name, value in (
                ("lwa_client_id", client_id),
                ("lwa_client_secret", secret),
                ("lwa_refresh_token", refresh),
            )
            if not value
        ]
        if missing:
            raise self._error(
                "http_error", None, f"the Amazon integration has no {', '.join(missing)}; nothing was sent"
            )
        url = str(self.settings.get("lwa_token_url") or DEFAULT_LWA_TOKEN_URL)
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "client_id": client_id,
            "client_secret": secret,
        }
        status, parsed = self.request("POST", "", form=form, base_url=url, auth=False)
        token = parsed.get("access_token") if isinstance(parsed, dict) else None
        expires = parsed.get("expires_in") if isinstance(parsed, dict) else None
        if (
            not isinstance(token, str)
            or not token
            or isinstance(expires, bool)
            or not isinstance(expires, int)
        ):
            raise self._error("http_error", status, "the LWA answer has no access_token and expires_in")
        self._token_fetches += 1
        self._access = (token, now + expires - TOKEN_MARGIN_SECONDS)
        return token

    def _restricted_token(self, resource: str) -> str:
        """A Restricted Data Token for GET `resource` with its shippingAddress, kept until
        TOKEN_MARGIN_SECONDS before it expires. Amazon refusing one to this application (403) is
        an error naming the restricted role the application needs."""
        now = self._monotonic()
        kept = self._restricted.get(resource)
        if kept is not None and now < kept[1]:
            return kept[0]
        body = {
            "restrictedResources": [{"method": "GET", "path": resource, "dataElements": ["shippingAddress"]}]
        }
        try:
            status, parsed = self._call("POST", RDT_PATH, body=body)
        except MarketplaceError as exc:
            if exc.status != 403:
                raise
            # Without the restricted role Amazon leaves out the recipient's name, street and
            # phone: such an order cannot be shipped, and it would overwrite a complete address.
            # The read fails, loudly (a failing pull, a refresh answered 422), until the
            # application has the role.
            exc.message = (
                "Amazon refused a Restricted Data Token: the application needs the restricted role "
                "for shippingAddress to read the recipient's name, street and phone"
            )
            raise
        token = parsed.get("restrictedDataToken") if isinstance(parsed, dict) else None
        expires = parsed.get("expiresIn") if isinstance(parsed, dict) else None
        if (
            not isinstance(token, str)
            or not token
            or isinstance(expires, bool)
            or not isinstance(expires, int)
        ):
            raise self._error(
                "http_error", status, "the Tokens API answer has no restrictedDataToken and expiresIn"
            )
        self._restricted[resource] = (token, now + expires - TOKEN_MARGIN_SECONDS)
        return token

    def _call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        """One SP-API call with the LWA token; a 401/403 answered to a token kept from before
        this call drops it and the call is made once more with a new one."""
        fetches = self._token_fetches
        try:
            return self.request(method, path, **kw)
        except MarketplaceError as exc:
            if exc.status not in (401, 403) or self._token_fetches != fetches or self._access is None:
                raise
            self._access = None
            return self.request(method, path, **kw)

    def _restricted_get(self, resource: str, query: dict[str, str] | None = None) -> tuple[int, Any]:
        """GET a restricted resource with its RDT (a kept one Amazon refuses is replaced once)."""
        for attempt in (1, 2):
            kept = resource in self._restricted
            token = self._restricted_token(resource)
            try:
                return self.request("GET", resource, query=query, auth=False, headers={TOKEN_HEADER: token})
            except MarketplaceError as exc:
                if attempt == 2 or not kept or exc.status not in (401, 403):
                    raise
                self._restricted.pop(resource, None)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ reads
    def _payload(self, parsed: Any, status: int) -> Any:
        if not isinstance(parsed, dict) or "payload" not in parsed:
            raise self._error("http_error", status, "the answer has no payload")
        return parsed["payload"]

    def order_items(self, order_no: str) -> list[dict]:
        """Every OrderItem of an order (getOrderItems, following NextToken)."""
        items: list[dict] = []
        token: str | None = None
        for _ in range(MAX_ITEM_PAGES):
            query = {"NextToken": token} if token else None
            status, parsed = self._call("GET", f"{ORDERS}/{quote(order_no)}/orderItems", query=query)
            payload = self._payload(parsed, status)
            page = payload.get("OrderItems") if isinstance(payload, dict) else None
            if not isinstance(page, list):
                raise self._error("http_error", status, "the getOrderItems answer has no OrderItems list")
            items.extend(page)
            token = payload.get("NextToken") or None
            if not token:
                return items
            if not isinstance(token, str):
                raise self._error("http_error", status, "NextToken must be a string")
        raise self._error(
            "http_error", None, f"order {order_no} has more than {MAX_ITEM_PAGES} pages of items"
        )

    def get_order(self, order_no: str) -> tuple[int, dict]:
        """The Order object (getOrder, with an RDT for its address)."""
        status, parsed = self._restricted_get(f"{ORDERS}/{quote(order_no)}")
        order = self._payload(parsed, status)
        if not isinstance(order, dict):
            raise self._error("http_error", status, "the getOrder payload is not an order")
        if order.get("AmazonOrderId") != order_no:
            raise self._error(
                "http_error", status, f"asked for order {order_no}, got {order.get('AmazonOrderId')}"
            )
        return status, order

    def list_changed(
        self, since: datetime, page_token: str | None, limit: int
    ) -> tuple[list[Any], str | None]:
        """One page of the seller-fulfilled orders changed since `since` (getOrders by
        LastUpdatedAfter), each as {"order": <Order>, "items": [<OrderItem>...]}."""
        query = {
            "MarketplaceIds": self.marketplace_id,
            "LastUpdatedAfter": amazon_time(since),
            "FulfillmentChannels": "MFN",
            "MaxResultsPerPage": str(limit),
        }
        if page_token:
            query["NextToken"] = page_token
        status, parsed = self._restricted_get(ORDERS, query)
        payload = self._payload(parsed, status)
        found = payload.get("Orders") if isinstance(payload, dict) else None
        token = (payload.get("NextToken") or None) if isinstance(payload, dict) else None
        if not isinstance(found, list) or not (token is None or isinstance(token, str)):
            raise self._error("http_error", status, "the getOrders answer is not {Orders: [...], NextToken}")
        if len(found) > limit:
            raise self._error("http_error", status, f"{len(found)} orders in a page of {limit}")
        page: list[Any] = []
        for order in found:
            number = order.get("AmazonOrderId") if isinstance(order, dict) else None
            # An order without its number cannot be asked for its items: to_change names the
            # missing field and the pull quarantines it.
            items = self.order_items(number) if isinstance(number, str) and number else []
            page.append({"order": order, "items": items})
        return page, token

    def to_change(self, raw: Any) -> OrderChange:
        from orderhub.marketplaces.amazon import orders as amazon_orders  # pydantic: on first use

        return amazon_orders.normalize(raw)

    def fetch_order(self, order_no: str) -> OrderChange:
        return self._fetch(order_no)[0]

    def fetch_for_relink(self, order_no: str) -> tuple[OrderChange, bool | None]:
        """The order, and whether its shipping started: Amazon shows a parcel gone
        (PartiallyShipped, Shipped, InvoiceUnconfirmed, or NumberOfItemsShipped above 0)."""
        change, order = self._fetch(order_no)
        shipped = order.get("NumberOfItemsShipped")
        started = order.get("OrderStatus") in SHIPPING_STARTED_STATUSES or (
            isinstance(shipped, int) and not isinstance(shipped, bool) and shipped > 0
        )
        return change, started

    def _fetch(self, order_no: str) -> tuple[OrderChange, dict]:
        from orderhub.marketplaces.amazon import orders as amazon_orders

        status, order = self.get_order(order_no)
        items = self.order_items(order_no)
        return self._normalize(lambda: amazon_orders.normalize_order(order, items), status), order

    # ------------------------------------------------------------------ actions
    def carrier_name(self, carrier: str) -> str:
        return carriers.carrier_code(carrier)

    def fulfill_order(
        self,
        order_no: str,
        carrier: str,
        tracking_number: str,
        *,
        origin_country: str | None = None,
        note: str | None = None,
    ) -> None:
        """confirmShipment of what is left to ship. `origin_country` and `note` are taken
        (orderhub passes them to every client) and not sent: confirmShipment's request
        (marketplaceId, codCollectionMethod, packageDetail) and its PackageDetail have no field
        for either."""
        self._confirm(order_no, carrier, tracking_number, again=False)

    def update_tracking(
        self,
        order_no: str,
        carrier: str,
        tracking_number: str,
        *,
        origin_country: str | None = None,
        note: str | None = None,
    ) -> None:
        """A new confirmShipment of the same package with the new tracking (see the module
        docstring: Amazon documents no call that changes a confirmed tracking); `origin_country`
        and `note` are not sent, as in fulfill_order."""
        self._confirm(order_no, carrier, tracking_number, again=True)

    def _confirm(self, order_no: str, carrier: str, tracking_number: str, *, again: bool) -> None:
        lines = []
        for raw in self.order_items(order_no):
            item = raw if isinstance(raw, dict) else {}
            ordered, shipped = item.get("QuantityOrdered"), item.get("QuantityShipped") or 0
            if (
                not isinstance(item.get("OrderItemId"), str)
                or not isinstance(ordered, int)
                or not isinstance(shipped, int)
            ):
                raise self._error(
                    "http_error", None, f"order {order_no} has an item without OrderItemId / quantities"
                )
            lines.append((item["OrderItemId"], ordered, shipped))
        to_send = [(oid, ordered - shipped) for oid, ordered, shipped in lines if ordered - shipped > 0]
        if again or not to_send:  # a re-confirmation: the whole package again
            to_send = [(oid, ordered) for oid, ordered, _ in lines if ordered > 0]
        if not to_send:
            raise self._error(
                "http_error", None, f"order {order_no} has no line to confirm; nothing was sent"
            )
        body = {
            "marketplaceId": self.marketplace_id,
            "packageDetail": {
                "packageReferenceId": PACKAGE_REFERENCE,
                **carriers.package_carrier(carrier),
                "trackingNumber": tracking_number,
                "shipDate": amazon_time(clock.now()),
                "orderItems": [{"orderItemId": oid, "quantity": quantity} for oid, quantity in to_send],
            },
        }
        # Not repeated after a lost answer (no idempotency key; a repeat may be refused as a
        # second confirmation): the reflect fails and a later retry reads the order first.
        self._call("POST", f"{ORDERS}/{quote(order_no)}/shipmentConfirmation", body=body, idempotent=False)

    def cancel_order(self, order_no: str, reason: str = "") -> None:
        """Cancel through the order acknowledgement feed (see the module docstring)."""
        seller_id = str(self.settings.get("seller_id") or "")
        if not seller_id:
            raise self._error(
                "http_error",
                None,
                "the Amazon integration has no seller_id (the feed's merchant); nothing was sent",
            )
        item_ids = [
            str(item["OrderItemId"])
            for item in self.order_items(order_no)
            if isinstance(item, dict) and isinstance(item.get("OrderItemId"), str)
        ]
        document = cancel_feed(seller_id, order_no, item_ids, cancel_reason(reason))
        status, created = self._call("POST", f"{FEEDS}/documents", body={"contentType": FEED_CONTENT_TYPE})
        document_id = created.get("feedDocumentId") if isinstance(created, dict) else None
        url = created.get("url") if isinstance(created, dict) else None
        if not isinstance(document_id, str) or not document_id or not isinstance(url, str):
            raise self._error("http_error", status, "createFeedDocument answered no feedDocumentId and url")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self._error("http_error", status, "createFeedDocument's url is not an http(s) URL")
        origin = f"{parts.scheme}://{parts.netloc}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        # The pre-signed URL carries its own authorization: no SP-API token goes with it.
        self.request(
            "PUT",
            target,
            base_url=origin,
            content=document,
            headers={"Content-Type": FEED_CONTENT_TYPE},
            auth=False,
        )
        feed = {
            "feedType": CANCEL_FEED_TYPE,
            "marketplaceIds": [self.marketplace_id],
            "inputFeedDocumentId": document_id,
        }
        status, accepted = self._call("POST", f"{FEEDS}/feeds", body=feed)
        if not isinstance(accepted, dict) or not accepted.get("feedId"):
            raise self._error("http_error", status, "createFeed answered no feedId")
        logger.info(
            "Amazon cancel feed accepted",
            extra={"marketplace": self.marketplace, "order_no": order_no, "feed_id": accepted["feedId"]},
        )
