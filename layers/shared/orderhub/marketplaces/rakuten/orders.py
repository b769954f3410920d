"""Rakuten Ichiba orders: RakutenPayOrderAPI getOrder's `OrderModel` (version 7) -> OrderChange
(pure; no I/O). Field names and codes: JakeJP/Rakuten.RMS.Api `RakutenPayOrderAPI/OrderModel.cs`
and `Models.cs`; settlementMethodCode and the changeType codes from Rakuten's published field
tables as mirrored by community SDKs (marketplaces.md §4).

Times are Japan time, "2023-04-17T13:01:20+0900" (also accepted with "+09:00"); they become
aware UTC. A MalformedPayload names the field in Rakuten's naming
("PackageModelList[0].ItemModelList[1].units").

Normalization (Rakuten field -> OrderChange field):
- marketplace "rakuten"; marketplace_order_no: `orderNumber`; placed_at: `orderDatetime`.
- marketplace_updated_at: Rakuten's order has no "updated at" (nor does searchOrder filter by
  one), so the change stamp is the NEWEST time the order shows: orderDatetime,
  shopOrderCfmDatetime, orderFixDatetime, shippingInstDatetime, shippingCmplRptDatetime, every
  ChangeReasonModelList[].change{Apply,Fix,Cmpl}Datetime, and every
  PackageModelList[].ShippingModelList[].shippingDate not later than now (a ship date is a day,
  read as 00:00 Japan time; one the merchant dated ahead is no event yet). An edit that stamps
  none of these (a tracking number changed on an existing shipment, a memo) does not move it:
  such a change is not queued again by a sweep (docs/connectors.md, "Pull").
- orderProgress (100 注文確認待ち, 200 楽天処理中, 300 発送待ち, 400 変更確定待ち, 500 発送済,
  600 支払手続き中, 700 支払手続き済, 800 キャンセル確定待ち, 900 キャンセル確定); anything else is
  malformed.
  - 900: topic "cancelled"; cancelled_at the newest changeFixDatetime / changeCmplDatetime of a
    cancel confirmed or completed (changeType 1 / 2), else the change stamp. A 900 order that
    was reported shipped (shippingCmplRptDatetime) is also `refunded` (Rakuten cancels a shipped
    order only with cancelOrderAfterShipping, once the parcel came back: orderhub closes it).
  - any other: topic "updated".
  - awaiting_shipment: True at 100-400, False at 500-700; at 800 / 900 (which an unshipped
    order reaches too) False when the order was reported shipped, else None (cannot tell). A
    shipping report (shippingCmplRptDatetime) always means False.
- claim (a cancel request): from ChangeReasonModelList, the cancel entries (changeType 0
  キャンセル申請, 1 キャンセル確定, 2 キャンセル完了, 3 キャンセル取消) in time order (each entry's
  newest date, then changeId); the newest decides. 0 -> open; 3 -> closed; 1 / 2 -> open until
  the order reaches 900 (then cancelled_at settles it). orderProgress 800 is an open claim even
  without an entry. kind "return" when the reason (changeReasonDetail) is a return (2 受取後の
  返品, 15 返品(破損・品間違い)), else "cancel"; reason: the reason's Japanese label. No cancel entry
  and not 800: no claim (None). Change entries (changeType 4-9) are not claims.
- payment.method from SettlementModel.settlementMethodCode (else the settlementMethod name, as
  older answers give only the name; PAYMENT_METHODS / _method_from_name). gateway: the
  settlementMethod name, else "rakuten". paid_at: the order shows no payment time (getPayment
  has one, per payment); the nearest is shippingInstDatetime (発送指示日時), which Rakuten sets when
  it hands the order to the shop to ship, i.e. once the payment cleared [P, inferred]. So paid_at
  = shippingInstDatetime, except for COD (paid on delivery: None). A prepaid method (bank
  transfer, konbini) stays pending until then. At orderProgress 100 (the shop has not confirmed
  the order in RMS) and 200 (Rakuten still processing it) Rakuten takes no shipment: any other
  method is "marketplace" with no paid_at, so the order waits in pending; at 300 it takes its
  own method and the hold window counted from the order's placing.
- currency "JPY"; total: `requestPrice` (請求金額: what the buyer is billed, coupons and points
  taken off, the COD fee included: what a COD parcel collects); -9999 (未確定) -> None.
- items: every PackageModelList[].ItemModelList[] (one package: see below). sku: SkuModelList[0]
  merchantDefinedSkuId, else variantId (getOrder version 7+, SKU-migrated orders), else
  itemNumber (which for older orders carries the option choices), else manageNumber. title:
  itemName, with " (skuInfo)" when the SKU has one (its lines joined by " / "), cut to 500
  characters. quantity: units. price (unit): priceTaxIncl (version 3+, tax included), else price.
- recipient: PackageModelList[0].SenderModel (送付先): name familyName + " " + firstName,
  postal_code zipCode1-zipCode2, region prefecture, city city, address1 subAddress, country
  "JP", phone phoneNumber1-phoneNumber2-phoneNumber3. The orderer's e-mail (Rakuten's masked
  relay address) is not carried: the recipient may not be the orderer.
- Several packages (送付先, `severalSenderFlag` 1: one order shipped to several addresses, each
  its own basketId): orderhub holds one recipient per order, so such an order is refused as
  malformed, naming PackageModelList, rather than shipped whole to the first address. The
  merchant ships it from RMS.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from orderhub.domain.models import OrderChange
from orderhub.kernel import clock
from orderhub.kernel.errors import MalformedPayload
from orderhub.marketplaces.common import Loc, build_change, money, obj, path, text, timestamp

JST = timezone(timedelta(hours=9), "JST")
UNDETERMINED = -9999  # Rakuten's "not determined yet" amount (未確定)

PROGRESS: dict[int, str] = {
    100: "注文確認待ち",
    200: "楽天処理中",
    300: "発送待ち",
    400: "変更確定待ち",
    500: "発送済",
    600: "支払手続き中",
    700: "支払手続き済",
    800: "キャンセル確定待ち",
    900: "キャンセル確定",
}
CANCELLABLE = (100, 200, 300)  # cancelOrder; 500-800 take cancelOrderAfterShipping
SHIPPED = (500, 600, 700)

# ChangeReasonModel.changeType: the cancel flow (4-9 are changes, not claims).
CANCEL_APPLIED, CANCEL_FIXED, CANCEL_DONE, CANCEL_WITHDRAWN = 0, 1, 2, 3
CANCEL_TYPES = (CANCEL_APPLIED, CANCEL_FIXED, CANCEL_DONE, CANCEL_WITHDRAWN)
# ChangeReasonModel.changeReasonDetail (also cancelOrder's changeReasonDetailApply).
CHANGE_REASONS: dict[int, str] = {
    1: "キャンセル",
    2: "受取後の返品",
    3: "長期不在による受取拒否",
    4: "未入金",
    5: "代引決済の受取拒否",
    6: "お客様都合 - その他",
    8: "欠品",
    10: "店舗様都合 - その他",
    13: "発送遅延",
    14: "顧客・配送対応注意表示",
    15: "返品(破損・品間違い)",
}
RETURN_REASONS = (2, 15)

# SettlementModel.settlementMethodCode -> orderhub payment method (SPEC.md §2.1: card and cod are
# released after the hold window; bank_transfer and konbini wait for the payment; marketplace is
# released at once).
PAYMENT_METHODS: dict[int, str] = {
    1: "card",  # クレジットカード
    2: "cod",  # 代金引換
    3: "other",  # 後払い (選択制決済, the shop's own deferred payment; withdrawn in 2022)
    4: "other",  # ショッピングクレジット／ローン: a credit approval the shop follows
    5: "other",  # オートローン
    6: "other",  # リース
    7: "other",  # 請求書払い
    8: "marketplace",  # ポイント: paid in full with Rakuten points
    9: "bank_transfer",  # 銀行振込 (prepaid)
    12: "card",  # Apple Pay: paid at the order, like a card
    13: "konbini",  # セブンイレブン（前払）
    14: "konbini",  # ローソン、郵便局ATM等（前払）
    16: "card",  # Alipay: paid at the order
    17: "card",  # PayPal: paid at the order
    21: "marketplace",  # 後払い決済 (Rakuten's own: Rakuten collects and guarantees the shop's pay)
    27: "card",  # Alipay（支付宝）
}
# Any other code (one Rakuten adds later) is "other": the hold window applies, nothing is refused.

_PKG = "PackageModelList"


def jst_time(value: Any, field: str, *, required: bool = False) -> datetime | None:
    """A Rakuten date-time ("...+0900"), as aware UTC; None when absent and not required."""
    return timestamp(value, field, required=required)


def jst_text(dt: datetime) -> str:
    """A time in Rakuten's request form, "yyyy-MM-ddTHH:mm:ss+0900" (Japan time, no fraction)."""
    return dt.astimezone(JST).strftime("%Y-%m-%dT%H:%M:%S+0900")


