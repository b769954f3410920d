"""Amazon's Selling Partner API as the local cloud's fake marketplace serves it
(localcloud/fake_marketplace.py hands it every request under {url}/amazon/; docs/connectors.md).

    POST /amazon/auth/o2/token                                 LWA: grant_type=refresh_token (form)
    POST /amazon/tokens/2021-03-01/restrictedDataToken          an RDT for GET paths
    GET  /amazon/orders/v0/orders?MarketplaceIds=&LastUpdatedAfter=[&FulfillmentChannels=]
         [&MaxResultsPerPage=][&NextToken=]                     getOrders
    GET  /amazon/orders/v0/orders/{id}                          getOrder
    GET  /amazon/orders/v0/orders/{id}/orderItems[?NextToken=]  getOrderItems
    POST /amazon/orders/v0/orders/{id}/shipmentConfirmation     confirmShipment -> 204
    POST /amazon/feeds/2021-06-30/documents                     createFeedDocument -> 201
    PUT  /amazon/_documents/{id}?X-Amz-Signature=...            the pre-signed upload URL
    POST /amazon/feeds/2021-06-30/feeds                         createFeed -> 202 {feedId}
    GET  /amazon/feeds/2021-06-30/feeds/{feedId}                getFeed

A stored order is Amazon's Order object with its lines under "OrderItems" (as getOrderItems
lists them): `fake.put_order("amazon", {"AmazonOrderId": ..., ..., "OrderItems": [...]})`.

- LWA: the refresh token must pass `fake.token_allowed("amazon", token)` (any non-empty one
  unless `require_token` named some) and client_id / client_secret be non-empty (or equal
  state["client"] = {"client_id", "client_secret"} when a test sets it). Access tokens live
  state["expires_in"] seconds (default 3600). Errors as LWA's: 400 {"error": "invalid_grant"...}.
- Every SP-API call needs `x-amz-access-token`: an access token issued here and not expired, or
  for getOrders / getOrder an RDT issued for that exact path; else 403 with Amazon's error body
  {"errors": [{"code": "Unauthorized", ...}]}. Read with an LWA token, ShippingAddress loses
  Name, AddressLine1-3, Phone, CompanyName and AddressType (ordersV0.json: restricted data).
  state["pii_denied"] = True makes the Tokens API answer 403 (an application without the role).
- getOrders: LastUpdateDate >= LastUpdatedAfter, FulfillmentChannel in FulfillmentChannels (an
  order without one is MFN), MarketplaceId in MarketplaceIds (when the order has one), oldest
  change first (ties by AmazonOrderId), MaxResultsPerPage 1-100 (default 100); NextToken is an
  opaque token issued here. getOrderItems pages by state["items_page_size"] (default 100).
- confirmShipment checks the body against ordersV0.json (marketplaceId; packageDetail with
  packageReferenceId (a positive number), carrierCode, carrierName when carrierCode is "Other",
  trackingNumber, shipDate, orderItems of the order's OrderItemIds with 1..QuantityOrdered) and
  refuses an order that is Pending, PendingAvailability or Canceled (400). A package reference
  the order has not had is recorded as a fulfillment (fake.fulfillments()); the same reference
  again replaces that package and is recorded as a tracking update (fake.tracking_updates()).
  Lines' QuantityShipped become what the packages hold; OrderStatus PartiallyShipped or Shipped;
  LastUpdateDate now.
- Feeds: createFeedDocument answers an upload URL on this server (the fake's stand-in for
  another origin), signed by a query parameter; the upload's Content-Type must be the one the
  document was created with. createFeed of POST_ORDER_ACKNOWLEDGEMENT_DATA applies the feed at
  once (Amazon processes it later): each OrderAcknowledgement with StatusCode Failure cancels its
  order (OrderStatus Canceled, LastUpdateDate now, recorded in fake.cancels() with its
  CancelReason) unless the order has shipped or is cancelled already.

Operations (fake.fail's): "list" getOrders; "fetch" getOrder and getOrderItems; "fulfill"
confirmShipment (a re-confirmation too); "cancel" the feed calls and the upload; "other" the
LWA and Tokens endpoints.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

PREFIX_ORDERS = ["orders", "v0", "orders"]
PREFIX_FEEDS = ["feeds", "2021-06-30"]
RESTRICTED_ADDRESS_FIELDS = (
    "Name",
    "AddressLine1",
    "AddressLine2",
    "AddressLine3",
    "Phone",
    "CompanyName",
    "AddressType",
)
CANCEL_FEED_TYPE = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
NOT_SHIPPABLE = ("Pending", "PendingAvailability", "Canceled")

_LOCK = threading.RLock()  # a read-change-write of a stored order or of the protocol state

Answer = tuple[int, Any, dict[str, str]]


def order_number(order: dict) -> str:
    no = str(order.get("AmazonOrderId") or "").strip()
    if not no:
        raise ValueError("the amazon order object has no AmazonOrderId")
    return no


def operation(request: Any) -> str:
    rest, method = request.rest, request.method
    if rest[:3] == PREFIX_ORDERS:
        if method == "GET":
            return "list" if len(rest) == 3 else "fetch"
        if rest[-1:] == ["shipmentConfirmation"]:
            return "fulfill"
    if rest[:2] == PREFIX_FEEDS or rest[:1] == ["_documents"]:
        return "cancel"
    return "other"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _errors(status: int, code: str, message: str) -> Answer:
    return status, {"errors": [{"code": code, "message": message, "details": ""}]}, {}


def _invalid(message: str) -> Answer:
    return _errors(400, "InvalidInput", message)


def _time(value: Any) -> datetime | None:
    try:
        dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else None


def _state(fake: Any) -> dict:
    state = fake.state("amazon")
    for key in ("access_tokens", "restricted_tokens", "documents", "feeds", "next_tokens", "packages"):
        state.setdefault(key, {})
    return state


def handle(fake: Any, request: Any) -> Answer:
    rest, method = request.rest, request.method
    with _LOCK:
        if rest == ["auth", "o2", "token"] and method == "POST":
            return _lwa(fake, request)
        if rest[:1] == ["_documents"] and len(rest) == 2 and method == "PUT":
            return _upload(fake, request, rest[1])
        token = request.headers.get("x-amz-access-token", "")
        path = "/" + "/".join(rest)
        if not _authorized(fake, token, method, path):
            return _errors(403, "Unauthorized", "Access to requested resource is denied.")
        if rest == ["tokens", "2021-03-01", "restrictedDataToken"] and method == "POST":
            return _restricted_token(fake, request)
        if rest[:3] == PREFIX_ORDERS:
            restricted = token in _state(fake)["restricted_tokens"]
            if len(rest) == 3 and method == "GET":
                return _list(fake, request, restricted)
            if len(rest) >= 4:
                order = fake.get_order("amazon", rest[3])
                if order is None:
                    return _errors(404, "NotFound", f"Order {rest[3]} not found")
                if len(rest) == 4 and method == "GET":
                    return 200, {"payload": _view(order, restricted)}, {}
                if rest[4:] == ["orderItems"] and method == "GET":
                    return _items(fake, request, order)
                if rest[4:] == ["shipmentConfirmation"] and method == "POST":
                    return _confirm(fake, request, order)
        if rest[:2] == PREFIX_FEEDS:
            if rest[2:] == ["documents"] and method == "POST":
                return _create_document(fake, request)
            if rest[2:] == ["feeds"] and method == "POST":
                return _create_feed(fake, request)
            if rest[2:3] == ["feeds"] and len(rest) == 4 and method == "GET":
                feed = _state(fake)["feeds"].get(rest[3])
                return (200, feed, {}) if feed else _errors(404, "NotFound", "no such feed")
        return _errors(404, "NotFound", f"no route {method} {path}")


# ---------------------------------------------------------------------- tokens
def _lwa(fake: Any, request: Any) -> Answer:
    try:
        form = request.form()
    except UnicodeDecodeError:
        form = {}
    if form.get("grant_type") != "refresh_token":
        return (
            400,
            {"error": "unsupported_grant_type", "error_description": "grant_type must be refresh_token"},
            {},
        )
    state = _state(fake)
    client = state.get("client")
    client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    if (
        not client_id
        or not secret
        or (
            client is not None
            and (client_id, secret) != (client.get("client_id"), client.get("client_secret"))
        )
    ):
        return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}, {}
    if not fake.token_allowed("amazon", form.get("refresh_token")):
        return (
            400,
            {"error": "invalid_grant", "error_description": "The request has an invalid grant parameter"},
            {},
        )
    expires_in = int(state.get("expires_in", 3600))
    token = "Atza|" + secrets.token_urlsafe(24)
    state["access_tokens"][token] = time.time() + expires_in
    return 200, {"access_token": token, "token_type": "bearer", "expires_in": expires_in}, {}


def _authorized(fake: Any, token: str, method: str, path: str) -> bool:
    state = _state(fake)
    now = time.time()
    expiry = state["access_tokens"].get(token)
    if expiry is not None:
        return now < expiry
    restricted = state["restricted_tokens"].get(token)
    if restricted is not None:
        expires_at, resources = restricted
        return now < expires_at and method == "GET" and path in resources
    return False


def _restricted_token(fake: Any, request: Any) -> Answer:
    state = _state(fake)
    if state.get("pii_denied"):
        return _errors(403, "Unauthorized", "Access to requested resource is denied.")
    body = _json(request)
    resources = body.get("restrictedResources") if isinstance(body, dict) else None
    if not isinstance(resources, list) or not resources:
        return _invalid("restrictedResources is required")
    paths = []
    for resource in resources:
        if not isinstance(resource, dict) or resource.get("method") not in ("GET", "PUT", "POST", "DELETE"):
            return _invalid("each restricted resource needs method and path")
        if not isinstance(resource.get("path"), str) or not resource["path"].startswith("/"):
            return _invalid("each restricted resource needs method and path")
        if resource["path"].startswith("/orders/v0/orders") and not resource.get("dataElements"):
            return _invalid("dataElements is required for the Orders API")
        paths.append(resource["path"])
    expires_in = int(state.get("expires_in", 3600))
    token = "Atz.sprdt|" + secrets.token_urlsafe(24)
    state["restricted_tokens"][token] = (time.time() + expires_in, tuple(paths))
    return 200, {"restrictedDataToken": token, "expiresIn": expires_in}, {}


def _json(request: Any) -> Any:
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------------- orders
def _view(order: dict, restricted: bool) -> dict:
    """The Order as getOrder(s) answers it: without its lines, and without the restricted
    address fields unless read with an RDT."""
    out = {k: copy.deepcopy(v) for k, v in order.items() if k != "OrderItems"}
    address = out.get("ShippingAddress")
    if isinstance(address, dict) and not restricted:
        out["ShippingAddress"] = {k: v for k, v in address.items() if k not in RESTRICTED_ADDRESS_FIELDS}
    return out


def _list(fake: Any, request: Any, restricted: bool) -> Answer:
    state = _state(fake)
    query = dict(request.query)
    token = query.get("NextToken")
    if token:
        saved = state["next_tokens"].pop(token, None)
        if saved is None:
            return _invalid("Invalid NextToken")
        query, offset = dict(saved[0]), saved[1]
    else:
        offset = 0
    markets = [m for m in (query.get("MarketplaceIds") or "").split(",") if m]
    if not markets:
        return _invalid("MarketplaceIds is required")
    since = _time(query.get("LastUpdatedAfter"))
    if since is None:
        return _invalid("LastUpdatedAfter is required, in ISO 8601 with a time zone")
    try:
        size = int(query.get("MaxResultsPerPage") or 100)
    except ValueError:
        return _invalid("MaxResultsPerPage must be a number")
    if not 1 <= size <= 100:
        return _invalid("MaxResultsPerPage must be 1 - 100")
    channels = [c for c in (query.get("FulfillmentChannels") or "").split(",") if c]
    changed = []
    for order in fake.orders("amazon"):
        updated = _time(order.get("LastUpdateDate"))
        if updated is None or updated < since:
            continue
        if channels and (order.get("FulfillmentChannel") or "MFN") not in channels:
            continue
        if order.get("MarketplaceId") and order["MarketplaceId"] not in markets:
            continue
        changed.append((updated, order["AmazonOrderId"], order))
    changed.sort(key=lambda c: (c[0], c[1]))
    page = changed[offset : offset + size]
    payload: dict[str, Any] = {"Orders": [_view(o, restricted) for _u, _n, o in page]}
    if offset + size < len(changed):
        next_token = secrets.token_urlsafe(16)
        state["next_tokens"][next_token] = (
            {k: v for k, v in query.items() if k != "NextToken"},
            offset + size,
        )
        payload["NextToken"] = next_token
    return 200, {"payload": payload}, {}


def _items(fake: Any, request: Any, order: dict) -> Answer:
    state = _state(fake)
    items = order.get("OrderItems") or []
    size = int(state.get("items_page_size", 100))
    token = request.query.get("NextToken")
    offset = 0
    if token:
        saved = state["next_tokens"].pop(token, None)
        if saved is None or saved[0] != {"order": order["AmazonOrderId"]}:
            return _invalid("Invalid NextToken")
        offset = saved[1]
    payload: dict[str, Any] = {
        "AmazonOrderId": order["AmazonOrderId"],
        "OrderItems": copy.deepcopy(items[offset : offset + size]),
    }
    if offset + size < len(items):
        next_token = secrets.token_urlsafe(16)
        state["next_tokens"][next_token] = ({"order": order["AmazonOrderId"]}, offset + size)
        payload["NextToken"] = next_token
    return 200, {"payload": payload}, {}


def _confirm(fake: Any, request: Any, order: dict) -> Answer:
    body = _json(request)
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("marketplaceId"), str)
        or not body["marketplaceId"]
    ):
        return _invalid("marketplaceId is required")
    detail = body.get("packageDetail")
    if not isinstance(detail, dict):
        return _invalid("packageDetail is required")
    for name in ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate"):
        if not isinstance(detail.get(name), str) or not detail[name]:
            return _invalid(f"packageDetail.{name} is required")
    ref = detail["packageReferenceId"]
    if not ref.isdigit() or int(ref) < 1:
        return _invalid("packageReferenceId must be a positive number")
    if detail["carrierCode"] == "Other" and not detail.get("carrierName"):
        return _invalid("carrierName is required when carrierCode is Other")
    if _time(detail["shipDate"]) is None:
        return _invalid("shipDate must be an ISO 8601 date-time")
    if order.get("OrderStatus") in NOT_SHIPPABLE:
        return _invalid(f"The order is {order.get('OrderStatus')}: it cannot be confirmed")
    ordered = {i.get("OrderItemId"): i for i in order.get("OrderItems") or [] if isinstance(i, dict)}
    lines = detail.get("orderItems")
    if not isinstance(lines, list) or not lines:
        return _invalid("packageDetail.orderItems is required")
    quantities: dict[str, int] = {}
    for line in lines:
        oid = line.get("orderItemId") if isinstance(line, dict) else None
        quantity = line.get("quantity") if isinstance(line, dict) else None
        if oid not in ordered:
            return _invalid(f"orderItemId {oid!r} is not an item of this order")
        if (
            not isinstance(quantity, int)
            or isinstance(quantity, bool)
            or not 1 <= quantity <= ordered[oid]["QuantityOrdered"]
        ):
            return _invalid(f"quantity of {oid} must be 1 - QuantityOrdered")
        quantities[oid] = quantities.get(oid, 0) + quantity
    number = order["AmazonOrderId"]
    packages = _state(fake)["packages"].setdefault(number, {})
    again = ref in packages
    packages[ref] = {
        "carrierCode": detail["carrierCode"],
        "trackingNumber": detail["trackingNumber"],
        "items": quantities,
    }
    shipped: dict[str, int] = {}
    for package in packages.values():
        for oid, quantity in package["items"].items():
            shipped[oid] = shipped.get(oid, 0) + quantity
    total_ordered = total_shipped = 0
    for item in order.get("OrderItems") or []:
        item["QuantityShipped"] = min(item["QuantityOrdered"], shipped.get(item["OrderItemId"], 0))
        total_ordered += item["QuantityOrdered"]
        total_shipped += item["QuantityShipped"]
    order.update(
        OrderStatus="Shipped" if total_shipped >= total_ordered else "PartiallyShipped",
        NumberOfItemsShipped=total_shipped,
        NumberOfItemsUnshipped=total_ordered - total_shipped,
        LastUpdateDate=_now(),
    )
    fake.replace_order("amazon", order)
    entry = {
        "order_no": number,
        "carrier": detail["carrierCode"],
        "tracking_number": detail["trackingNumber"],
        "carrier_name": detail.get("carrierName"),
        "package": ref,
    }
    (fake.record_tracking if again else fake.record_fulfillment)("amazon", entry)
    return 204, b"", {}


# ---------------------------------------------------------------------- feeds
def _create_document(fake: Any, request: Any) -> Answer:
    body = _json(request)
    content_type = body.get("contentType") if isinstance(body, dict) else None
    if not isinstance(content_type, str) or not content_type:
        return _invalid("contentType is required")
    document_id = "amzn1.tortuga.4." + secrets.token_hex(8)
    signature = secrets.token_hex(16)
    _state(fake)["documents"][document_id] = {
        "content_type": content_type,
        "signature": signature,
        "body": None,
    }
    host = request.headers.get("host", "127.0.0.1")
    url = f"http://{host}/amazon/_documents/{document_id}?X-Amz-Signature={signature}"
    return 201, {"feedDocumentId": document_id, "url": url}, {}


def _upload(fake: Any, request: Any, document_id: str) -> Answer:
    document = _state(fake)["documents"].get(document_id)
    if document is None or request.query.get("X-Amz-Signature") != document["signature"]:
        return 403, "SignatureDoesNotMatch", {}
    if request.headers.get("content-type") != document["content_type"]:
        return 403, "SignatureDoesNotMatch: Content-Type differs from the document's", {}
    document["body"] = bytes(request.body)
    return 200, b"", {}


def _create_feed(fake: Any, request: Any) -> Answer:
    body = _json(request)
    if not isinstance(body, dict):
        return _invalid("the body must be a feed specification")
    feed_type, markets, document_id = (
        body.get("feedType"),
        body.get("marketplaceIds"),
        body.get("inputFeedDocumentId"),
    )
    if not isinstance(feed_type, str) or not feed_type:
        return _invalid("feedType is required")
    if not isinstance(markets, list) or not markets:
        return _invalid("marketplaceIds is required")
    document = _state(fake)["documents"].get(document_id) if isinstance(document_id, str) else None
    if document is None or document["body"] is None:
        return _invalid("inputFeedDocumentId names no uploaded document")
    feed_id = str(50000 + len(_state(fake)["feeds"]))
    status = "DONE"
    if feed_type == CANCEL_FEED_TYPE:
        status = _apply_acknowledgements(fake, document["body"], feed_id)
    _state(fake)["feeds"][feed_id] = {
        "feedId": feed_id,
        "feedType": feed_type,
        "marketplaceIds": markets,
        "createdTime": _now(),
        "processingStatus": status,
    }
    return 202, {"feedId": feed_id}, {}


def _apply_acknowledgements(fake: Any, document: bytes, feed_id: str) -> str:
    from xml.etree import ElementTree as ET

    try:
        root = ET.fromstring(document)  # noqa: S314 the fake parses what the client under test sent
    except ET.ParseError:
        return "FATAL"
    if root.tag != "AmazonEnvelope" or root.findtext("MessageType") != "OrderAcknowledgement":
        return "FATAL"
    for ack in root.iter("OrderAcknowledgement"):
        number = (ack.findtext("AmazonOrderID") or "").strip()
        if (ack.findtext("StatusCode") or "").strip() != "Failure":
            continue
        order = fake.get_order("amazon", number)
        if order is None or order.get("OrderStatus") in (
            "Canceled",
            "Shipped",
            "PartiallyShipped",
            "InvoiceUnconfirmed",
        ):
            continue
        reasons = [(item.findtext("CancelReason") or "").strip() for item in ack.iter("Item")]
        order.update(OrderStatus="Canceled", LastUpdateDate=_now())
        fake.replace_order("amazon", order)
        fake.record_cancel(
            "amazon",
            {
                "order_no": number,
                "reason": next((r for r in reasons if r), ""),
                "item_codes": [
                    (item.findtext("AmazonOrderItemCode") or "").strip() for item in ack.iter("Item")
                ],
                "merchant": (root.findtext("Header/MerchantIdentifier") or "").strip(),
                "feed_id": feed_id,
            },
        )
    return "DONE"
