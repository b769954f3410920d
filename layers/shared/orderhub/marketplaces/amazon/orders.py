"""Amazon orders: the Orders API v0 `Order` object with its `OrderItem`s -> OrderChange (pure; no
I/O). Field names, statuses and the Money / Address shapes: amzn/selling-partner-api-models
`models/orders-api-model/ordersV0.json`.

An order needs two calls (getOrder or getOrders for the order, getOrderItems for its lines), so
what orderhub reads is both together, as the client builds it (orderhub.marketplaces.amazon.client):

    {"order": <Order>, "items": [<OrderItem>, ...]}

A MalformedPayload names the field in Amazon's naming: "OrderStatus", "ShippingAddress.CountryCode",
"OrderItems[1].QuantityOrdered" (the items as getOrderItems' `OrderItems` lists them).

Normalization (Amazon field -> OrderChange field):
- marketplace "amazon"; marketplace_order_no: `AmazonOrderId`; marketplace_updated_at:
  `LastUpdateDate`; placed_at: `PurchaseDate` (the four fields the model requires).
- `FulfillmentChannel` AFN (Amazon ships it) is refused as malformed, naming FulfillmentChannel:
  orderhub ships seller-fulfilled (MFN) orders, and its pull asks only for those.
- `OrderStatus`:
  - Pending ("placed but payment has not been authorized") and PendingAvailability (a pre-order
    whose item is not released yet; payment not authorized either): not paid yet, paid_at None;
    awaiting_shipment None (Amazon shows neither a parcel to send nor one sent: "not ready for
    shipment"; it shows no ShippingAddress yet either).
  - Unshipped, PartiallyShipped: paid, awaiting_shipment True (something is left to send).
  - Shipped, InvoiceUnconfirmed ("all items in the order have been shipped"): paid,
    awaiting_shipment False.
  - Canceled: topic "cancelled", cancelled_at `LastUpdateDate` (Amazon stamps no cancel time of
    its own), awaiting_shipment None.
  - Unfulfillable (Multi-Channel Fulfillment orders only) and anything else: malformed.
  Every other status has topic "updated" (an order orderhub does not have yet is created by it).
- payment.method from `PaymentMethod` (SPEC.md §2.1):
  - COD -> "cod" (paid to the carrier on delivery: paid_at None; the hold window applies once
    Amazon shows the order Unshipped: while Pending it is "marketplace", not yet cleared);
  - CVS -> "konbini" (paid at a convenience store after the order: Amazon keeps the order Pending
    until then, so it waits in orderhub's pending too);
  - Other, or none -> "marketplace": every other way to pay (card, Amazon Pay, points, gift
    cards...) is collected by Amazon, which authorizes it before it lets the order out of Pending
    and pays the seller out itself; orderhub never sees the means, and a hold window on top of
    Amazon's own check would only delay an order Amazon already told the seller to ship. So
    it is "marketplace" rather than "card", with paid_at None while Amazon shows it Pending.
  paid_at: the Orders API shows no payment time. Once Amazon shows the order paid (Unshipped,
  PartiallyShipped, Shipped, InvoiceUnconfirmed), paid_at is `PurchaseDate`: a stable stand-in
  (the relink compares paid_at across fetches, and a paid_at that moved later would read as a
  re-release). COD, Pending, PendingAvailability and Canceled: None. gateway: "amazon", with
  `PaymentMethodDetails` when given ("amazon: CreditCard, PointsAccount").
- currency and total: `OrderTotal` (CurrencyCode, Amount); a Pending order may have none (then
  the currency is the first line's ItemPrice.CurrencyCode, the total None).
- items: one per OrderItem, in Amazon's order. sku: `SellerSKU`, else `ASIN` (the one product id
  the model requires); title: `Title`; quantity: `QuantityOrdered`; price: orderhub's price is the
  unit price (as Shopify's line `price`), and Amazon's `ItemPrice` is the line's ("the selling
  price of the item multiplied by the quantity ordered"), so price = ItemPrice.Amount /
  QuantityOrdered, rounded to 0.01 when it does not divide. getOrderItems "does not return
  information about pricing" while the order is Pending, so a line without ItemPrice has price 0
  until the next change brings it. A line with QuantityOrdered 0 (nothing left of it) is left
  out; when every line is 0 and the order is Canceled the lines are kept with quantity 1, so the
  cancel still reaches orderhub (an order needs a line).
- claim: a line whose `BuyerRequestedCancel.IsBuyerRequestedCancel` is "true" (a string in the
  model; a JSON true is read the same) opens a claim of kind "cancel", reason its
  `BuyerCancelReason`; lines that carry BuyerRequestedCancel, none of them true, close it (the
  request is gone); no line carrying it: None (the answer cannot tell).
- recipient: `ShippingAddress` (Amazon gives it from Unshipped on, and its Name, AddressLine1-3
  and Phone only to a Restricted Data Token: the client asks for one). name `Name`; address1
  `AddressLine1`; address2 `AddressLine2`, `AddressLine3` and `CompanyName` joined with " ";
  city `City`; region `StateOrRegion`; postal_code `PostalCode`; country `CountryCode`; phone
  `Phone`. No e-mail: BuyerInfo (Amazon's relay address) is not asked for.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from orderhub.domain.models import OrderChange
from orderhub.kernel.errors import MalformedPayload
from orderhub.marketplaces.common import (
    Loc,
    build_change,
    country_code,
    money,
    obj,
    path,
    text,
    timestamp,
)

MARKETPLACE = "amazon"

PENDING_STATUSES = frozenset({"Pending", "PendingAvailability"})
AWAITING_STATUSES = frozenset({"Unshipped", "PartiallyShipped"})
SHIPPED_STATUSES = frozenset({"Shipped", "InvoiceUnconfirmed"})
CANCELLED = "Canceled"
STATUSES = PENDING_STATUSES | AWAITING_STATUSES | SHIPPED_STATUSES | {CANCELLED}
# Amazon shows the order paid (its payment authorized) in these.
PAID_STATUSES = AWAITING_STATUSES | SHIPPED_STATUSES
# Some of the order's parcels have left (the relink's "shipping started").
SHIPPING_STARTED_STATUSES = frozenset({"PartiallyShipped"}) | SHIPPED_STATUSES

PAYMENT_METHODS = {"COD": "cod", "CVS": "konbini", "Other": "marketplace"}

ITEMS = "OrderItems"
ADDRESS = "ShippingAddress"
CENT = Decimal("0.01")


def order_status(order: dict[str, Any]) -> str:
    """`OrderStatus`, checked (MalformedPayload for a status orderhub does not take)."""
    status = text(order.get("OrderStatus"), "OrderStatus", required=True)
    if status not in STATUSES:
        raise MalformedPayload(
            f"OrderStatus {status!r} is not one orderhub takes; expected one of "
            + ", ".join(sorted(STATUSES)),
            field="OrderStatus",
        )
    return status


def _flag(value: Any, field: str) -> bool | None:
    """Amazon's "true" / "false" strings (or JSON booleans); None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise MalformedPayload(f'{field} must be "true" or "false"', field=field)