def _ship_day(value: Any, field: str) -> datetime | None:
    """ShippingModel.shippingDate: "YYYY-MM-DD" (00:00 Japan time) or a full date-time."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            raise MalformedPayload(f"{field} is not a date (YYYY-MM-DD): {value!r}", field=field) from None
        try:
            clock.check_day(day)
        except ValueError as exc:
            raise MalformedPayload(f"{field} {exc}: {value!r}", field=field, rule="date_range") from None
        return datetime.combine(day, time(), JST).astimezone(UTC)
    return jst_time(value, field)


def _list(value: Any, field: str, *, required: bool = False) -> list:
    if value is None:
        if required:
            raise MalformedPayload(f"{field} is required", field=field)
        return []
    if not isinstance(value, list):
        raise MalformedPayload(f"{field} must be a list", field=field)
    if required and not value:
        raise MalformedPayload(f"{field} must not be empty", field=field)
    return value


def _int(value: Any, field: str, *, required: bool = False) -> int | None:
    """An integer field; a numeric string ("1001") is accepted."""
    if value is None or value == "":
        if required:
            raise MalformedPayload(f"{field} is required", field=field)
        return None
    if isinstance(value, bool):
        raise MalformedPayload(f"{field} must be an integer", field=field)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise MalformedPayload(f"{field} must be an integer", field=field)


def progress(order: dict[str, Any]) -> int:
    """The order's orderProgress (one of PROGRESS)."""
    value = _int(order.get("orderProgress"), "orderProgress", required=True)
    if value not in PROGRESS:
        raise MalformedPayload(
            f"unknown orderProgress {value}; expected one of " + ", ".join(map(str, PROGRESS)),
            field="orderProgress",
        )
    return value


