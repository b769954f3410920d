"""Qoo10 Japan QAPI, as the local cloud's fake server serves it (docs/connectors.md, "The fake
server"): {fake}/qoo10/<Service.Method>, POST form-encoded (GET with the same parameters in the
query also works, as on Qoo10).

    ShippingBasic.GetShippingInfo_v3                  ShippingStatus, SearchStartDate,
                                                      SearchEndDate, SearchCondition
    ShippingBasic.GetClaimInfo_V3                     ClaimStat, search_Sdate, search_Edate,
                                                      search_condition
    ShippingBasic.GetShippingAndClaimInfoByOrderNo_V2 OrderNo
    ShippingBasic.SetSendingInfo                      OrderNo, ShippingCorp, TrackingNo
    Claim.SetCancelProcess                            ContrNo, CancelReason, SellerMemo, returnFeeStat

Every answer is HTTP 200 with {ResultCode, ResultMsg, ResultObject}, ResultCode 0 on success.
The key goes in the header GiosisCertificationKey; one `fake.token_allowed("qoo10", key)`
refuses is ResultCode -10000 "Please check the Seller Authorization Key." (Qoo10's code).

Stored orders: one object per Qoo10 OrderNo (one order line: orders.py), a flat row named as
GetShippingInfo_v3 names its fields (`OrderNo`, `PackNo`, `OrderDate`, `PaymentDate`,
`ShippingDate`, `DeliveredDate`, `ShippingStatus`, `SellerItemCode`, `OptionCode`, `OrderQty`,
`OrderPrice`, `Total`, `Currency`, `Receiver`, `ZipCode`, `ShippingAddress`, `Address1`,
`Address2`, `ReceiverTel`, `ReceiverMobile`, `PaymentMethod`, `TrackingNo`, `DeliveryCompany`...)
plus the claim's fields as the claim calls name them (`claimStatus`, `requestDate`,
`cancelRefundDate`, `reason`). Dates are Qoo10's Japan-time text ("2026/11/27 10:00:00").
`order_number` reads `OrderNo`. Each method answers its own view of the row:
GetShippingInfo_v3 the row without the claim fields; GetClaimInfo_V3 and
GetShippingAndClaimInfoByOrderNo_V2 their own camelCase names (orderNo, shippingStatus,
sellerItemCode, shippingAddr (= ShippingAddress, they have no Address1/2), claimStatus...).

- GetShippingInfo_v3: the orders in that ShippingStatus (0 or empty: 1 to 3, as the guide says)
  whose date of the kind SearchCondition names (1 OrderDate, 2 PaymentDate, 3 ShippingDate,
  4 DeliveredDate) falls in the window (YYYYMMDD: whole Japan days, both ends included;
  YYYYMMDDHHMMSS: to the second). A claimed order is listed too (its row shows no claim). No
  window limit is enforced (none was found for this method).
- GetClaimInfo_V3: the orders with that claimStatus (ClaimStat empty: every claimed order)
  whose search_condition date (1 OrderDate, 2 requestDate, 3 cancelRefundDate) is in the window;
  more than 90 days is -10003, a missing or malformed date -10002 (Qoo10's codes).
- GetShippingAndClaimInfoByOrderNo_V2: a list with the order's row; an empty list when the
  fake has no such order (what Qoo10 answers then is not known).
- SetSendingInfo: OrderNo, ShippingCorp and TrackingNo are required (-10005, the fake's own
  code). An unknown order is -10002, a cancelled one or one not yet requested for shipping
  (ShippingStatus 1) -10004 (SetCancelProcess's codes; SetSendingInfo's are not published). The
  first call for an order fake.record_fulfillment, a later one fake.record_tracking (nothing is
  recorded when it sends the tracking the order already shows). Either way the order gets
  ShippingStatus 4, ShippingDate now (first call only), TrackingNo and DeliveryCompany (the
  ShippingCorp text). Whether the real Qoo10 replaces a shipped order's tracking is not
  confirmed: the fake does.
- SetCancelProcess: ContrNo is the OrderNo (-10001 without one); unknown -10002; shipped
  (ShippingStatus 4 or 5) or already cancelled -10004; CancelReason other than empty, 1, 2, 3
  -10005 (the fake's own). Else fake.record_cancel {order_no, reason (SellerMemo),
  cancel_reason}, and the order shows claimStatus 3 with requestDate and cancelRefundDate now.
- A method the fake does not serve: -90001 "The API does not exist".

Test control: answer_code(fake, code, message) makes the next answers carry that ResultCode.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from orderhub.kernel import clock
from orderhub.kernel.errors import MalformedPayload
from orderhub.marketplaces.qoo10 import orders

if TYPE_CHECKING:
    from localcloud.fake_marketplace import FakeMarketplace, FakeRequest

MARKETPLACE = "qoo10"
Answer = tuple[int, Any, dict[str, str]]
_LOCK = threading.Lock()

GET_SHIPPING_INFO = "ShippingBasic.GetShippingInfo_v3"
GET_CLAIM_INFO = "ShippingBasic.GetClaimInfo_V3"
GET_ORDER = "ShippingBasic.GetShippingAndClaimInfoByOrderNo_V2"
SET_SENDING_INFO = "ShippingBasic.SetSendingInfo"
SET_CANCEL_PROCESS = "Claim.SetCancelProcess"
OPERATIONS = {
    GET_SHIPPING_INFO: "list",
    GET_CLAIM_INFO: "list",
    GET_ORDER: "fetch",
    SET_SENDING_INFO: "fulfill",  # also a tracking change: the request alone does not tell
    SET_CANCEL_PROCESS: "cancel",
}

# Qoo10's codes (the guide's tables) and the fake's own (-10005).
KEY_REFUSED = -10000, "Please check the Seller Authorization Key."
BAD_ORDER_NO = -10001, "The order number is wrong."
NO_ORDER = -10002, "There is no order information."
SEARCH_DATE = -10002, "Search Date Error"
PERIOD_TOO_LONG = -10003, "Searching period exceeds to 90 days."
BAD_STATUS = -10004, "The order status is not valid."
BAD_PARAMETER = -10005, "A parameter is missing or not valid."
NO_API = -90001, "The API does not exist"
CLAIM_MAX_DAYS = 90

CLAIM_KEYS = ("claimStatus", "requestDate", "cancelRefundDate", "reason")
SHIPPING_DATES = {"1": "OrderDate", "2": "PaymentDate", "3": "ShippingDate", "4": "DeliveredDate"}
CLAIM_DATES = {"1": "OrderDate", "2": "requestDate", "3": "cancelRefundDate"}
# GetClaimInfo_V3's names for the stored fields.
CLAIM_VIEW = {
    "claimStatus": "claimStatus",
    "cancelRefundDate": "cancelRefundDate",
    "reason": "reason",
    "requestDate": "requestDate",
    "OrderDate": "orderDate",
    "PaymentDate": "PaymentDate",
    "ShippingDate": "shippingDate",
    "DeliveredDate": "DeliveredDate",
    "OrderNo": "orderNo",
    "PackNo": "packNo",
    "ItemNo": "itemCode",
    "SellerItemCode": "sellerItemCode",
    "ItemTitle": "itemTitle",
    "OrderQty": "orderQty",
    "Currency": "currency",
    "Total": "paymentAmount",
    "DeliveryCompany": "deliveryCompany",
    "TrackingNo": "trackingNo",
    "ZipCode": "zipCode",
    "Receiver": "receiver",
    "ReceiverTel": "receiverTel",
    "ReceiverMobile": "receiverMobile",
    "Buyer": "buyer",
}
# GetShippingAndClaimInfoByOrderNo_V2's names for the stored fields.
ORDER_VIEW = {
    "ShippingStatus": "shippingStatus",
    "SellerID": "sellerID",
    "PackNo": "packNo",
    "OrderDate": "orderDate",
    "PaymentDate": "PaymentDate",
    "DeliveredDate": "DeliveredDate",
    "Buyer": "buyer",
    "BuyerEmail": "buyerEmail",
    "OrderNo": "orderNo",
    "ItemNo": "itemCode",
    "SellerItemCode": "sellerItemCode",
    "ItemTitle": "itemTitle",
    "Option": "option",
    "OptionCode": "optionCode",
    "OrderPrice": "orderPrice",
    "OrderQty": "orderQty",
    "Discount": "discount",
    "Total": "total",
    "Receiver": "receiver",
    "shippingCountry": "shippingCountry",
    "ZipCode": "zipCode",
    "ShippingAddress": "shippingAddr",
    "ReceiverTel": "receiverTel",
    "ReceiverMobile": "receiverMobile",
    "PackingNo": "PackingNo",
    "SellerDeliveryNo": "SellerDeliveryNo",
    "PaymentMethod": "PaymentMethod",
    "claimStatus": "claimStatus",
    "cancelRefundDate": "cancelRefundDate",
    "reason": "reason",
    "requestDate": "requestDate",
    "ShippingDate": "shippingDate",
    "Currency": "currency",
    "DeliveryCompany": "deliveryCompany",
    "TrackingNo": "trackingNo",
}


def order_number(order: dict) -> str:
    no = str(order.get("OrderNo") or "").strip()
    if not no:
        raise ValueError("the qoo10 order object has no OrderNo")
    return no


def operation(request: FakeRequest) -> str:
    return OPERATIONS.get(request.rest[0], "other") if len(request.rest) == 1 else "other"


# ---------------------------------------------------------------------- test control
def answer_code(fake: FakeMarketplace, code: int, message: str = "", count: int = 1) -> None:
    """The next `count` requests answer ResultCode `code` (HTTP 200) and change nothing."""
    fake.state(MARKETPLACE)["answer_code"] = {"count": count, "code": code, "message": message}


# ---------------------------------------------------------------------- serving
def handle(fake: FakeMarketplace, request: FakeRequest) -> Answer:
    if not fake.token_allowed(MARKETPLACE, request.headers.get("giosiscertificationkey", "").strip()):
        return _result(KEY_REFUSED)
    coded = fake.take_fault(MARKETPLACE, "answer_code")
    if coded is not None:
        return _result((coded["code"], coded["message"]))
    method = request.rest[0] if len(request.rest) == 1 else ""
    try:
        params = request.form() if request.method == "POST" else dict(request.query)
    except UnicodeDecodeError:
        return _result(BAD_PARAMETER)
    serve = {
        GET_SHIPPING_INFO: _shipping_info,
        GET_CLAIM_INFO: _claim_info,
        GET_ORDER: _order,
        SET_SENDING_INFO: _sending_info,
        SET_CANCEL_PROCESS: _cancel,
    }.get(method)
    if serve is None or request.method not in ("GET", "POST"):
        return _result(NO_API)
    return serve(fake, params)


def _result(code: tuple[int, str], found: Any = None) -> Answer:
    number, message = code
    return 200, {"ResultCode": number, "ResultMsg": message or "", "ResultObject": found}, {}


def _ok(found: Any = None) -> Answer:
    return _result((0, "SUCCESS"), found)


def _date(value: Any) -> datetime | None:
    try:
        return orders.parse_date(value, "date")
    except MalformedPayload:
        return None


def _window(start: str, end: str) -> tuple[datetime, datetime] | None:
    """A search window (YYYYMMDD whole Japan days, or YYYYMMDDHHMMSS), both ends included."""
    bounds = []
    for value, last in ((start.strip(), False), (end.strip(), True)):
        if not value.isdigit() or len(value) not in (8, 14):
            return None
        try:
            when = datetime.strptime(value, "%Y%m%d%H%M%S" if len(value) == 14 else "%Y%m%d")
        except ValueError:
            return None
        if len(value) == 8 and last:
            when += timedelta(days=1) - timedelta(microseconds=1)
        bounds.append(when.replace(tzinfo=orders.JST))
    return (bounds[0], bounds[1]) if bounds[0] <= bounds[1] else None


def _within(order: dict, field: str, window: tuple[datetime, datetime]) -> bool:
    when = _date(order.get(field))
    return when is not None and window[0] <= when <= window[1]


def _shipping_view(order: dict) -> dict:
    return {k: v for k, v in order.items() if k not in CLAIM_KEYS}


def _view(order: dict, names: dict[str, str]) -> dict:
    return {names[k]: v for k, v in order.items() if k in names}


def _status(order: dict) -> str:
    return str(order.get("ShippingStatus") or "").strip()


def _claim(order: dict) -> str:
    return str(order.get("claimStatus") or "").strip()


def _shipping_info(fake: FakeMarketplace, params: dict[str, str]) -> Answer:
    status = params.get("ShippingStatus", "").strip()
    statuses = {"1", "2", "3"} if status in ("", "0") else {status}
    if not statuses <= set(orders.SHIPPING_STATUSES):
        return _result(BAD_PARAMETER)
    window = _window(params.get("SearchStartDate", ""), params.get("SearchEndDate", ""))
    field = SHIPPING_DATES.get(params.get("SearchCondition", "").strip() or "1")
    if window is None or field is None:
        return _result(SEARCH_DATE)
    rows = [
        _shipping_view(o)
        for o in fake.orders(MARKETPLACE)
        if _status(o) in statuses and _within(o, field, window)
    ]
    return _ok(rows)


def _claim_info(fake: FakeMarketplace, params: dict[str, str]) -> Answer:
    window = _window(params.get("search_Sdate", ""), params.get("search_Edate", ""))
    field = CLAIM_DATES.get(params.get("search_condition", "").strip() or "1")
    if window is None or field is None:
        return _result(SEARCH_DATE)
    if window[1] - window[0] > timedelta(days=CLAIM_MAX_DAYS):
        return _result(PERIOD_TOO_LONG)
    stat = params.get("ClaimStat", "").strip()
    rows = [
        _view(o, CLAIM_VIEW)
        for o in fake.orders(MARKETPLACE)
        if _claim(o) not in ("", "0") and stat in ("", _claim(o)) and _within(o, field, window)
    ]
    return _ok(rows)


def _order(fake: FakeMarketplace, params: dict[str, str]) -> Answer:
    order = fake.get_order(MARKETPLACE, params.get("OrderNo", "").strip())
    return _ok([_view(order, ORDER_VIEW)] if order is not None else [])


def _now_text() -> str:
    return orders.jst_text(clock.now())


def _sending_info(fake: FakeMarketplace, params: dict[str, str]) -> Answer:
    no, corp, number = (params.get(k, "").strip() for k in ("OrderNo", "ShippingCorp", "TrackingNo"))
    if not (no and corp and number):
        return _result(BAD_PARAMETER)
    with _LOCK:
        order = fake.get_order(MARKETPLACE, no)
        if order is None:
            return _result(NO_ORDER)
        if _claim(order) in orders.CANCEL_DONE or _status(order) not in ("2", "3", "4", "5"):
            return _result(BAD_STATUS)
        shipment = {"order_no": no, "carrier": corp, "tracking_number": number}
        shipped = _status(order) in ("4", "5") and bool(str(order.get("TrackingNo") or "").strip())
        if not shipped:
            fake.record_fulfillment(MARKETPLACE, shipment)
            order["ShippingDate"] = _now_text()
            order["ShippingStatus"] = "4"
        elif (order.get("TrackingNo"), order.get("DeliveryCompany")) != (number, corp):
            fake.record_tracking(MARKETPLACE, shipment)
        order["TrackingNo"], order["DeliveryCompany"] = number, corp
        fake.replace_order(MARKETPLACE, order)
    return _ok()


def _cancel(fake: FakeMarketplace, params: dict[str, str]) -> Answer:
    no = params.get("ContrNo", "").strip()
    if not no:
        return _result(BAD_ORDER_NO)
    reason = params.get("CancelReason", "").strip()
    if reason not in ("", "1", "2", "3"):
        return _result(BAD_PARAMETER)
    with _LOCK:
        order = fake.get_order(MARKETPLACE, no)
        if order is None:
            return _result(NO_ORDER)
        if _claim(order) in orders.CANCEL_DONE or _status(order) in ("4", "5"):
            return _result(BAD_STATUS)
        memo = params.get("SellerMemo", "")
        fake.record_cancel(MARKETPLACE, {"order_no": no, "reason": memo, "cancel_reason": reason})
        now = _now_text()
        order.update(claimStatus="3", requestDate=now, cancelRefundDate=now, reason=memo)
        fake.replace_order(MARKETPLACE, order)
    return _ok()