def _quantity(value: Any, field: str) -> int:
    if value is None:
        raise MalformedPayload(f"{field} is required", field=field)
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or value != int(value) or value < 0:
        raise MalformedPayload(f"{field} must be a whole number of at least 0", field=field)
    return int(value)


MAX_AMOUNT = Decimal("1e12")  # far above any order; keeps the arithmetic below exact


def _unit_price(line_amount: Decimal | None, quantity: int, field: str) -> Decimal:
    if line_amount is None:
        return Decimal(0)
    if abs(line_amount) >= MAX_AMOUNT:
        raise MalformedPayload(f"{field} is out of range", field=field)
    unit = line_amount / quantity
    if unit * quantity != line_amount:
        unit = unit.quantize(CENT, rounding=ROUND_HALF_UP)
    return unit


def _items(raw_items: Any, cancelled: bool) -> tuple[list[dict[str, Any]], list[int], Any, bool | None, str]:
    """(items, the OrderItems index of each, first line's currency, buyer cancel flag, reason)."""
    if not isinstance(raw_items, list):
        raise MalformedPayload(f"{ITEMS} must be a list", field=ITEMS)
    if not raw_items:
        raise MalformedPayload(f"{ITEMS} is empty: an order has at least one line", field=ITEMS)
    lines: list[tuple[int, dict[str, Any]]] = []
    currency = ""
    requested: bool | None = None
    reason = ""
    for i, raw in enumerate(raw_items):
        where = path(ITEMS, i)
        item = obj(raw, where)
        assert item is not None
        sku = text(item.get("SellerSKU"), f"{where}.SellerSKU") or text(item.get("ASIN"), f"{where}.ASIN")
        if not sku:
            raise MalformedPayload(f"{where}.SellerSKU (or ASIN) is required", field=f"{where}.SellerSKU")
        quantity = _quantity(item.get("QuantityOrdered"), f"{where}.QuantityOrdered")
        price = obj(item.get("ItemPrice"), f"{where}.ItemPrice", required=False) or {}
        amount = money(price.get("Amount"), f"{where}.ItemPrice.Amount", required=False)
        if amount is not None and amount < 0:
            raise MalformedPayload(
                f"{where}.ItemPrice.Amount must not be negative", field=f"{where}.ItemPrice.Amount"
            )
        currency = currency or text(price.get("CurrencyCode"), f"{where}.ItemPrice.CurrencyCode")
        cancel = obj(item.get("BuyerRequestedCancel"), f"{where}.BuyerRequestedCancel", required=False)
        if cancel is not None:
            flag = _flag(
                cancel.get("IsBuyerRequestedCancel"), f"{where}.BuyerRequestedCancel.IsBuyerRequestedCancel"
            )
            if flag:
                requested = True
                reason = reason or text(
                    cancel.get("BuyerCancelReason"), f"{where}.BuyerRequestedCancel.BuyerCancelReason"
                )
            elif flag is False and requested is None:
                requested = False
        lines.append(
            (
                i,
                {
                    "sku": sku,
                    "title": text(item.get("Title"), f"{where}.Title"),
                    "quantity": quantity,
                    "amount": amount,
                },
            )
        )
    kept = [(i, line) for i, line in lines if line["quantity"] > 0]
    if not kept:
        if not cancelled:
            raise MalformedPayload(
                "every line has QuantityOrdered 0 in an order that is not Canceled",
                field=path(ITEMS, 0, "QuantityOrdered"),
            )
        kept = [(i, {**line, "quantity": 1}) for i, line in lines]
    items = [
        {
            "sku": line["sku"],
            "title": line["title"],
            "quantity": line["quantity"],
            "price": _unit_price(line["amount"], line["quantity"], path(ITEMS, i, "ItemPrice", "Amount")),
        }
        for i, line in kept
    ]
    return items, [i for i, _line in kept], currency, requested, reason


