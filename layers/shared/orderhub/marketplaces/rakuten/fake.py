"""RakutenPayOrderAPI as the local cloud's fake marketplace serves it (docs/connectors.md, "The
fake server"): {fake}/rakuten/order/<method>/ (any prefix before `order/<method>`, so an
api_base_url of {fake}/rakuten/es/2.0 works too), JSON POSTs, orders stored as getOrder
OrderModel objects (orderNumber).

- Auth: `Authorization: ESA <base64(serviceSecret:licenseKey)>`; the base64 part is the token
  fake.token_allowed checks. Without it: 401 {"Results": {"errorCode": "ES01-01", ...}} (the
  shape community code shows for RMS ES 2.0 [P]).
- searchOrder: dateType 1 注文日 (orderDatetime), 2 注文確認日 (shopOrderCfmDatetime), 3 注文確定日
  (orderFixDatetime), 5 発送完了報告日 (shippingCmplRptDatetime); startDatetime / endDatetime as
  "yyyy-MM-ddTHH:mm:ss+0900" (a "+09:00" offset is taken too), end at most 63 days after start,
  start within two years; orderProgressList; PaginationRequestModel {requestRecordsAmount 1-1000
  (default 1000), requestPage (default 1), SortModelList [{sortColumn 1 注文日時, sortDirection 1
  asc | 2 desc}]} -> {MessageModelList, orderNumberList, PaginationResponseModel
  {totalRecordsAmount, totalPages, requestPage}}.
- getOrder: orderNumberList (1-100), version (below 7 the SkuModelList is left out) ->
  {MessageModelList, OrderModelList}; a number the fake does not have is named in a WARNING
  message (orderNumber) and left out of OrderModelList.
- updateOrderShipping: {orderNumber, BasketidModelList[{basketId, ShippingModelList[{
  shippingDetailId?, deliveryCompany, shippingNumber, shippingDate YYYY-MM-DD,
  shippingDeleteFlag}]}]}. The whole request is checked first (a bad field: 400 with an ERROR per
  entry, dataNumber = its 1-based place, as Rakuten's ERROR_011 sample shows), then applied: a
  new shipment gets a shippingDetailId and is recorded with fake.record_fulfillment; a change of
  an existing one (shippingDetailId) with fake.record_tracking; shippingDeleteFlag 1 removes it.
  An order below 500 moves to 500 発送済 with shippingCmplRptDatetime now. A cancelled order (800,
  900) is refused.
- cancelOrder: {orderNumber, inventoryRestoreType 0-2, changeReasonDetailApply (a reason code)};
  only at orderProgress 100/200/300, else 400 with an ERROR; accepted: fake.record_cancel, the
  order moves to 900 with a ChangeReasonModelList entry (changeType 2 キャンセル完了, shop side).
  (Rakuten puts the order in 800 until it confirms the cancel; the fake confirms at once.)

Refusals are 400 {"MessageModelList": [{"messageType": "ERROR", "messageCode", "message",
orderNumber?}]}. Rakuten documents its codes behind the RMS login; the INFO codes and
UPDATE_ORDERSHIPPING_ERROR_011 follow the public samples, the other ERROR codes are the fake's
own in Rakuten's pattern.
"""

from __future__ import annotations

import copy
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

from orderhub.kernel import clock
from orderhub.kernel.errors import MalformedPayload
from orderhub.marketplaces.rakuten import carriers
from orderhub.marketplaces.rakuten import orders as rk

MARKETPLACE = "rakuten"
METHODS = ("searchOrder", "getOrder", "updateOrderShipping", "cancelOrder")
DATE_FIELDS = {
    1: "orderDatetime",
    2: "shopOrderCfmDatetime",
    3: "orderFixDatetime",
    5: "shippingCmplRptDatetime",
}
MAX_WINDOW = timedelta(days=63)
MAX_AGE = timedelta(days=730)
MAX_SHIPMENTS = 20  # ShippingModelList per basket in one request

Answer = tuple[int, Any, dict[str, str]]


def order_number(order: dict) -> str:
    no = order.get("orderNumber") if isinstance(order, dict) else None
    if not isinstance(no, str) or not no.strip():
        raise ValueError("the Rakuten order object has no orderNumber")
    return no.strip()


