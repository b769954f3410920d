"""Qoo10 Japan QAPI (QSM seller API), spoken directly.

Every call is `POST {api_base_url}/<Service.Method>`, form-encoded, with the seller's
certification key (the integration's `api_token`: the key `CertificationAPI.CreateCertificationKey`
issues) in the header `GiosisCertificationKey` and `QAPIVersion: 1.0` (yosida001/qoo10-sdk
`src/Http/Requester.php` sends both headers, and every ShippingBasic and Claim method there is
version "1.0"). The real base is

    https://api.qoo10.jp/GMKT.INC.Front.QAPIService/ebayjapan.qapi

Each call also sends `returnType=json` (other clients do; the PHP SDK does not and still gets
JSON, so it is harmless either way). Qoo10 answers HTTP 200 with

    {"ResultCode": 0, "ResultMsg": "SUCCESS", "ResultObject": <rows, or nothing>}

and a non-zero (negative) ResultCode when it refused the call. Its meaning depends on the
method (the guide's tables): it becomes a MarketplaceError
  http_error 401  the key: -10000 (check the key), -90002 / -90003 (not authorized),
                  -90004 / -90005 (key expired); -10001 of the searches (no such seller),
                  -10003 of SetCancelProcess (seller info wrong)
  not_found 404   SetCancelProcess -10001 (bad order number) and -10002 (no such order); a
                  GetShippingAndClaimInfoByOrderNo_V2 answer without rows
  http_error 409  SetCancelProcess -10004 (the order's status does not allow it: shipped, or
                  already cancelled: a cancel of a cancelled order is then a success)
  http_error      any other code (status None), the code and Qoo10's ResultMsg in the message.
HTTP 429 / 5xx / timeouts are retried by the base client (orderhub.marketplaces.client).

The calls (orderhub.marketplaces.qoo10.orders maps the rows):

    list_changed   ShippingBasic.GetClaimInfo_V3(ClaimStat, search_Sdate, search_Edate,
                   search_condition) then ShippingBasic.GetShippingAndClaimInfoByOrderNo_V2 for
                   each claimed order; ShippingBasic.GetShippingInfo_v3(ShippingStatus,
                   SearchStartDate, SearchEndDate, SearchCondition=1 order date)
    fetch_order    ShippingBasic.GetShippingAndClaimInfoByOrderNo_V2(OrderNo)
    fulfill_order  ShippingBasic.SetSendingInfo(OrderNo, ShippingCorp, TrackingNo) (the
                   shipment's origin country and note are not sent: the call has no other
                   parameter, yosida001 SetSendingInfoRequest.php)
    update_tracking  the same call again
    cancel_order   Claim.SetCancelProcess(ContrNo, CancelReason, SellerMemo, returnFeeStat)

The pull: a sweep
-----------------
Qoo10 has no change-time filter, and each search takes one status and a date window of whole
Japan days (YYYYMMDD). `pull_mode` is "sweep": every run lists every order of the back-fill
window (`since` to today, Japan dates) by these searches, in this order (positions):

1. the claims, by `GetClaimInfo_V3`, one call per claim status orderhub acts on and window:
   cancel requested / in progress (1, 2) and return requested / in progress (4, 5) by the
   claim's request date (search_condition 2); cancel done (3), return done (6), non-receipt
   full refund (14) and unpaid-order cancel (16) by their completion date (3), so a claim asked
   for before the window but settled in it is seen. The claim rows lack the line's price,
   option, payment and address, so each claimed order is read whole with
   `GetShippingAndClaimInfoByOrderNo_V2` (one call per claimed order per run; claims are few).
   Exchanges (11-13) and partial non-receipt refunds (15) are not swept: a fetch shows them.
2. the orders, by `GetShippingInfo_v3`, one call per ShippingStatus 1..5 and window, by order
   date (SearchCondition 1). These rows show no claim, so an order the claim searches already
   listed in this sweep is left out (its whole rows came first; listing it again, without its
   claim and with an older change stamp, would only queue a stale duplicate every run). Up to
   EXCLUDE_MAX such orders are remembered in the page token.

The searches take whole Japan days, so the first day starts before `since`: an order whose
every date is before `since` is left out (the pull keeps no memory of changes older than the
window's start, so it would queue it again on every run). A bundle whose dates do not parse
is listed (the pull quarantines it).

A window is at most WINDOW_DAYS Japan days, both ends included (GetClaimInfo_V3 refuses more
than 90 days, -10003; GetShippingInfo_v3's limit was not found, so the same window is used).
With the default back-fill of 7 days a quiet run costs 8 claim searches + 5 order searches
(+ one read per claimed order).

Rows of one OrderNo are one order (orders.py): a page merges the rows it found for a number.
A page holds up to `limit` orders; the page token is opaque to the caller: base64url JSON of
{v, f, t (the sweep's Japan days, fixed at its start), i (the position), a (the last OrderNo
taken at that position when the page filled up in the middle of it), x (the orders the claim
searches listed)}. Each search answers all its rows at once (Qoo10 does not page them): a page
that stops inside a search asks it again and goes on after OrderNo `a` (rows by number).

Shipping: SetSendingInfo takes the carrier as a NAME (carriers.py). Whether a second call for a
shipped order replaces its tracking number is not confirmed (no source says): update_tracking
sends the same call. When SetSendingInfo or SetCancelProcess answers an error, the order is read
again: if it already shows what was asked (that tracking number, or cancelled), the call counts
as done (an earlier attempt whose answer was lost).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from orderhub.kernel import clock
from orderhub.kernel.errors import MalformedPayload
from orderhub.marketplaces.client import MarketplaceClient, MarketplaceError
from orderhub.marketplaces.qoo10 import carriers, orders

if TYPE_CHECKING:
    from orderhub.domain.models import OrderChange

QAPI_VERSION = "1.0"
KEY_HEADER = "GiosisCertificationKey"
VERSION_HEADER = "QAPIVersion"

GET_SHIPPING_INFO = "ShippingBasic.GetShippingInfo_v3"
GET_CLAIM_INFO = "ShippingBasic.GetClaimInfo_V3"
GET_ORDER = "ShippingBasic.GetShippingAndClaimInfoByOrderNo_V2"
SET_SENDING_INFO = "ShippingBasic.SetSendingInfo"
SET_CANCEL_PROCESS = "Claim.SetCancelProcess"

ORDER_DATE_BASIS = "1"  # GetShippingInfo_v3 SearchCondition: 1 order, 2 payment, 3 shipping, 4 delivered
CLAIM_REQUEST_DATE, CLAIM_DONE_DATE = "2", "3"  # GetClaimInfo_V3 search_condition (1 is the order date)
# (ClaimStat, search_condition) of the claim searches, in sweep order.
CLAIM_SWEEP = (
    ("1", CLAIM_REQUEST_DATE),
    ("2", CLAIM_REQUEST_DATE),
    ("4", CLAIM_REQUEST_DATE),
    ("5", CLAIM_REQUEST_DATE),
    ("3", CLAIM_DONE_DATE),
    ("6", CLAIM_DONE_DATE),
    ("14", CLAIM_DONE_DATE),
    ("16", CLAIM_DONE_DATE),
)
WINDOW_DAYS = 31
EXCLUDE_MAX = 500
TOKEN_VERSION = 1

# Qoo10's refusal of the key, whatever the method (the guide's common codes).
AUTH_CODES = frozenset({-10000, -90002, -90003, -90004, -90005})
# Codes whose meaning is the method's own.
METHOD_CODES: dict[str, dict[int, str]] = {
    GET_SHIPPING_INFO: {-10001: "auth"},
    GET_CLAIM_INFO: {-10001: "auth"},
    GET_ORDER: {-10001: "auth"},
    SET_SENDING_INFO: {-10001: "auth"},  # SetSendingInfoBulk's table; the single call's is not published
    SET_CANCEL_PROCESS: {-10001: "not_found", -10002: "not_found", -10003: "auth", -10004: "conflict"},
}
# SetCancelProcess's CancelReason: "" is Qoo10's default (在庫切れ, the seller's reason);
# 1 注文変更, 2 配送不可地域, 3 配送遅延. orderhub's reason text goes to SellerMemo.
CANCEL_REASON = ""
MAX_MEMO = 1000


class Qoo10Client(MarketplaceClient):
    """Qoo10 Japan QAPI (module docstring)."""

    kind = "qoo10"
    pull_mode = "sweep"
    page_limit = 100

    def _auth_headers(self) -> dict[str, str]:
        return {KEY_HEADER: self.credential("api_token"), VERSION_HEADER: QAPI_VERSION}

    def carrier_name(self, carrier: str) -> str:
        return carriers.shipping_corp(carrier)

    # ------------------------------------------------------------------ one call
    def call(self, method: str, form: dict[str, str]) -> Any:
        """POST one QAPI method; its ResultObject. MarketplaceError for a refusal."""
        status, parsed = self.request("POST", f"/{method}", form={**form, "returnType": "json"})
        if not isinstance(parsed, dict) or "ResultCode" not in parsed:
            raise self._error("http_error", status, f"{method}: the answer is not a QAPI result")
        try:
            code = int(str(parsed["ResultCode"]).strip())
        except ValueError:
            raise self._error("http_error", status, f"{method}: ResultCode is not a number") from None
        if code != 0:
            raise self._refused(method, code, str(parsed.get("ResultMsg") or ""))
        return parsed.get("ResultObject")

    def _refused(self, method: str, code: int, message: str) -> MarketplaceError:
        meaning = "auth" if code in AUTH_CODES else METHOD_CODES.get(method, {}).get(code, "")
        text = f"{method} answered ResultCode {code}" + (f": {message}" if message else "")
        if meaning == "auth":
            return self._error("http_error", 401, f"Qoo10 refused the certification key ({text})")
        if meaning == "not_found":
            return self._error("not_found", 404, text)
        if meaning == "conflict":
            return self._error("http_error", 409, text)
        return self._error("http_error", None, text)

    def _rows(self, method: str, form: dict[str, str]) -> list[dict]:
        """A search's rows (ResultObject: a list, one object, or nothing)."""
        found = self.call(method, form)
        if found is None or found == "":
            return []
        rows = found if isinstance(found, list) else [found]
        if not all(isinstance(r, dict) for r in rows):
            raise self._error("http_error", 200, f"{method}: ResultObject is not a list of rows")
        return rows

    def _bundles(self, method: str, rows: list[dict]) -> list[dict]:
        try:
            return orders.group_rows(rows)
        except MalformedPayload as exc:
            raise self._error("http_error", 200, f"{method}: {exc.message}") from None

    # ------------------------------------------------------------------ one order
    def order_rows(self, order_no: str) -> list[dict]:
        """GetShippingAndClaimInfoByOrderNo_V2: the order's rows (shipping and claim fields
        together); [] when Qoo10 has none."""
        rows = self._rows(GET_ORDER, {"OrderNo": order_no})
        bundles = self._bundles(GET_ORDER, rows)
        mine = [b for b in bundles if b["OrderNo"] == order_no]
        if bundles and not mine:
            raise self._error("http_error", 200, f"asked for order {order_no}, got {bundles[0]['OrderNo']}")
        return mine[0]["rows"] if mine else []

    def to_change(self, raw: dict) -> OrderChange:
        return orders.normalize(raw)

    def read_orders(self, numbers: list[str]) -> list[dict]:
        """The orders with these numbers as `to_change` reads them, one by-number read each (the
        pull re-reads the open orders its sweep does not reach: docs/pull.md); an order Qoo10
        no longer has is left out."""
        found = []
        for number in numbers:
            rows = self.order_rows(number)
            if rows:
                found.append({"OrderNo": number, "rows": rows})
        return found

    def fetch_order(self, order_no: str) -> OrderChange:
        rows = self.order_rows(order_no)
        if not rows:
            raise self._error("not_found", 404, f"{GET_ORDER}: no order {order_no}")
        return self._normalize(lambda: self.to_change({"OrderNo": order_no, "rows": rows}), 200)

    # ------------------------------------------------------------------ actions
    def fulfill_order(
        self,
        order_no: str,
        carrier: str,
        tracking_number: str,
        *,
        origin_country: str | None = None,
        note: str | None = None,
    ) -> None:
        self._send(order_no, carrier, tracking_number)

    def update_tracking(
        self,
        order_no: str,
        carrier: str,
        tracking_number: str,
        *,
        origin_country: str | None = None,
        note: str | None = None,
    ) -> None:
        # The same call: whether Qoo10 replaces a shipped order's tracking is not confirmed.
        self._send(order_no, carrier, tracking_number)

    def _send(self, order_no: str, carrier: str, tracking_number: str) -> None:
        form = {
            "OrderNo": order_no,
            "ShippingCorp": self.carrier_name(carrier),
            "TrackingNo": tracking_number,
        }
        try:
            self.call(SET_SENDING_INFO, form)
        except MarketplaceError as exc:
            if not self._settled(exc, order_no, lambda rows: orders.tracking_number(rows) == tracking_number):
                raise

    def cancel_order(self, order_no: str, reason: str = "") -> None:
        form = {
            "ContrNo": order_no,  # Qoo10's contract number is the OrderNo (the guide: 주문번호)
            "CancelReason": CANCEL_REASON,
            "SellerMemo": (reason or "")[:MAX_MEMO],
            "returnFeeStat": "",  # not used by Qoo10 (the guide), sent empty
        }
        try:
            self.call(SET_CANCEL_PROCESS, form)
        except MarketplaceError as exc:
            if not self._settled(exc, order_no, orders.is_cancelled):
                raise

    def _settled(self, exc: MarketplaceError, order_no: str, done: Callable[[list[dict]], bool]) -> bool:
        """After a refused action (not the key, not an unknown order): whether the order's rows
        already show what was asked."""
        if exc.kind != "http_error" or exc.status == 401:
            return False
        try:
            rows = self.order_rows(order_no)
        except MarketplaceError:
            return False
        return bool(rows) and done(rows)

    # ------------------------------------------------------------------ the sweep
    def list_changed(
        self, since: datetime, page_token: str | None, limit: int
    ) -> tuple[list[Any], str | None]:
        """One page of the sweep (module docstring): up to `limit` bundles {OrderNo, rows}."""
        sweep = _Sweep.decode(page_token, self) if page_token else _Sweep.start(since, clock.now())
        positions = sweep.positions()
        page: dict[str, dict] = {}
        while sweep.index < len(positions) and len(page) < limit:
            position = positions[sweep.index]
            pending = [b for b in self._listed(position) if sweep.pending(b["OrderNo"])]
            room = limit - len(page)
            for bundle in pending[:room]:
                no = bundle["OrderNo"]
                if position.claim:
                    sweep.remember(no)
                    rows = self.order_rows(no)
                    if not rows:  # gone between the two calls: the next sweep sees it
                        continue
                    bundle = {"OrderNo": no, "rows": rows}
                if no not in page and _before(bundle, since):
                    continue
                page[no] = orders.merge(page[no], bundle) if no in page else bundle
            if len(pending) > room:
                sweep.after = pending[room - 1]["OrderNo"]
                break
            sweep.index, sweep.after = sweep.index + 1, None
        token = sweep.encode() if sweep.index < len(positions) else None
        return list(page.values()), token

    def _listed(self, position: _Position) -> list[dict]:
        """The bundles one search lists, in OrderNo order (claims: the claim rows only)."""
        if position.claim:
            form = {
                "ClaimStat": position.status,
                "search_Sdate": position.start,
                "search_Edate": position.end,
                "search_condition": position.basis,
            }
            return self._bundles(GET_CLAIM_INFO, self._rows(GET_CLAIM_INFO, form))
        form = {
            "ShippingStatus": position.status,
            "SearchStartDate": position.start,
            "SearchEndDate": position.end,
            "SearchCondition": position.basis,
        }
        return self._bundles(GET_SHIPPING_INFO, self._rows(GET_SHIPPING_INFO, form))