def _recipient(order: dict[str, Any]) -> dict[str, str]:
    address = obj(order.get(ADDRESS), ADDRESS, required=False)
    if address is None:
        return {}

    def field(name: str) -> str:
        return text(address.get(name), f"{ADDRESS}.{name}")

    return {
        "name": field("Name"),
        "address1": field("AddressLine1"),
        "address2": " ".join(
            v for v in (field("AddressLine2"), field("AddressLine3"), field("CompanyName")) if v
        ),
        "city": field("City"),
        "region": field("StateOrRegion"),
        "postal_code": field("PostalCode"),
        "country": country_code(address.get("CountryCode"), f"{ADDRESS}.CountryCode", required=False),
        "phone": field("Phone"),
    }


def _gateway(order: dict[str, Any]) -> str:
    details = order.get("PaymentMethodDetails")
    if details is None:
        return "amazon"
    if not isinstance(details, list):
        raise MalformedPayload("PaymentMethodDetails must be a list", field="PaymentMethodDetails")
    names = [text(v, path("PaymentMethodDetails", i)) for i, v in enumerate(details)]
    names = [n for n in names if n]
    return f"amazon: {', '.join(names)}" if names else "amazon"


_ITEM_FIELDS = {
    "sku": "SellerSKU",
    "title": "Title",
    "quantity": "QuantityOrdered",
    "price": "ItemPrice.Amount",
}
_TABLE: dict[Loc, str] = {
    ("marketplace_order_no",): "AmazonOrderId",
    ("marketplace_updated_at",): "LastUpdateDate",
    ("placed_at",): "PurchaseDate",
    ("cancelled_at",): "LastUpdateDate",
    ("payment", "paid_at"): "PurchaseDate",
    ("payment", "method"): "PaymentMethod",
    ("payment", "gateway"): "PaymentMethodDetails",
    ("payment",): "PaymentMethod",
    ("currency",): "OrderTotal.CurrencyCode",
    ("total",): "OrderTotal.Amount",
    ("items",): ITEMS,
    ("claim",): path(ITEMS, 0, "BuyerRequestedCancel"),
    ("recipient", "name"): f"{ADDRESS}.Name",
    ("recipient", "address1"): f"{ADDRESS}.AddressLine1",
    ("recipient", "address2"): f"{ADDRESS}.AddressLine2",
    ("recipient", "city"): f"{ADDRESS}.City",
    ("recipient", "region"): f"{ADDRESS}.StateOrRegion",
    ("recipient", "postal_code"): f"{ADDRESS}.PostalCode",
    ("recipient", "country"): f"{ADDRESS}.CountryCode",
    ("recipient", "phone"): f"{ADDRESS}.Phone",
    ("recipient",): ADDRESS,
}