def packages(order: dict[str, Any]) -> list[dict[str, Any]]:
    """PackageModelList: exactly one package (送付先) per order (the module docstring)."""
    found = _list(order.get(_PKG), _PKG, required=True)
    if len(found) > 1:
        baskets = ", ".join(str(p.get("basketId")) for p in found if isinstance(p, dict))
        raise MalformedPayload(
            f"{_PKG} has {len(found)} 送付先 (basketId {baskets}); orderhub holds one recipient per "
            "order: ship this order from RMS",
            field=_PKG,
        )
    package = obj(found[0], path(_PKG, 0))
    assert package is not None
    return [package]


class _Change:
    """One ChangeReasonModelList entry, its dates parsed."""

    def __init__(self, entry: dict[str, Any], where: str):
        self.dates = {
            name: jst_time(entry.get(name), path(where, name))
            for name in ("changeApplyDatetime", "changeFixDatetime", "changeCmplDatetime")
        }
        known = [d for d in self.dates.values() if d is not None]
        self.newest = max(known) if known else None
        self.change_id = _int(entry.get("changeId"), path(where, "changeId")) or 0
        self.type = _int(entry.get("changeType"), path(where, "changeType"))
        self.reason = _int(entry.get("changeReasonDetail"), path(where, "changeReasonDetail"))


def _changes(order: dict[str, Any]) -> list[_Change]:
    """ChangeReasonModelList, oldest first (each entry's newest date, then changeId)."""
    out = []
    for i, raw in enumerate(_list(order.get("ChangeReasonModelList"), "ChangeReasonModelList")):
        where = path("ChangeReasonModelList", i)
        entry = obj(raw, where)
        assert entry is not None
        out.append(_Change(entry, where))
    floor = datetime.min.replace(tzinfo=UTC)
    return sorted(out, key=lambda c: (c.newest or floor, c.change_id))


def _stamp(
    order: dict[str, Any], placed_at: datetime, package: dict[str, Any], changes: list[_Change]
) -> datetime:
    """The newest time the order shows (Rakuten has no updated-at: the module docstring)."""
    stamps = [placed_at]
    for name in (
        "shopOrderCfmDatetime",
        "orderFixDatetime",
        "shippingInstDatetime",
        "shippingCmplRptDatetime",
    ):
        t = jst_time(order.get(name), name)
        if t is not None:
            stamps.append(t)
    stamps.extend(c.newest for c in changes if c.newest is not None)
    now = clock.now()
    for j, raw in enumerate(_list(package.get("ShippingModelList"), path(_PKG, 0, "ShippingModelList"))):
        where = path(_PKG, 0, "ShippingModelList", j)
        shipping = obj(raw, where)
        assert shipping is not None
        day = _ship_day(shipping.get("shippingDate"), path(where, "shippingDate"))
        if day is not None and day <= now:
            stamps.append(day)
    return max(stamps)