def _method(request: Any) -> str | None:
    rest = [s for s in request.rest if s]
    if len(rest) >= 2 and rest[-2] == "order" and rest[-1] in METHODS:
        return rest[-1]
    return None


def operation(request: Any) -> str:
    method = _method(request)
    if method == "searchOrder":
        return "list"
    if method == "getOrder":
        return "fetch"
    if method == "cancelOrder":
        return "cancel"
    if method == "updateOrderShipping":
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return "fulfill"
        baskets = body.get("BasketidModelList") if isinstance(body, dict) else None
        for basket in baskets if isinstance(baskets, list) else []:
            for shipment in (basket.get("ShippingModelList") or []) if isinstance(basket, dict) else []:
                if isinstance(shipment, dict) and shipment.get("shippingDetailId") is not None:
                    return "tracking"
        return "fulfill"
    return "other"


def _message(kind: str, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"messageType": kind, "messageCode": code, "message": message, **extra}


def _refuse(code: str, message: str, **extra: Any) -> Answer:
    return 400, {"MessageModelList": [_message("ERROR", code, message, **extra)]}, {}


def _now_jst() -> str:
    return rk.jst_text(clock.now())


def handle(fake: Any, request: Any) -> Answer:
    auth = request.headers.get("authorization", "")
    token = auth[len("ESA ") :].strip() if auth.startswith("ESA ") else ""
    if not fake.token_allowed(MARKETPLACE, token):
        return 401, {"Results": {"errorCode": "ES01-01", "message": "Un-Authorised"}}, {}
    method = _method(request)
    if method is None:
        return 404, {"Results": {"errorCode": "ES04-01", "message": "Not Found"}}, {}
    if request.method != "POST":
        return 405, {"Results": {"errorCode": "ES04-02", "message": "Method Not Allowed"}}, {}
    try:
        body = request.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    prefix = f"ORDER_EXT_API_{method.upper()}"
    if not isinstance(body, dict):
        return _refuse(f"{prefix}_ERROR_001", "リクエストの書式が不正です。")
    return {
        "searchOrder": _search,
        "getOrder": _get,
        "updateOrderShipping": _ship,
        "cancelOrder": _cancel,
    }[method](fake, body)


# ---------------------------------------------------------------------- searchOrder
def _parse_time(value: Any) -> datetime | None:
    try:
        return rk.jst_time(value, "time") if isinstance(value, str) else None
    except MalformedPayload:
        return None


def _search(fake: Any, body: dict) -> Answer:
    p = "ORDER_EXT_API_SEARCH_ORDER"
    date_type = body.get("dateType")
    if date_type not in DATE_FIELDS:
        return _refuse(f"{p}_ERROR_003", "dateTypeの値が不正です。")
    start, end = _parse_time(body.get("startDatetime")), _parse_time(body.get("endDatetime"))
    if start is None or end is None:
        return _refuse(f"{p}_ERROR_004", "startDatetime / endDatetimeの書式が不正です。")
    if end < start or end - start > MAX_WINDOW:
        return _refuse(f"{p}_ERROR_005", "期間は開始日時から63日以内で指定してください。")
    if start < clock.now() - MAX_AGE:
        return _refuse(f"{p}_ERROR_006", "開始日時は過去2年以内で指定してください。")
    wanted = body.get("orderProgressList")
    if wanted is not None and (not isinstance(wanted, list) or any(s not in rk.PROGRESS for s in wanted)):
        return _refuse(f"{p}_ERROR_007", "orderProgressListの値が不正です。")
    paging = body.get("PaginationRequestModel") or {}
    if not isinstance(paging, dict):
        return _refuse(f"{p}_ERROR_008", "PaginationRequestModelの書式が不正です。")
    amount, page = paging.get("requestRecordsAmount", 1000), paging.get("requestPage", 1)
    if not isinstance(amount, int) or not 1 <= amount <= 1000 or not isinstance(page, int) or page < 1:
        return _refuse(f"{p}_ERROR_008", "requestRecordsAmount / requestPageの値が不正です。")
    descending = any(
        isinstance(s, dict) and s.get("sortDirection") == 2 for s in paging.get("SortModelList") or []
    )

    hits: list[tuple[datetime, str]] = []
    for order in fake.orders(MARKETPLACE):
        at = _parse_time(order.get(DATE_FIELDS[date_type]))
        if at is None or not start <= at <= end:
            continue
        if wanted is not None and order.get("orderProgress") not in wanted:
            continue
        ordered = _parse_time(order.get("orderDatetime")) or at
        hits.append((ordered, order_number(order)))
    hits.sort(reverse=descending)
    numbers = [no for _at, no in hits]
    total_pages = math.ceil(len(numbers) / amount)
    shown = numbers[(page - 1) * amount : page * amount]
    return (
        200,
        {
            "MessageModelList": [_message("INFO", f"{p}_INFO_101", "注文検索に成功しました。")],
            "orderNumberList": shown,
            "PaginationResponseModel": {
                "totalRecordsAmount": len(numbers),
                "totalPages": total_pages,
                "requestPage": page,
            },
        },
        {},
    )


