"""Qoo10 Japan QAPI order rows -> OrderChange (pure: no I/O).

What one orderhub order is
--------------------------
Qoo10 answers one ROW PER ORDER LINE. Each line has its own `OrderNo` (注文番号): the number
every seller call takes (`ShippingBasic.SetSendingInfo(OrderNo)`, `Claim.SetCancelProcess
(ContrNo = the OrderNo)`, `ShippingBasic.GetShippingAndClaimInfoByOrderNo_V2(OrderNo)`), and a
buyer cancels or returns one line by it. `PackNo` (カート番号) only groups the lines bought in one
cart (`RelatedOrder` lists the other lines' OrderNo); nothing can be read, shipped or cancelled
by it. So **one orderhub order is one Qoo10 OrderNo** (marketplace_order_no = OrderNo, one item),
and a cart of three lines is three orderhub orders, each shipped and cancelled by its own
number, as Qoo10 does. (A warehouse that packs a cart in one parcel can group by the buyer and
address; orderhub does not merge them.)

The raw object (what the client's list_changed returns and `normalize` reads) is a bundle of
the rows Qoo10 answered for one OrderNo, from whichever calls found it:

    {"OrderNo": "1062428737", "rows": [<row>, ...]}

The rows come in two namings: `GetShippingInfo_v3` spells its fields in PascalCase (`OrderNo`,
`ShippingStatus`, `SellerItemCode`, `ShippingAddress`, `Address1`...), while
`GetShippingAndClaimInfoByOrderNo_V2` and `GetClaimInfo_V3` use camelCase for most (`orderNo`,
`shippingStatus`, `sellerItemCode`, `shippingAddr`, `claimStatus`, `requestDate`...) and
PascalCase for some (`PaymentDate`, `DeliveredDate`, `PaymentMethod`). Field names are matched
without regard to case, plus the few true aliases (`ItemNo` / `itemCode`, `ShippingAddress` /
`shippingAddr`). An error names the field as the row spells it: `rows[0].OrderQty`, the path
in the bundle that is quarantined whole.

Several rows of one OrderNo (the same line read by two calls, or by one status sweep and then
another after it moved) are one line: the row with the highest `ShippingStatus` is the primary
one, and a field it lacks is taken from the others.

Normalization (Qoo10 field -> OrderChange field)
------------------------------------------------
- marketplace "qoo10"; marketplace_order_no: `OrderNo`.
- marketplace_updated_at: Qoo10 has no updated-at. The newest of the dates the rows show
  (`OrderDate`, `PaymentDate`, `ShippingDate`, `DeliveredDate`, and the claim's `requestDate`
  and `cancelRefundDate`): each step Qoo10 dates (payment, shipping, delivery, a claim asked for
  or settled) moves it. Steps Qoo10 does not date do not: 配送要請 -> 配送準備 (2 -> 3, the
  seller's own confirm), cancel requested -> in progress (1 -> 2), a withdrawn claim, a changed
  address. The pull sees those only with the next dated step; a fetch (refresh) sees them at
  once. Dates that are plans (`EstimatedShippingDate`, `DesiredDeliveryDate`) never count.
- Dates: Qoo10 writes Japan time without an offset ("2026/11/27 10:00:00", also seen
  "2026-11-27 10:00:00", "20261127100000" and date-only forms). They are read as +09:00 (Japan
  has no daylight saving) and stored as UTC. A year before 2000 is read as "no date" (an empty
  date written as 1900-01-01 or 0001-01-01; not confirmed that Qoo10 does, defensive).
- placed_at: `OrderDate` (required). payment.paid_at: `PaymentDate`.
- payment.method from `PaymentMethod` (Qoo10's display text; the exact strings are not in any
  source found, so it is matched by words, English or Japanese): 代金引換 / COD -> cod;
  コンビニ / convenience -> konbini; 銀行 / 振込 / bank / ペイジー / Pay-easy -> bank_transfer;
  クレジット / card -> card; anything else (Qoo10's wallets, points, carrier billing...) or
  none -> other (held like a card, SPEC 2.1). payment.gateway: the `PaymentMethod` text.
- awaiting_shipment: `ShippingStatus` 1 配送待ち, 2 配送要請, 3 配送準備 -> True; 4 配送中,
  5 配送完了 -> False. Another value is malformed.
- Claims (`claimStatus`, only in the claim-aware calls; a bundle of `GetShippingInfo_v3` rows
  alone shows none: claim None):
      1, 2    cancel requested / in progress   open claim, kind cancel
      3       cancel done                      cancelled (cancelled_at), claim closed
      16      unpaid order cancelled           cancelled (cancelled_at), claim closed
      4, 5    return requested / in progress   open claim, kind return
      6       return done                      claim closed, refunded (closes a shipped order)
      11, 12  exchange requested / approved    open claim, kind other
      13      exchange reshipped               claim closed
      14      non-receipt, full refund         claim closed, refunded
      15      non-receipt, partial refund      claim closed (not a whole refund)
      "" / 0  (field present, empty)           claim closed: none is open (a withdrawn claim)
  Another code is malformed. cancelled_at: `cancelRefundDate`, else `requestDate`, else the
  change stamp. claim.reason: `reason`. Of several claim rows the newest (by its dates) counts.
- items: one item.
  sku: `SellerItemCode` (the seller's own code; Qoo10's `ItemNo` when the seller set none),
  joined with ":" and `OptionCode` when the line has one: "TSHIRT-01:RED-M". The option code
  alone is not unique across items (two items can both have an option "RED"), and the item
  code alone does not tell the variant; the merchant maps the joined form in the mapping table.
  title: `ItemTitle`, plus " (<Option>)" when the line has an option text.
  quantity: `OrderQty`. price: `OrderPrice`, the price Qoo10 lists for the line's item (unit
  price; whether GetShippingAndClaimInfoByOrderNo_V2's `orderPrice` means the same is not
  confirmed).
- currency: `Currency`, "JPY" when absent (Qoo10 Japan sells in yen). total: `Total`
  (the line's amount after its discount). The cart's shipping fee (`ShippingRate`) is charged
  per PackNo, and how Qoo10 spreads it over the lines is not confirmed, so it is left out.
- recipient: name `Receiver`; address1: Qoo10's whole delivery address (`ShippingAddress`, or
  `shippingAddr` in the claim-aware calls), so every call gives the same text and a refresh
  does not look like an address change; `Address1` + `Address2` (GetShippingInfo_v3 only) only
  when the whole address is missing. postal_code `ZipCode`; phone `ReceiverMobile`, else
  `ReceiverTel`; email `BuyerEmail`; country `shippingCountry` when given (a two-letter code, or
  "Japan" / 日本), else "JP". Region and city stay empty (Qoo10 does not split them out).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from orderhub.domain.models import OrderChange
from orderhub.kernel import clock
from orderhub.kernel.errors import MalformedPayload
from orderhub.marketplaces.common import build_change, money, text, translate_with

MARKETPLACE = "qoo10"
JST = timezone(timedelta(hours=9), "JST")

SHIPPING_STATUSES = ("1", "2", "3", "4", "5")  # 配送待ち, 配送要請, 配送準備, 配送中, 配送完了
AWAITING_SHIPMENT = frozenset({"1", "2", "3"})

CANCEL_OPEN = frozenset({"1", "2"})
CANCEL_DONE = frozenset({"3", "16"})
RETURN_OPEN = frozenset({"4", "5"})
RETURN_DONE = frozenset({"6"})
EXCHANGE_OPEN = frozenset({"11", "12"})
EXCHANGE_DONE = frozenset({"13"})
REFUND_FULL = frozenset({"14"})
REFUND_PART = frozenset({"15"})
CLAIM_CODES = CANCEL_OPEN | CANCEL_DONE | RETURN_OPEN | RETURN_DONE
CLAIM_CODES |= EXCHANGE_OPEN | EXCHANGE_DONE | REFUND_FULL | REFUND_PART
NO_CLAIM = frozenset({"", "0"})

# Field names, as GetShippingInfo_v3 spells them (matched without regard to case), with the
# aliases the claim-aware calls use.
ORDER_NO = ("OrderNo",)
SHIPPING_STATUS = ("ShippingStatus",)
CLAIM_STATUS = ("claimStatus",)
ORDER_DATE = ("OrderDate",)
PAYMENT_DATE = ("PaymentDate",)
SHIPPING_DATE = ("ShippingDate",)
DELIVERED_DATE = ("DeliveredDate",)
REQUEST_DATE = ("requestDate",)
CANCEL_REFUND_DATE = ("cancelRefundDate",)
EVENT_DATES = (ORDER_DATE, PAYMENT_DATE, SHIPPING_DATE, DELIVERED_DATE, REQUEST_DATE, CANCEL_REFUND_DATE)

_UNDATED = datetime(1970, 1, 1, tzinfo=UTC)  # a claim row without dates ranks first
_MAX_REASON = 500
_MAX_GATEWAY = 100
_JAPAN = {"japan", "日本", "jpn"}
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


# ---------------------------------------------------------------------- dates
_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d %H:%M",
    "%Y%m%d%H%M%S",
    "%Y/%m/%d",
    "%Y-%m-%d",
    "%Y%m%d",
)
_FRACTION = re.compile(r"\.\d{1,7}$")
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)


def parse_date(value: Any, field: str, *, required: bool = False) -> datetime | None:
    """A Qoo10 date (Japan time, no offset) as aware UTC; None when empty (or a placeholder
    year before 2000). MalformedPayload naming `field` when it is not a date."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise MalformedPayload(f"{field} is required", field=field)
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise MalformedPayload(f"{field} must be a date string", field=field)
    raw = value.strip()
    found: datetime | None = None
    if _OFFSET.search(raw) and "T" in raw:
        try:
            found = datetime.fromisoformat(raw.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            found = None
    if found is None:
        bare = _FRACTION.sub("", raw)
        for fmt in _FORMATS:
            try:
                found = datetime.strptime(bare, fmt).replace(tzinfo=JST)
                break
            except ValueError:
                continue
    if found is None:
        raise MalformedPayload(f"{field} is not a Qoo10 date: {value!r}", field=field)
    if found.year < 2000:
        if required:
            raise MalformedPayload(f"{field} is required (got the empty date {value!r})", field=field)
        return None
    try:
        return clock.check_date(found)
    except ValueError as exc:
        raise MalformedPayload(f"{field} {exc}: {value!r}", field=field, rule="date_range") from None


def jst_day(dt: datetime) -> str:
    """The Japan calendar day of an aware time, as Qoo10's search dates want it (YYYYMMDD)."""
    return dt.astimezone(JST).strftime("%Y%m%d")


def jst_text(dt: datetime) -> str:
    """An aware time the way Qoo10 writes its dates ("2026/11/27 10:00:00", Japan time)."""
    return dt.astimezone(JST).strftime("%Y/%m/%d %H:%M:%S")


# ---------------------------------------------------------------------- rows
class _Row:
    """One Qoo10 row: fields found without regard to case; paths in the bundle's naming."""

    def __init__(self, index: int, row: dict[str, Any]):
        self.index = index
        self.row = row
        self._keys = {k.lower(): k for k in row if isinstance(k, str)}

    def key(self, names: tuple[str, ...]) -> str | None:
        for name in names:
            found = self._keys.get(name.lower())
            if found is not None:
                return found
        return None

    def has(self, names: tuple[str, ...]) -> bool:
        return self.key(names) is not None

    def path(self, names: tuple[str, ...]) -> str:
        return f"rows[{self.index}].{self.key(names) or names[0]}"

    def get(self, names: tuple[str, ...]) -> Any:
        found = self.key(names)
        return self.row.get(found) if found is not None else None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _code(value: Any, field: str) -> str:
    """A status code Qoo10 sends as text or as a number ("4", 4)."""
    if isinstance(value, bool):
        raise MalformedPayload(f"{field} must be a status code", field=field)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    if isinstance(value, str):
        return value.strip()
    raise MalformedPayload(f"{field} must be a status code", field=field)


def order_number(value: Any, field: str) -> str:
    """An OrderNo (Qoo10 sends a number; a string of digits is accepted too)."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    no = text(value, field, required=True)
    if len(no) > 100:
        raise MalformedPayload(f"{field} is too long", field=field)
    return no


def sort_key(order_no: str) -> tuple[int, int, str]:
    """Order numbers in numeric order (digits), others after them by text."""
    return (0, int(order_no), "") if order_no.isdigit() else (1, 0, order_no)


def row_order_no(row: Any, field: str) -> str:
    """The OrderNo of one row as a search answered it (`field` names the row)."""
    if not isinstance(row, dict):
        raise MalformedPayload(f"{field} must be an object", field=field)
    r = _Row(0, row)
    return order_number(r.get(ORDER_NO), f"{field}.{r.key(ORDER_NO) or ORDER_NO[0]}")


def group_rows(rows: Iterable[dict[str, Any]], where: str = "ResultObject") -> list[dict[str, Any]]:
    """Rows of a search -> one bundle per OrderNo, {"OrderNo", "rows"}, in OrderNo order."""
    bundles: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(rows):
        no = row_order_no(row, f"{where}[{i}]")
        bundles.setdefault(no, {"OrderNo": no, "rows": []})["rows"].append(row)
    return [bundles[no] for no in sorted(bundles, key=sort_key)]


def merge(bundle: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Two bundles of one OrderNo as one (the rows of both)."""
    return {"OrderNo": bundle["OrderNo"], "rows": [*bundle["rows"], *other["rows"]]}


# ---------------------------------------------------------------------- payment
_COD = ("代金引換", "代引", "着払", "cash on delivery", "cod")
_KONBINI = ("コンビニ", "convenience", "konbini")
_BANK = ("銀行", "振込", "振り込み", "bank", "ペイジー", "pay-easy", "payeasy")
_CARD = ("クレジット", "カード", "card")


def payment_method(raw: str) -> str:
    """orderhub's payment method for Qoo10's `PaymentMethod` text (module docstring)."""
    words = raw.strip().lower()
    if not words:
        return "other"
    if any(w in words for w in _COD if w != "cod") or re.search(r"\bcod\b", words):
        return "cod"
    if any(w in words for w in _KONBINI):
        return "konbini"
    if any(w in words for w in _BANK):
        return "bank_transfer"
    if any(w in words for w in _CARD):
        return "card"
    return "other"


def stamp(bundle: Any) -> datetime | None:
    """A bundle's change stamp (marketplace_updated_at), None when its rows do not parse."""
    try:
        return _stamp(_rows(bundle)[1])[0]
    except MalformedPayload:
        return None


def tracking_number(rows: list[dict[str, Any]]) -> str:
    """The tracking number the rows of one order show (`TrackingNo` / `trackingNo`), '' if none."""
    for raw in reversed(rows):
        value = _Row(0, raw).get(("TrackingNo",)) if isinstance(raw, dict) else None
        if isinstance(value, int | str) and str(value).strip():
            return str(value).strip()
    return ""


def is_cancelled(rows: list[dict[str, Any]]) -> bool:
    """Whether the rows of one order show a done cancel (claimStatus 3 or 16)."""
    for raw in rows:
        value = _Row(0, raw).get(CLAIM_STATUS) if isinstance(raw, dict) else None
        if isinstance(value, int | str) and str(value).strip() in CANCEL_DONE:
            return True
    return False


# ---------------------------------------------------------------------- the change
def _rows(bundle: Any) -> tuple[str, list[_Row]]:
    if not isinstance(bundle, dict):
        raise MalformedPayload("a Qoo10 order must be an object {OrderNo, rows}", field="OrderNo")
    no = order_number(bundle.get("OrderNo"), "OrderNo")
    raw_rows = bundle.get("rows")
    if not isinstance(raw_rows, list) or not raw_rows:
        raise MalformedPayload("rows must be a non-empty list of Qoo10 rows", field="rows")
    rows = []
    for i, raw in enumerate(raw_rows):
        if not isinstance(raw, dict):
            raise MalformedPayload("each row must be an object", field=f"rows[{i}]")
        row = _Row(i, raw)
        own = order_number(row.get(ORDER_NO), row.path(ORDER_NO))
        if own != no:
            raise MalformedPayload(f"a row of order {no} has OrderNo {own}", field=row.path(ORDER_NO))
        rows.append(row)
    return no, rows


class _Reader:
    """Reads one line's fields from its rows: the primary row first, then the others; records
    which row's field each OrderChange field came from (for MalformedPayload)."""

    def __init__(self, rows: list[_Row], primary: _Row):
        self.rows = [primary, *[r for r in rows if r is not primary]]
        self.paths: dict[tuple[str | int, ...], str] = {}

    def pick(self, names: tuple[str, ...], loc: tuple[str | int, ...] | None = None) -> tuple[Any, str]:
        for row in self.rows:
            value = row.get(names)
            if not _blank(value):
                path = row.path(names)
                if loc is not None:
                    self.paths[loc] = path
                return value, path
        path = self.rows[0].path(names)
        if loc is not None:
            self.paths[loc] = path
        return None, path

    def text(self, names: tuple[str, ...], loc: tuple[str | int, ...] | None = None, **kw: Any) -> str:
        value, path = self.pick(names, loc)
        return text(value, path, **kw)


def _status(rows: list[_Row]) -> tuple[str, _Row]:
    best: tuple[int, _Row] | None = None
    for row in rows:
        if _blank(row.get(SHIPPING_STATUS)):
            continue
        path = row.path(SHIPPING_STATUS)
        code = _code(row.get(SHIPPING_STATUS), path)
        if code not in SHIPPING_STATUSES:
            known = ", ".join(SHIPPING_STATUSES)
            raise MalformedPayload(f"unknown ShippingStatus {code!r}; expected one of {known}", field=path)
        if best is None or int(code) >= best[0]:
            best = (int(code), row)
    if best is None:
        raise MalformedPayload("ShippingStatus is required", field=rows[0].path(SHIPPING_STATUS))
    return str(best[0]), best[1]


def _stamp(rows: list[_Row]) -> tuple[datetime, str]:
    """The newest date the rows show, and the field it came from."""
    dates = [
        (d, row.path(names))
        for row in rows
        for names in EVENT_DATES
        if (d := parse_date(row.get(names), row.path(names))) is not None
    ]
    if not dates:
        raise MalformedPayload("OrderDate is required", field=rows[0].path(ORDER_DATE))
    return max(dates, key=lambda d: d[0])


def _claim(rows: list[_Row]) -> tuple[str, _Row] | None:
    """The claim code that counts and its row; ("", row) when the rows show no open claim;
    None when no row shows the claim axis at all."""
    shown = [r for r in rows if r.has(CLAIM_STATUS)]
    if not shown:
        return None
    best: tuple[tuple[datetime, int], str, _Row] | None = None
    for row in shown:
        path = row.path(CLAIM_STATUS)
        code = _code(row.get(CLAIM_STATUS), path) if not _blank(row.get(CLAIM_STATUS)) else ""
        if code in NO_CLAIM:
            continue
        if code not in CLAIM_CODES:
            known = ", ".join(sorted(CLAIM_CODES, key=int))
            raise MalformedPayload(f"unknown claimStatus {code!r}; expected one of {known}", field=path)
        when = [
            d
            for names in (REQUEST_DATE, CANCEL_REFUND_DATE)
            if (d := parse_date(row.get(names), row.path(names))) is not None
        ]
        rank = (max(when) if when else _UNDATED, int(code))
        if best is None or rank >= best[0]:
            best = (rank, code, row)
    return (best[1], best[2]) if best is not None else ("", shown[0])


def _country(reader: _Reader) -> str:
    raw, path = reader.pick(("shippingCountry",), ("recipient", "country"))
    value = text(raw, path)
    if not value or value.lower() in _JAPAN:
        return "JP"
    if not _COUNTRY.match(value):
        raise MalformedPayload(f"{path} must be a two-letter country code, got {value!r}", field=path)
    return value.upper()


def _quantity(reader: _Reader) -> int:
    raw, path = reader.pick(("OrderQty",), ("items", 0, "quantity"))
    if isinstance(raw, Decimal) and raw == raw.to_integral_value():
        raw = int(raw)
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if raw is None:
        raise MalformedPayload("OrderQty is required", field=path)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise MalformedPayload(f"{path} must be a whole number", field=path)
    return raw


def _item(reader: _Reader) -> dict[str, Any]:
    code = reader.text(("SellerItemCode",), ("items", 0, "sku"))
    if not code:
        code = reader.text(("ItemNo", "itemCode"), ("items", 0, "sku"))
    if not code:
        path = reader.rows[0].path(("SellerItemCode",))
        raise MalformedPayload("SellerItemCode (or ItemNo) is required", field=path)
    option_code = reader.text(("OptionCode",))
    title = reader.text(("ItemTitle",), ("items", 0, "title"))
    option = reader.text(("Option",))
    if option:
        title = f"{title} ({option})" if title else option
    price, price_path = reader.pick(("OrderPrice",), ("items", 0, "price"))
    return {
        "sku": f"{code}:{option_code}" if option_code else code,
        "title": title[:500],
        "quantity": _quantity(reader),
        "price": money(price, price_path),
    }


def _recipient(reader: _Reader) -> dict[str, str]:
    address = reader.text(("ShippingAddress", "shippingAddr"), ("recipient", "address1"))
    if not address:
        parts = [reader.text(("Address1",), ("recipient", "address1")), reader.text(("Address2",))]
        address = " ".join(p for p in parts if p)
    phone = reader.text(("ReceiverMobile",), ("recipient", "phone")) or reader.text(
        ("ReceiverTel",), ("recipient", "phone")
    )
    return {
        "name": reader.text(("Receiver",), ("recipient", "name")),
        "address1": address,
        "address2": "",
        "postal_code": reader.text(("ZipCode",), ("recipient", "postal_code")),
        "country": _country(reader),
        "phone": phone,
        "email": reader.text(("BuyerEmail",), ("recipient", "email")),
    }


def normalize(bundle: Any) -> OrderChange:
    """A bundle {OrderNo, rows} -> OrderChange (decisions in the module docstring)."""
    no, rows = _rows(bundle)
    status, primary = _status(rows)
    reader = _Reader(rows, primary)
    stamp, stamp_path = _stamp(rows)
    placed_raw, placed_path = reader.pick(ORDER_DATE, ("placed_at",))
    placed_at = parse_date(placed_raw, placed_path, required=True)
    paid_raw, paid_path = reader.pick(PAYMENT_DATE, ("payment", "paid_at"))
    paid_at = parse_date(paid_raw, paid_path)
    method_text = reader.text(("PaymentMethod",), ("payment",))

    claim: dict[str, Any] | None = None
    cancelled_at: datetime | None = None
    refunded = False
    found = _claim(rows)
    if found is not None:
        code, row = found
        reason = text(row.get(("reason",)), row.path(("reason",)))[:_MAX_REASON]
        if code in CANCEL_DONE:
            reader.paths[("cancelled_at",)] = row.path(CANCEL_REFUND_DATE)
            cancelled_at = (
                parse_date(row.get(CANCEL_REFUND_DATE), row.path(CANCEL_REFUND_DATE))
                or parse_date(row.get(REQUEST_DATE), row.path(REQUEST_DATE))
                or stamp
            )
        refunded = code in RETURN_DONE | REFUND_FULL
        kind = (
            "cancel"
            if code in CANCEL_OPEN | CANCEL_DONE
            else "return"
            if code in RETURN_OPEN | RETURN_DONE
            else "other"
        )
        state = "open" if code in CANCEL_OPEN | RETURN_OPEN | EXCHANGE_OPEN else "closed"
        claim = {"state": state, "kind": kind, "reason": reason}

    currency = reader.text(("Currency",), ("currency",)).upper() or "JPY"
    total_raw, total_path = reader.pick(("Total",), ("total",))
    data = {
        "marketplace": MARKETPLACE,
        "marketplace_order_no": no,
        "topic": "cancelled" if cancelled_at is not None else "updated",
        "awaiting_shipment": status in AWAITING_SHIPMENT,
        "refunded": refunded,
        "claim": claim,
        "marketplace_updated_at": stamp,
        "placed_at": placed_at,
        "cancelled_at": cancelled_at,
        "payment": {
            "method": payment_method(method_text),
            "paid_at": paid_at,
            "gateway": method_text[:_MAX_GATEWAY],
        },
        "currency": currency,
        "total": money(total_raw, total_path, required=False),
        "items": [_item(reader)],
        "recipient": _recipient(reader),
    }
    table = {
        ("marketplace_order_no",): "OrderNo",
        ("marketplace_updated_at",): stamp_path,
        ("items",): "rows",
        **reader.paths,
    }
    return build_change(data, translate_with(table, fallback_prefix="rows[0]"))