def _claim(state: int, changes: list[_Change]) -> dict[str, str] | None:
    cancels = [c for c in changes if c.type in CANCEL_TYPES]
    latest = cancels[-1] if cancels else None
    if latest is None and state != 800:
        return None
    detail = latest.reason if latest is not None else None
    kind = "return" if detail in RETURN_REASONS else "cancel"
    reason = CHANGE_REASONS.get(detail, "") if detail is not None else ""
    if state == 800:
        return {"state": "open", "kind": kind, "reason": reason or PROGRESS[800]}
    assert latest is not None
    return {"state": "closed" if latest.type == CANCEL_WITHDRAWN else "open", "kind": kind, "reason": reason}


def _cancelled_at(changes: list[_Change], fallback: datetime) -> datetime:
    times = [
        t
        for c in changes
        if c.type in (CANCEL_FIXED, CANCEL_DONE)
        for t in (c.dates["changeFixDatetime"], c.dates["changeCmplDatetime"])
        if t is not None
    ]
    return max(times) if times else fallback


def _method_from_name(name: str) -> str:
    """An older answer's settlementMethod name -> orderhub method (the codes' table above)."""
    if "代金引換" in name or "代引" in name:
        return "cod"
    if any(k in name for k in ("ショッピングクレジット", "ローン", "リース", "請求書", "後払い（選択制")):
        return "other"
    if "後払い" in name:
        return "marketplace"
    if "ポイント" in name:
        return "marketplace"
    if "銀行振込" in name:
        return "bank_transfer"
    if any(k in name for k in ("コンビニ", "セブンイレブン", "ローソン", "ファミリーマート", "前払")):
        return "konbini"
    # クレジットカード, Apple Pay, PayPal, Alipay, 楽天バンク決済 (paid from a Rakuten Bank account at the
    # order): paid when the order is placed, like a card.
    if any(k in name for k in ("クレジット", "Apple Pay", "PayPal", "Alipay", "楽天バンク")):
        return "card"
    return "other"


# orderProgress before Rakuten hands the order to the shop to ship: 100 (the shop has not
# confirmed it in RMS) and 200 (Rakuten is still processing it, its payment check among others).
NOT_RELEASED = frozenset({100, 200})


def _payment(order: dict[str, Any], method_paid_at: datetime | None, state: int) -> dict[str, Any]:
    settlement = obj(order.get("SettlementModel"), "SettlementModel", required=False) or {}
    code = _int(settlement.get("settlementMethodCode"), "SettlementModel.settlementMethodCode")
    name = text(settlement.get("settlementMethod"), "SettlementModel.settlementMethod")
    if code is not None:
        method = PAYMENT_METHODS.get(code, "other")
    elif name:
        method = _method_from_name(name)
    else:
        method = "other"
    if state in NOT_RELEASED and method not in ("bank_transfer", "konbini"):
        # Rakuten does not take a shipment yet: the order waits as a payment the marketplace has
        # not cleared, and takes its hold window (card, COD) when it reaches 300 (domain/ingest.py).
        return {"method": "marketplace", "paid_at": None, "gateway": name or "rakuten"}
    return {
        "method": method,
        "paid_at": None if method == "cod" else method_paid_at,
        "gateway": name or "rakuten",
    }


def _sku(item: dict[str, Any], where: str) -> str:
    skus = _list(item.get("SkuModelList"), path(where, "SkuModelList"))
    if skus:
        sku = obj(skus[0], path(where, "SkuModelList", 0))
        assert sku is not None
        for name in ("merchantDefinedSkuId", "variantId"):
            value = text(sku.get(name), path(where, "SkuModelList", 0, name))
            if value:
                return value
    for name in ("itemNumber", "manageNumber"):
        value = text(item.get(name), path(where, name))
        if value:
            return value
    raise MalformedPayload(
        "the item has no SKU: SkuModelList[0].merchantDefinedSkuId / variantId, itemNumber or "
        "manageNumber is required",
        field=path(where, "manageNumber"),
    )


def _item(raw: Any, where: str) -> dict[str, Any]:
    item = obj(raw, where)
    assert item is not None
    title = text(item.get("itemName"), path(where, "itemName"))
    skus = item.get("SkuModelList") or []
    info = ""
    if isinstance(skus, list) and skus and isinstance(skus[0], dict):
        info = text(skus[0].get("skuInfo"), path(where, "SkuModelList", 0, "skuInfo"))
    if info:
        info = " / ".join(line.strip() for line in info.splitlines() if line.strip())
        title = f"{title} ({info})" if title else info
    units = _int(item.get("units"), path(where, "units"), required=True)
    assert units is not None
    if units < 1:
        raise MalformedPayload(f"{path(where, 'units')} must be at least 1", field=path(where, "units"))
    price_field = "priceTaxIncl" if item.get("priceTaxIncl") is not None else "price"
    price = money(item.get(price_field), path(where, price_field))
    assert price is not None
    if price < 0:
        raise MalformedPayload(
            f"{path(where, price_field)} must not be negative", field=path(where, price_field)
        )
    return {"sku": _sku(item, where), "title": title[:500], "quantity": units, "price": price}