# ---------------------------------------------------------------------- getOrder
def _get(fake: Any, body: dict) -> Answer:
    p = "ORDER_EXT_API_GET_ORDER"
    numbers = body.get("orderNumberList")
    if not isinstance(numbers, list) or not numbers or not all(isinstance(n, str) for n in numbers):
        return _refuse(f"{p}_ERROR_009", "orderNumberListの項目を指定してください。")
    if len(numbers) > 100:
        return _refuse(f"{p}_ERROR_010", "orderNumberListは100件以内で指定してください。")
    try:
        version = int(body.get("version"))
    except (TypeError, ValueError):
        return _refuse(f"{p}_ERROR_011", "versionの値が不正です。")
    found, unknown = [], []
    for no in numbers:
        order = fake.get_order(MARKETPLACE, no)
        if order is None:
            unknown.append(no)
            continue
        if version < 7:
            for package in order.get("PackageModelList") or []:
                for item in package.get("ItemModelList") or []:
                    item.pop("SkuModelList", None)
        found.append(order)
    messages = [_message("INFO", f"{p}_INFO_101", f"受注情報取得に成功しました。(取得件数{len(found)}件)")]
    messages += [
        _message(
            "WARNING", f"{p}_WARNING_101", "指定された注文番号の受注情報は存在しません。", orderNumber=no
        )
        for no in unknown
    ]
    return 200, {"MessageModelList": messages, "OrderModelList": found}, {}


# ---------------------------------------------------------------------- updateOrderShipping
def _is_day(value: Any) -> bool:
    """YYYY-MM-DD (Rakuten refuses "2018/01/25")."""
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _shipping_errors(order: dict, baskets: Any) -> list[dict]:
    """Every problem of an updateOrderShipping request, Rakuten's way (dataNumber per shipment)."""
    p = "ORDER_EXT_API_UPDATE_ORDERSHIPPING"
    if not isinstance(baskets, list) or not baskets:
        return [_message("ERROR", f"{p}_ERROR_002", "BasketidModelListを指定してください。")]
    packages = {pkg.get("basketId"): pkg for pkg in order.get("PackageModelList") or []}
    errors: list[dict] = []
    number = 0
    for basket in baskets:
        shipments = basket.get("ShippingModelList") if isinstance(basket, dict) else None
        if not isinstance(basket, dict) or basket.get("basketId") not in packages:
            errors.append(_message("ERROR", f"{p}_ERROR_003", "basketIdが存在しません。"))
            continue
        if not isinstance(shipments, list) or not shipments or len(shipments) > MAX_SHIPMENTS:
            errors.append(
                _message("ERROR", f"{p}_ERROR_004", "ShippingModelListは1件以上20件以内で指定してください。")
            )
            continue
        known = {
            s.get("shippingDetailId") for s in packages[basket["basketId"]].get("ShippingModelList") or []
        }
        for shipment in shipments:
            number += 1

            def bad(what: str, shipment: Any = shipment, number: int = number) -> None:
                detail = shipment.get("shippingDetailId") if isinstance(shipment, dict) else None
                errors.append(
                    _message(
                        "ERROR",
                        f"{p}_ERROR_011",
                        f"{what}の書式が不正です。",
                        dataNumber=number,
                        shippingDetailId=detail,
                    )
                )

            if not isinstance(shipment, dict):
                bad("ShippingModel")
                continue
            detail = shipment.get("shippingDetailId")
            if detail is not None and detail not in known:
                bad("shippingDetailId")
            if (
                "deliveryCompany" in shipment
                and shipment["deliveryCompany"] not in carriers.DELIVERY_COMPANIES
            ):
                bad("deliveryCompany")
            if (
                detail is None
                and shipment.get("shippingDeleteFlag") != 1
                and "deliveryCompany" not in shipment
            ):
                bad("deliveryCompany")
            number_given = shipment.get("shippingNumber")
            if number_given is not None and (not isinstance(number_given, str) or len(number_given) > 120):
                bad("shippingNumber")
            if shipment.get("shippingDate") not in (None, "") and not _is_day(shipment["shippingDate"]):
                bad("shippingDate")
            if shipment.get("shippingDeleteFlag") not in (None, 0, 1):
                bad("shippingDeleteFlag")
    return errors