def _before(bundle: dict, since: datetime) -> bool:
    """Whether every date an order shows is before the sweep's start: it was listed while it was
    inside the window (a search's window is whole Japan days, from the day `since` falls on)."""
    stamp = orders.stamp(bundle)
    return stamp is not None and stamp < since


class _Position:
    """One search of the sweep."""

    def __init__(self, claim: bool, status: str, basis: str, start: str, end: str):
        self.claim, self.status, self.basis, self.start, self.end = claim, status, basis, start, end


def _windows(first: date, last: date) -> list[tuple[str, str]]:
    out = []
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=WINDOW_DAYS - 1))
        out.append((start.strftime("%Y%m%d"), end.strftime("%Y%m%d")))
        start = end + timedelta(days=1)
    return out


class _Sweep:
    """Where a sweep stands (the page token)."""

    def __init__(self, first: str, last: str, index: int = 0, after: str | None = None, claimed=()):
        self.first, self.last, self.index, self.after = first, last, index, after
        self.claimed: list[str] = list(claimed)
        self._claimed = set(self.claimed)

    @classmethod
    def start(cls, since: datetime, now: datetime) -> _Sweep:
        first, last = orders.jst_day(since), orders.jst_day(now)
        return cls(min(first, last), last)

    def positions(self) -> list[_Position]:
        first = datetime.strptime(self.first, "%Y%m%d").date()
        last = datetime.strptime(self.last, "%Y%m%d").date()
        windows = _windows(first, last)
        out = [_Position(True, stat, basis, s, e) for stat, basis in CLAIM_SWEEP for s, e in windows]
        out += [
            _Position(False, status, ORDER_DATE_BASIS, s, e)
            for status in orders.SHIPPING_STATUSES
            for s, e in windows
        ]
        return out

    def pending(self, order_no: str) -> bool:
        """Whether an order the current search lists is still to be taken."""
        if self.after is not None and orders.sort_key(order_no) <= orders.sort_key(self.after):
            return False
        return order_no not in self._claimed

    def remember(self, order_no: str) -> None:
        if order_no not in self._claimed and len(self.claimed) < EXCLUDE_MAX:
            self.claimed.append(order_no)
            self._claimed.add(order_no)

    def encode(self) -> str:
        data = {"v": TOKEN_VERSION, "f": self.first, "t": self.last, "i": self.index}
        if self.after is not None:
            data["a"] = self.after
        if self.claimed:
            data["x"] = self.claimed
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, client: Qoo10Client) -> _Sweep:
        """A page token this client made; http_error otherwise (the pull then starts over)."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("v") != TOKEN_VERSION:
                raise ValueError("version")
            first, last, index = str(data["f"]), str(data["t"]), int(data["i"])
            datetime.strptime(first, "%Y%m%d")
            datetime.strptime(last, "%Y%m%d")
            after = data.get("a")
            claimed = data.get("x") or []
            if after is not None and not isinstance(after, str):
                raise ValueError("after")
            if not isinstance(claimed, list) or not all(isinstance(c, str) for c in claimed):
                raise ValueError("claimed")
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
            raise client._error("http_error", None, "the page token is not one this client made") from None
        sweep = cls(first, last, index, after, claimed)
        if not 0 <= index <= len(sweep.positions()):
            raise client._error("http_error", None, "the page token is not one this client made")
        return sweep