def _recipient(package: dict[str, Any]) -> dict[str, str]:
    where = path(_PKG, 0, "SenderModel")
    sender = obj(package.get("SenderModel"), where)
    assert sender is not None

    def field(name: str) -> str:
        return text(sender.get(name), path(where, name))

    zip_code = "-".join(v for v in (field("zipCode1"), field("zipCode2")) if v)
    phone = "-".join(v for v in (field("phoneNumber1"), field("phoneNumber2"), field("phoneNumber3")) if v)
    return {
        "name": " ".join(v for v in (field("familyName"), field("firstName")) if v),
        "address1": field("subAddress"),
        "address2": "",
        "city": field("city"),
        "region": field("prefecture"),
        "postal_code": zip_code,
        "country": "JP",
        "phone": phone,
    }


def _translate(loc: Loc) -> str:
    """An OrderChange location -> the Rakuten field it came from (build_change's error)."""
    items = {"sku": "manageNumber", "title": "itemName", "quantity": "units", "price": "price"}
    sender = {
        "name": "familyName",
        "address1": "subAddress",
        "city": "city",
        "region": "prefecture",
        "postal_code": "zipCode1",
        "phone": "phoneNumber1",
    }
    head = loc[0] if loc else ""
    if head == "items" and len(loc) >= 2 and isinstance(loc[1], int):
        rest = items.get(str(loc[2]), "") if len(loc) > 2 else ""
        return path(_PKG, 0, "ItemModelList", loc[1], *([rest] if rest else []))
    if head == "items":
        return path(_PKG, 0, "ItemModelList")
    if head == "recipient":
        name = sender.get(str(loc[1])) if len(loc) > 1 else None
        return path(_PKG, 0, "SenderModel", *([name] if name else []))
    top: dict[str, str] = {
        "marketplace_order_no": "orderNumber",
        "placed_at": "orderDatetime",
        "marketplace_updated_at": "orderDatetime",
        "cancelled_at": "ChangeReasonModelList",
        "payment": "SettlementModel",
        "total": "requestPrice",
    }
    return top.get(str(head), str(head) or "body")


def normalize_order(order: dict[str, Any]) -> OrderChange:
    """A getOrder OrderModel -> OrderChange (decisions in the module docstring)."""
    if not isinstance(order, dict):
        raise MalformedPayload("the order must be an OrderModel object", field="OrderModel")
    number = text(order.get("orderNumber"), "orderNumber", required=True)
    state = progress(order)
    placed_at = jst_time(order.get("orderDatetime"), "orderDatetime", required=True)
    assert placed_at is not None
    package = packages(order)[0]
    changes = _changes(order)
    updated_at = _stamp(order, placed_at, package, changes)
    reported = jst_time(order.get("shippingCmplRptDatetime"), "shippingCmplRptDatetime")
    instructed = jst_time(order.get("shippingInstDatetime"), "shippingInstDatetime")

    if reported is not None or state in SHIPPED:
        awaiting: bool | None = False
    elif state in (800, 900):
        awaiting = None
    else:
        awaiting = True
    cancelled = state == 900

    item_list = _list(package.get("ItemModelList"), path(_PKG, 0, "ItemModelList"), required=True)
    items = [_item(raw, path(_PKG, 0, "ItemModelList", i)) for i, raw in enumerate(item_list)]
    request_price = order.get("requestPrice")
    total = None
    if request_price is not None and _int(request_price, "requestPrice") != UNDETERMINED:
        total = money(request_price, "requestPrice")

    data = {
        "marketplace": "rakuten",
        "marketplace_order_no": number,
        "topic": "cancelled" if cancelled else "updated",
        "topic_source": "body",
        "awaiting_shipment": awaiting,
        "refunded": cancelled and reported is not None,
        "claim": None if cancelled else _claim(state, changes),
        "marketplace_updated_at": updated_at,
        "placed_at": placed_at,
        "cancelled_at": _cancelled_at(changes, updated_at) if cancelled else None,
        "payment": _payment(order, instructed, state),
        "currency": "JPY",
        "total": total,
        "items": items,
        "recipient": _recipient(package),
    }
    return build_change(data, _translate)