def _ship(fake: Any, body: dict) -> Answer:
    p = "ORDER_EXT_API_UPDATE_ORDERSHIPPING"
    no = body.get("orderNumber")
    order = fake.get_order(MARKETPLACE, no) if isinstance(no, str) else None
    if order is None:
        return _refuse(f"{p}_ERROR_001", "指定された注文番号の受注情報は存在しません。", orderNumber=no)
    if order.get("orderProgress") in (800, 900):
        return _refuse(f"{p}_ERROR_010", "キャンセルされた注文の発送情報は更新できません。", orderNumber=no)
    baskets = body.get("BasketidModelList")
    errors = _shipping_errors(order, baskets)
    if errors:
        return 400, {"MessageModelList": errors}, {}

    state = fake.state(MARKETPLACE)
    messages: list[dict] = []
    number = 0
    packages = {pkg.get("basketId"): pkg for pkg in order.get("PackageModelList") or []}
    for basket in baskets:
        package = packages[basket["basketId"]]
        stored = package.setdefault("ShippingModelList", [])
        for shipment in basket["ShippingModelList"]:
            number += 1
            detail = shipment.get("shippingDetailId")
            if shipment.get("shippingDeleteFlag") == 1:
                package["ShippingModelList"] = stored = [
                    s for s in stored if s.get("shippingDetailId") != detail
                ]
                messages.append(
                    _message(
                        "INFO",
                        f"{p}_INFO_103",
                        "発送情報の削除設定が完了しました。",
                        dataNumber=number,
                        shippingDetailId=detail,
                    )
                )
                continue
            if detail is None:
                state["next_shipping_detail_id"] = detail = state.get("next_shipping_detail_id", 15000) + 1
                record: dict[str, Any] = {"shippingDetailId": detail}
                stored.append(record)
                code, text = f"{p}_INFO_101", "発送情報の追加設定が完了しました。"
            else:
                record = next(s for s in stored if s.get("shippingDetailId") == detail)
                code, text = f"{p}_INFO_102", "発送情報の更新設定が完了しました。"
            for name in ("deliveryCompany", "shippingNumber", "shippingDate"):
                if name in shipment:
                    record[name] = shipment[name] or None
            if record.get("deliveryCompany"):
                record["deliveryCompanyName"] = carriers.DELIVERY_COMPANIES[record["deliveryCompany"]]
            entry = {
                "order_no": no,
                "carrier": record.get("deliveryCompany"),
                "tracking_number": record.get("shippingNumber"),
                "basket_id": basket["basketId"],
                "shipping_detail_id": detail,
                "shipping_date": record.get("shippingDate"),
            }
            if code.endswith("INFO_101"):
                fake.record_fulfillment(MARKETPLACE, entry)
            else:
                fake.record_tracking(MARKETPLACE, entry)
            messages.append(_message("INFO", code, text, dataNumber=number, shippingDetailId=detail))
    if int(order.get("orderProgress") or 0) < 500:
        order["orderProgress"] = 500
        order["shippingCmplRptDatetime"] = _now_jst()
    fake.replace_order(MARKETPLACE, order)
    return 200, {"MessageModelList": messages}, {}