def _translator(item_index: list[int]):
    """OrderChange location -> Amazon's name (an item by its index in OrderItems)."""

    def translate(loc: Loc) -> str:
        if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int) and loc[1] < len(item_index):
            where = path(ITEMS, item_index[loc[1]])
            return (
                f"{where}.{_ITEM_FIELDS[str(loc[2])]}" if len(loc) >= 3 and loc[2] in _ITEM_FIELDS else where
            )
        for n in range(len(loc), 0, -1):
            hit = _TABLE.get(loc[:n])
            if hit is not None:
                return hit
        return path(*loc)

    return translate


def normalize_order(order: dict[str, Any], items: Any) -> OrderChange:
    """An Orders v0 `Order` and its `OrderItem`s -> OrderChange (decisions in the module docstring)."""
    number = text(order.get("AmazonOrderId"), "AmazonOrderId", required=True)
    channel = text(order.get("FulfillmentChannel"), "FulfillmentChannel")
    if channel == "AFN":
        raise MalformedPayload(
            "FulfillmentChannel AFN: Amazon fulfils this order; orderhub takes seller-fulfilled (MFN) orders",
            field="FulfillmentChannel",
        )
    status = order_status(order)
    updated_at = timestamp(order.get("LastUpdateDate"), "LastUpdateDate")
    placed_at = timestamp(order.get("PurchaseDate"), "PurchaseDate")
    assert updated_at is not None and placed_at is not None
    cancelled = status == CANCELLED

    raw_method = text(order.get("PaymentMethod"), "PaymentMethod") or "Other"
    method = PAYMENT_METHODS.get(raw_method)
    if method is None:
        raise MalformedPayload(
            f"PaymentMethod {raw_method!r} is not one of " + ", ".join(PAYMENT_METHODS), field="PaymentMethod"
        )
    paid_at = placed_at if status in PAID_STATUSES and method != "cod" else None
    if status in PENDING_STATUSES and method == "cod":
        # Amazon has not let the order out (no address, no prices yet): it waits as a payment the
        # marketplace has not cleared, and takes its hold window once Amazon shows it Unshipped
        # (domain/ingest.py), not an hour after it was placed.
        method = "marketplace"

    lines, item_index, item_currency, requested, reason = _items(items, cancelled)
    total = obj(order.get("OrderTotal"), "OrderTotal", required=False) or {}
    currency = text(total.get("CurrencyCode"), "OrderTotal.CurrencyCode") or item_currency
    claim = None
    if requested is not None:
        claim = (
            {"state": "open", "kind": "cancel", "reason": reason[:500]}
            if requested
            else {
                "state": "closed",
                "kind": "cancel",
            }
        )
    data = {
        "marketplace": MARKETPLACE,
        "marketplace_order_no": number,
        "topic": "cancelled" if cancelled else "updated",
        "topic_source": "body",
        "awaiting_shipment": True
        if status in AWAITING_STATUSES
        else False
        if status in SHIPPED_STATUSES
        else None,
        "claim": claim,
        "marketplace_updated_at": updated_at,
        "placed_at": placed_at,
        "cancelled_at": updated_at if cancelled else None,
        "payment": {"method": method, "paid_at": paid_at, "gateway": _gateway(order)},
        "currency": currency.upper(),
        "total": money(total.get("Amount"), "OrderTotal.Amount", required=False),
        "items": lines,
        "recipient": _recipient(order),
    }
    return build_change(data, _translator(item_index))


def normalize(raw: Any) -> OrderChange:
    """What the client lists: {"order": <Order>, "items": [<OrderItem>...]} -> OrderChange."""
    if not isinstance(raw, dict):
        raise MalformedPayload("an Amazon order must be an object {order, items}", field="order")
    order = obj(raw.get("order"), "order")
    assert order is not None
    return normalize_order(order, raw.get("items"))
