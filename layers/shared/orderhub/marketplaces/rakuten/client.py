"""Rakuten Ichiba's RMS WEB SERVICE, RakutenPayOrderAPI (楽天ペイ受注API): JSON POSTs under the
integration's api_base_url (the real one: https://api.rms.rakuten.co.jp/es/2.0), header
`Authorization: ESA base64(serviceSecret:licenseKey)` (the integration's secrets service_secret
and license_key). Calls (JakeJP/Rakuten.RMS.Api RakutenPayOrderAPI/RakutenPayOrderService.cs):

    POST /order/searchOrder/          the sweep's order numbers (list_changed)
    POST /order/getOrder/             {orderNumberList (<= 100), version 7} -> OrderModelList
    POST /order/updateOrderShipping/  {orderNumber, BasketidModelList[{basketId, ShippingModelList}]}
    POST /order/cancelOrder/          {orderNumber, inventoryRestoreType, changeReasonDetailApply}

Every answer carries MessageModelList [{messageType INFO|WARNING|ERROR, messageCode, message,
orderNumber?}]; an ERROR in a 2xx answer is an `http_error` naming Rakuten's codes. An order
getOrder does not return is `not_found` (with Rakuten's message about that number, if any).
Non-2xx answers are the base client's (429 / 5xx retried, 4xx http_error).

Pull (pull_mode "sweep": Rakuten has no change-time filter nor an updated-at, docs/pull.md):
list_changed reads every order PLACED from `since` to now, by searchOrder dateType 1 (注文日) in
windows of at most 63 days (Japan time, "yyyy-MM-ddTHH:mm:ss+0900"; a start older than two
years is moved up, as Rakuten refuses it), every orderProgress (100-900), 1,000 numbers a search
page sorted by order date ascending; then getOrder (version 7: SKU data) for up to `limit` (<=
100) of them. The page token says where the sweep is: the window's start, the sweep's end (the
first page's "now", so the windows do not move while a listing lasts), the search page and the
offset in it; it is an opaque string (base64url JSON). A search page is kept in memory for the
next call of the same client, so a 1,000-order page costs one search and ten getOrders. An
order the search lists but getOrder does not return is left out (logged); the next sweep reads
it again. Rakuten caps one search at 15,000 orders (its changelog): a 63-day window with more is
not read past that (the back-fill window, at most 30 days, stays far below for a normal shop).

Shipping: fulfill_order registers a shipment on the order's one package (basketId; an order with
several packages never reaches orderhub: orders.py): deliveryCompany (carriers.py),
shippingNumber, shippingDate (today in Japan). Rakuten has no idempotency key, so the order is
read first and a shipment with the same number and carrier already there is not sent again.
update_tracking changes the newest existing shipment (its shippingDetailId; the ship date is
kept), or adds one when there is none. Both are refused at orderProgress 900 (cancelled) before
anything is sent. A shipping update or a cancel is repeated only after a 429 (which applied
nothing): after a timeout, a 5xx or a dropped connection the call fails, and the next attempt (a
retried reflect) reads the order first, so a shipment is never registered twice. The shipment's
origin country and note are taken and not sent: a ShippingModel has shippingDetailId,
shippingNumber, deliveryCompany, shippingDate and shippingDeleteFlag only (JakeJP Models.cs
BasketidModel.ShippingModel).

Cancel: cancelOrder takes an order at orderProgress 100/200/300 only; the order is read first,
and past 300 the cancel fails (`http_error`, status None) with no call. An order already at 800
(キャンセル確定待ち) or 900 (キャンセル確定) counts as cancelled: no call. The request asks to follow
each item's inventory setting (inventoryRestoreType 0) with the shop-side reason 10 (店舗様都合
その他): orderhub's cancel reason is free text, and Rakuten takes a code.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from orderhub.domain.models import OrderChange
from orderhub.kernel import clock
from orderhub.kernel.errors import MalformedPayload
from orderhub.marketplaces.client import MarketplaceClient, MarketplaceError
from orderhub.marketplaces.rakuten import carriers
from orderhub.marketplaces.rakuten import orders as rk

logger = Logger(child=True)

SEARCH_ORDER = "/order/searchOrder/"
GET_ORDER = "/order/getOrder/"
UPDATE_ORDER_SHIPPING = "/order/updateOrderShipping/"
CANCEL_ORDER = "/order/cancelOrder/"
JSON_UTF8 = "application/json; charset=utf-8"

GET_ORDER_VERSION = 7  # 7: SKU対応 (SkuModelList)
GET_ORDER_MAX = 100  # numbers in one getOrder
SEARCH_PAGE = 1000  # requestRecordsAmount, Rakuten's most
WINDOW = timedelta(days=63)  # endDatetime <= startDatetime + 63 days
OLDEST = timedelta(days=729)  # startDatetime within the last two years (a day to spare)
DATE_TYPE_ORDERED = 1  # 注文日
SORT_BY_ORDER_DATE_ASC = {"sortColumn": 1, "sortDirection": 1}
INVENTORY_FOLLOW_ITEM = 0  # inventoryRestoreType 0: 商品の設定に従う
SHOP_REASON_OTHER = 10  # changeReasonDetailApply 10: 店舗様都合 その他
TOKEN_VERSION = 1


@dataclass(frozen=True)
class _Position:
    """Where a sweep is: the window starting at `start`, search page `page`, `offset` numbers into
    it; the sweep ends at `end`. Times are whole seconds, aware UTC."""

    start: datetime
    end: datetime
    page: int = 1
    offset: int = 0

    @property
    def window_end(self) -> datetime:
        return min(self.start + WINDOW - timedelta(seconds=1), self.end)

    def encode(self) -> str:
        raw = {
            "v": TOKEN_VERSION,
            "s": int(self.start.timestamp()),
            "e": int(self.end.timestamp()),
            "p": self.page,
            "o": self.offset,
        }
        return base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> _Position | None:
        try:
            raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            if not isinstance(raw, dict) or raw.get("v") != TOKEN_VERSION:
                return None
            s, e, p, o = (raw[k] for k in ("s", "e", "p", "o"))
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (s, e, p, o)):
                return None
            if p < 1 or o < 0 or s > e:
                return None
            return cls(datetime.fromtimestamp(s, UTC), datetime.fromtimestamp(e, UTC), p, o)
        except (ValueError, KeyError, TypeError, binascii.Error, OverflowError, OSError):
            return None

    def after(self, taken: int, on_page: int, total_pages: int) -> _Position | None:
        """The position after `taken` numbers of a page of `on_page` (None: the sweep is done)."""
        if self.offset + taken < on_page:
            return _Position(self.start, self.end, self.page, self.offset + taken)
        if self.page < total_pages:
            return _Position(self.start, self.end, self.page + 1, 0)
        if self.window_end < self.end:
            return _Position(self.window_end + timedelta(seconds=1), self.end)
        return None


def _whole_seconds(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(microsecond=0)


class RakutenClient(MarketplaceClient):
    """RakutenPayOrderAPI (the module docstring)."""

    kind = "rakuten"
    pull_mode = "sweep"
    page_limit = GET_ORDER_MAX

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._searched: tuple[tuple, list[str], int] | None = None  # the last search page

    # ------------------------------------------------------------------ plumbing
    def _auth_headers(self) -> dict[str, str]:
        secret, key = self.credential("service_secret"), self.credential("license_key")
        if not secret or not key:
            raise self._error(
                "http_error",
                None,
                "the integration has no Rakuten service_secret and license_key; nothing was sent",
            )
        esa = base64.b64encode(f"{secret}:{key}".encode()).decode("ascii")
        return {"Authorization": f"ESA {esa}"}

    def _post(self, path: str, body: dict, *, changes: bool = False) -> tuple[int, dict]:
        """One call. A call that `changes` the order is repeated only after a 429 (Rakuten has
        no idempotency key: a lost answer may hide an applied change); the next attempt reads first.
        A 4xx answer's MessageModelList codes are named in the error."""
        try:
            status, parsed = self.request(
                "POST", path, body=body, headers={"Content-Type": JSON_UTF8}, idempotent=not changes
            )
        except MarketplaceError as exc:
            said = _codes(exc.body)
            if said and exc.kind == "http_error":
                exc.message = f"Rakuten refused POST {path}: {said}"
            raise
        if not isinstance(parsed, dict):
            raise self._error("http_error", status, f"POST {path}: the answer is not a JSON object")
        return status, parsed

    def _messages(self, status: int, parsed: dict, path: str) -> list[dict]:
        messages = parsed.get("MessageModelList") or []
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise self._error(
                "http_error", status, f"POST {path}: MessageModelList is not a list of messages"
            )
        return messages

    def _raise_errors(self, status: int, parsed: dict, path: str, *, about: tuple[str, ...] = ()) -> None:
        """An ERROR message in the answer is an http_error naming Rakuten's codes; one that names
        an order number in `about` is left to the caller (not_found)."""
        errors = [
            m
            for m in self._messages(status, parsed, path)
            if str(m.get("messageType", "")).upper() == "ERROR" and m.get("orderNumber") not in about
        ]
        if errors:
            said = "; ".join(f"{m.get('messageCode', '')} {m.get('message', '')}".strip() for m in errors)
            raise self._error("http_error", status, f"Rakuten refused POST {path}: {said}")

    def _get_orders(self, numbers: list[str]) -> tuple[int, dict[str, dict], dict[str, str]]:
        """getOrder: (status, the orders by number, what Rakuten said of each number it did not
        return)."""
        status, parsed = self._post(GET_ORDER, {"orderNumberList": numbers, "version": GET_ORDER_VERSION})
        found: dict[str, dict] = {}
        raw_list = parsed.get("OrderModelList") or []
        if not isinstance(raw_list, list):
            raise self._error("http_error", status, "getOrder: OrderModelList is not a list")
        for raw in raw_list:
            number = raw.get("orderNumber") if isinstance(raw, dict) else None
            if not isinstance(number, str) or not number:
                raise self._error("http_error", status, "getOrder: an OrderModel without orderNumber")
            if number in numbers:
                found[number] = raw
        missing = tuple(n for n in numbers if n not in found)
        self._raise_errors(status, parsed, GET_ORDER, about=missing)
        said = {
            n: "; ".join(
                f"{m.get('messageCode', '')} {m.get('message', '')}".strip()
                for m in self._messages(status, parsed, GET_ORDER)
                if m.get("orderNumber") == n
            )
            for n in missing
        }
        return status, found, said

    def _order(self, order_no: str) -> tuple[int, dict]:
        status, found, said = self._get_orders([order_no])
        if order_no not in found:
            detail = f": {said[order_no]}" if said.get(order_no) else ""
            raise self._error("not_found", status, f"Rakuten has no order {order_no}{detail}")
        return status, found[order_no]

    def _package(self, order: dict, status: int) -> dict:
        try:
            return rk.packages(order)[0]
        except MalformedPayload as exc:
            raise self._error(
                "http_error", status, f"the Rakuten order does not parse: {exc.message}"
            ) from None

    def _progress(self, order: dict, status: int) -> int:
        try:
            return rk.progress(order)
        except MalformedPayload as exc:
            raise self._error(
                "http_error", status, f"the Rakuten order does not parse: {exc.message}"
            ) from None

    # ------------------------------------------------------------------ pull
    def to_change(self, raw: Any) -> OrderChange:
        return rk.normalize_order(raw)

    def list_changed(
        self, since: datetime, page_token: str | None, limit: int
    ) -> tuple[list[Any], str | None]:
        """One page of the sweep (the module docstring): the OrderModels of up to `limit` orders
        placed from `since` on, oldest order first, and the token of the next page."""
        batch = max(1, min(int(limit), GET_ORDER_MAX))
        if page_token:
            position = _Position.decode(page_token)
            if position is None:
                raise self._error("http_error", None, "the Rakuten page token does not parse; list again")
        else:
            end = _whole_seconds(clock.now())
            start = max(_whole_seconds(since), end - OLDEST)
            if start > end:
                return [], None
            position = _Position(start, end)
        while True:
            numbers, total_pages = self._search(position)
            chunk = numbers[position.offset : position.offset + batch]
            following = position.after(len(chunk), len(numbers), total_pages)
            if chunk:
                _status, found, said = self._get_orders(chunk)
                for n in chunk:
                    if n not in found:
                        logger.warning(
                            "searchOrder listed an order getOrder did not return",
                            extra={
                                "marketplace": self.marketplace,
                                "order_no": n,
                                "rakuten": said.get(n, ""),
                            },
                        )
                return [found[n] for n in chunk if n in found], following.encode() if following else None
            if following is None:
                return [], None
            position = following  # an empty window or page: on to the next, in this call

    def _search(self, position: _Position) -> tuple[list[str], int]:
        """One searchOrder page: (its order numbers, the total number of pages)."""
        key = (position.start, position.window_end, position.page)
        if self._searched is not None and self._searched[0] == key:
            return self._searched[1], self._searched[2]
        body = {
            "dateType": DATE_TYPE_ORDERED,
            "startDatetime": rk.jst_text(position.start),
            "endDatetime": rk.jst_text(position.window_end),
            "orderProgressList": list(rk.PROGRESS),
            "PaginationRequestModel": {
                "requestRecordsAmount": SEARCH_PAGE,
                "requestPage": position.page,
                "SortModelList": [SORT_BY_ORDER_DATE_ASC],
            },
        }
        status, parsed = self._post(SEARCH_ORDER, body)
        self._raise_errors(status, parsed, SEARCH_ORDER)
        numbers = parsed.get("orderNumberList") or []
        if not isinstance(numbers, list) or not all(isinstance(n, str) and n for n in numbers):
            raise self._error(
                "http_error", status, "searchOrder: orderNumberList is not a list of order numbers"
            )
        paging = parsed.get("PaginationResponseModel") or {}
        total_pages = paging.get("totalPages") if isinstance(paging, dict) else None
        if total_pages is None:
            total_pages = position.page
        if not isinstance(total_pages, int) or isinstance(total_pages, bool) or total_pages < 0:
            raise self._error(
                "http_error", status, "searchOrder: PaginationResponseModel.totalPages is not a number"
            )
        self._searched = (key, numbers, total_pages)
        return numbers, total_pages

    # ------------------------------------------------------------------ one order
    def read_orders(self, numbers: list[str]) -> list[dict]:
        """The OrderModels of these numbers, getOrder 100 at a time (the pull re-reads the open
        orders its sweep does not reach: docs/pull.md); an order Rakuten does not return is left out."""
        found: list[dict] = []
        for start in range(0, len(numbers), GET_ORDER_MAX):
            _status, orders, _said = self._get_orders(numbers[start : start + GET_ORDER_MAX])
            found.extend(orders.values())
        return found

    def fetch_order(self, order_no: str) -> OrderChange:
        status, order = self._order(order_no)
        return self._fetched(order_no, lambda: rk.normalize_order(order), status)

    # ------------------------------------------------------------------ actions
    def carrier_name(self, carrier: str) -> str:
        return carriers.delivery_company(carrier)

    def _shippable(self, order_no: str) -> tuple[int, dict, dict]:
        status, order = self._order(order_no)
        state = self._progress(order, status)
        if state == 900:
            raise self._error(
                "http_error",
                None,
                f"order {order_no} is cancelled on Rakuten (900 キャンセル確定); nothing was sent",
            )
        return status, order, self._package(order, status)

    def _shipments(self, package: dict, status: int) -> list[dict]:
        found = package.get("ShippingModelList") or []
        if not isinstance(found, list) or not all(isinstance(s, dict) for s in found):
            raise self._error("http_error", status, "the Rakuten order's ShippingModelList is not a list")
        return found

    def _ship(self, order_no: str, package: dict, shipment: dict) -> None:
        body = {
            "orderNumber": order_no,
            "BasketidModelList": [{"basketId": package.get("basketId"), "ShippingModelList": [shipment]}],
        }
        status, parsed = self._post(UPDATE_ORDER_SHIPPING, body, changes=True)
        self._raise_errors(status, parsed, UPDATE_ORDER_SHIPPING)

    def fulfill_order(
        self,
        order_no: str,
        carrier: str,
        tracking_number: str,
        *,
        origin_country: str | None = None,
        note: str | None = None,
    ) -> None:
        status, _order, package = self._shippable(order_no)
        company = self.carrier_name(carrier)
        for shipment in self._shipments(package, status):
            if (
                str(shipment.get("shippingNumber") or "") == tracking_number
                and str(shipment.get("deliveryCompany") or "") == company
            ):
                return  # registered before (a repeat): Rakuten would add it twice
        self._ship(order_no, package, self._new_shipment(company, tracking_number))

    def update_tracking(
        self,
        order_no: str,
        carrier: str,
        tracking_number: str,
        *,
        origin_country: str | None = None,
        note: str | None = None,
    ) -> None:
        status, _order, package = self._shippable(order_no)
        company = self.carrier_name(carrier)
        existing = [s for s in self._shipments(package, status) if s.get("shippingDetailId") is not None]
        if not existing:
            self._ship(order_no, package, self._new_shipment(company, tracking_number))
            return
        newest = max(existing, key=lambda s: str(s["shippingDetailId"]).zfill(20))
        if (
            str(newest.get("shippingNumber") or "") == tracking_number
            and str(newest.get("deliveryCompany") or "") == company
        ):
            return
        shipment: dict[str, Any] = {
            "shippingDetailId": newest["shippingDetailId"],
            "deliveryCompany": company,
            "shippingNumber": tracking_number,
        }
        if not newest.get("shippingDate"):
            shipment["shippingDate"] = self._today()
        self._ship(order_no, package, shipment)

    def _new_shipment(self, company: str, tracking_number: str) -> dict[str, Any]:
        return {"deliveryCompany": company, "shippingNumber": tracking_number, "shippingDate": self._today()}

    @staticmethod
    def _today() -> str:
        return clock.now().astimezone(rk.JST).date().isoformat()

    def cancel_order(self, order_no: str, reason: str = "") -> None:
        status, order = self._order(order_no)
        state = self._progress(order, status)
        if state in (800, 900):
            return  # already cancelled, or its cancel waits for Rakuten's confirmation
        if state not in rk.CANCELLABLE:
            raise self._error(
                "http_error",
                None,
                f"Rakuten's cancelOrder takes an order at orderProgress 100/200/300 only; order "
                f"{order_no} is at {state} ({rk.PROGRESS[state]}): cancel it in RMS once the parcel "
                "is back; nothing was sent",
            )
        body = {
            "orderNumber": order_no,
            "inventoryRestoreType": INVENTORY_FOLLOW_ITEM,
            "changeReasonDetailApply": SHOP_REASON_OTHER,
        }
        status, parsed = self._post(CANCEL_ORDER, body, changes=True)
        self._raise_errors(status, parsed, CANCEL_ORDER)


def _codes(body: object) -> str:
    """Rakuten's ERROR codes and messages in an answer's MessageModelList ('' when none)."""
    messages = body.get("MessageModelList") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return ""
    errors = [m for m in messages if isinstance(m, dict) and str(m.get("messageType", "")).upper() == "ERROR"]
    return "; ".join(f"{m.get('messageCode', '')} {m.get('message', '')}".strip() for m in errors)[:500]