# ---------------------------------------------------------------------- cancelOrder
def _cancel(fake: Any, body: dict) -> Answer:
    p = "ORDER_EXT_API_CANCEL_ORDER"
    no = body.get("orderNumber")
    order = fake.get_order(MARKETPLACE, no) if isinstance(no, str) else None
    if order is None:
        return _refuse(f"{p}_ERROR_001", "指定された注文番号の受注情報は存在しません。", orderNumber=no)
    if body.get("inventoryRestoreType") not in (0, 1, 2):
        return _refuse(f"{p}_ERROR_002", "inventoryRestoreTypeの値が不正です。", orderNumber=no)
    reason = body.get("changeReasonDetailApply")
    if reason not in rk.CHANGE_REASONS:
        return _refuse(f"{p}_ERROR_003", "changeReasonDetailApplyの値が不正です。", orderNumber=no)
    if order.get("orderProgress") not in rk.CANCELLABLE:
        return _refuse(
            f"{p}_ERROR_004",
            "キャンセル申請できないステータスです。(注文確認待ち・楽天処理中・発送待ちのみ)",
            orderNumber=no,
        )
    now = _now_jst()
    changes = order.setdefault("ChangeReasonModelList", [])
    changes.append(
        {
            "changeId": max([int(c.get("changeId") or 0) for c in changes] + [0]) + 1,
            "changeType": rk.CANCEL_DONE,
            "changeTypeDetail": None,
            "changeReason": 0,  # 店舗様都合
            "changeReasonDetail": reason,
            "changeApplyDatetime": now,
            "changeFixDatetime": now,
            "changeCmplDatetime": now,
        }
    )
    order["orderProgress"] = 900
    fake.replace_order(MARKETPLACE, order)
    fake.record_cancel(
        MARKETPLACE,
        {"order_no": no, "reason": reason, "inventory_restore_type": body.get("inventoryRestoreType")},
    )
    message = _message("INFO", f"{p}_INFO_101", "キャンセル申請を受け付けました。", orderNumber=no)
    return 200, {"MessageModelList": [message]}, {}


def sample_order(number: str, ordered: datetime, **overrides: Any) -> dict[str, Any]:
    """A minimal getOrder OrderModel (version 7) for the local cloud's seed and tests."""
    at = rk.jst_text(ordered.astimezone(UTC))
    order: dict[str, Any] = {
        "orderNumber": number,
        "orderProgress": 300,
        "orderDatetime": at,
        "shopOrderCfmDatetime": at,
        "orderFixDatetime": at,
        "shippingInstDatetime": at,
        "shippingCmplRptDatetime": None,
        "totalPrice": 3300,
        "requestPrice": 3300,
        "SettlementModel": {"settlementMethodCode": 1, "settlementMethod": "クレジットカード"},
        "PackageModelList": [
            {
                "basketId": 10000001,
                "SenderModel": {
                    "zipCode1": "100",
                    "zipCode2": "0001",
                    "prefecture": "東京都",
                    "city": "千代田区",
                    "subAddress": "千代田1-1",
                    "familyName": "楽天",
                    "firstName": "太郎",
                    "phoneNumber1": "03",
                    "phoneNumber2": "1234",
                    "phoneNumber3": "5678",
                },
                "ItemModelList": [
                    {
                        "itemDetailId": 20000001,
                        "itemName": "Tシャツ",
                        "itemNumber": "tshirt-001",
                        "manageNumber": "tshirt",
                        "price": 3000,
                        "priceTaxIncl": 3300,
                        "units": 1,
                        "SkuModelList": [
                            {"variantId": "v-1", "merchantDefinedSkuId": "TS-001-M", "skuInfo": "サイズ:M"}
                        ],
                    }
                ],
                "ShippingModelList": [],
            }
        ],
        "ChangeReasonModelList": [],
    }
    order.update(copy.deepcopy(overrides))
    return order
