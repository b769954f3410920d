"""Wish Marketplace API v3, as the local cloud's fake server serves it (docs/connectors.md, "The
fake server"): {fake}/wish/api/v3/... with the stored orders as Wish v3 `Order` objects
(events/wish/*.json), kept by their `id`.

    GET /api/v3/orders?updated_at_min&updated_at_max&released_at_min&released_at_max
                       &sort_by=(updated_at|released_at).(asc|desc)&limit=1..500 (default 50)
    GET /api/v3/orders/{id}
    PUT /api/v3/orders/{id}/tracking   {tracking_number, shipping_provider, origin_country, ship_note}
    GET /api/v3/orders/{id}/refund_reasons
    PUT /api/v3/orders/{id}/refund     {refund_reason, refund_reason_note}
    GET /api/v3/orders/shipping_carriers

Every answer is Wish's envelope {code, message, data}, code 0 on success. The error codes are the
fake's own (Wish documents only that 0 is success and that another code names the error); an
error answer has `data` null. Requests need `Authorization: Bearer <token>` that
`fake.token_allowed("wish", token)` accepts (401 otherwise).

- The list's bounds are inclusive, compared to the millisecond (Wish's time format). Orders that
  share the sorted time come in an order Wish does not document: here by `id` descending, so a
  client cannot lean on ids ascending. `states` and `order_type` are not served (ignored).
- The tracking PUT answers 400 unless tracking_number (alphanumerics only), shipping_provider and
  origin_country (two letters) are given, when ship_note is given but is not text of 1 to 500
  characters (the spec: UpdateTracking.ship_note minLength 1, TrackingInfo.ship_note maxLength
  500), and for an order Wish no longer ships (REFUNDED, DECLINED, REQUIRE_REVIEW).
  An APPROVED order (never shipped, or released again) is shipped: fake.record_fulfillment, state
  SHIPPED, a MARK_SHIPPED fulfillment record. A SHIPPED order gets its tracking changed:
  fake.record_tracking. Either way the new tracking goes first in tracking_information (at most
  two kept, newest first), `updated_at` moves on, and the answer's data is the order. A SHIPPED
  order whose latest tracking has this number and provider is not given a new set: a different
  origin_country or ship_note changes that set (fake.record_tracking; how Wish applies such a
  PUT is not documented, this is the fake's choice), the same ones change nothing and record
  nothing. Every record carries what Wish received: order_no, carrier (the provider),
  tracking_number, origin_country, ship_note (None when not sent).
- refund_reasons: for an APPROVED order UNABLE_TO_SHIP, MERCHANT_OUT_OF_STOCK and
  INCOMPLETE_ORDER; for a SHIPPED one ITEM_RETURNED_TO_SENDER, ITEM_IS_DAMAGED and
  RECEIVED_WRONG_ITEM; none otherwise (offer_refund_reasons sets an order's own list). The refund
  PUT answers 400 for a reason not offered now and for an order already REFUNDED or DECLINED;
  else fake.record_cancel, state REFUNDED, a MERCHANT refund in `refunds`, `updated_at` moves on.

Wish's faults, for tests (each for the next `count` requests, -1 until reset(); the functions below):
throttle (429 with Wish-Rate-Limit-Reset), lose_answers (a PUT is applied, then its answer is held
past the client's timeout) and answer_code (an answer whose envelope carries an error code).
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from orderhub.kernel import clock

if TYPE_CHECKING:
    from localcloud.fake_marketplace import FakeMarketplace, FakeRequest

MARKETPLACE = "wish"
Answer = tuple[int, Any, dict[str, str]]

NOT_SHIPPABLE = ("REFUNDED", "DECLINED", "REQUIRE_REVIEW")
SHIP_NOTE_MAX_CHARS = 500  # TrackingInfo.ship_note maxLength in Wish's v3 spec (3.0.65)
REFUND_REASONS_BY_STATE = {
    "APPROVED": ["UNABLE_TO_SHIP", "MERCHANT_OUT_OF_STOCK", "INCOMPLETE_ORDER"],
    "SHIPPED": ["ITEM_RETURNED_TO_SENDER", "ITEM_IS_DAMAGED", "RECEIVED_WRONG_ITEM"],
}
CARRIERS = ["JapanPost", "YamatoTransport", "SagawaExpress", "UPS", "FedEx", "DHL", "USPS", "Other"]
_SORT = re.compile(r"^(updated_at|released_at)(\.(asc|desc))?$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_ALNUM = re.compile(r"^[A-Za-z0-9]+$")

# The fake's error codes.
BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, RATE_LIMITED = 1000, 1015, 1004, 1018


def order_number(order: dict) -> str:
    no = str(order.get("id") or "").strip()
    if not no:
        raise ValueError("the wish order object has no id")
    return no


def operation(request: FakeRequest) -> str:
    rest = _api(request.rest)
    if rest is None or not rest or rest[0] != "orders":
        return "other"
    if request.method == "GET":
        if rest == ["orders"]:
            return "list"
        return "other" if rest == ["orders", "shipping_carriers"] else "fetch"
    if request.method == "PUT" and len(rest) == 3:
        return {"tracking": "tracking", "refund": "cancel"}.get(rest[2], "other")
    return "other"


# ---------------------------------------------------------------------- test controls
def throttle(fake: FakeMarketplace, count: int = 1, reset_in: float = 1.0) -> None:
    """The next `count` requests answer 429 with Wish-Rate-Limit-Reset `reset_in` seconds ahead."""
    fake.state(MARKETPLACE)["throttle"] = {"count": count, "reset_in": reset_in}


def lose_answers(fake: FakeMarketplace, count: int = 1, delay: float = 1.0) -> None:
    """The next `count` PUTs are applied, then answered only after `delay` seconds."""
    fake.state(MARKETPLACE)["lose_answers"] = {"count": count, "delay": delay}


def answer_code(fake: FakeMarketplace, code: int, message: str, count: int = 1, status: int = 200) -> None:
    """The next `count` requests answer `status` with an envelope carrying error `code`."""
    fake.state(MARKETPLACE)["answer_code"] = {
        "count": count,
        "code": code,
        "message": message,
        "status": status,
    }


def offer_refund_reasons(fake: FakeMarketplace, order_no: str, reasons: list[str]) -> None:
    """The refund reasons refund_reasons lists for one order from now on."""
    fake.state(MARKETPLACE).setdefault("refund_reasons", {})[order_no] = list(reasons)


# ---------------------------------------------------------------------- serving
def handle(fake: FakeMarketplace, request: FakeRequest) -> Answer:
    auth = request.headers.get("authorization", "")
    token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
    if not fake.token_allowed(MARKETPLACE, token):
        return _error(401, UNAUTHORIZED, "the access token is missing, invalid or expired")
    throttled = fake.take_fault(MARKETPLACE, "throttle")
    if throttled is not None:
        reset = clock.iso(clock.now() + timedelta(seconds=throttled["reset_in"]))
        status, answer, _ = _error(429, RATE_LIMITED, "rate limit exceeded")
        return status, answer, {"Wish-Rate-Limit-Reset": reset}
    coded = fake.take_fault(MARKETPLACE, "answer_code")
    if coded is not None:
        return coded["status"], {"code": coded["code"], "message": coded["message"], "data": None}, {}
    rest = _api(request.rest)
    if rest is None or not rest or rest[0] != "orders":
        return _error(404, NOT_FOUND, "no such endpoint")
    if request.method == "GET" and rest == ["orders"]:
        return _list(fake, request.query)
    if request.method == "GET" and rest == ["orders", "shipping_carriers"]:
        return _ok([{"name": name} for name in CARRIERS])
    order = fake.get_order(MARKETPLACE, rest[1]) if len(rest) >= 2 else None
    if order is None:
        return _error(404, NOT_FOUND, f"no order with id {rest[1] if len(rest) > 1 else ''!r}")
    tail = rest[2:]
    if request.method == "GET" and not tail:
        return _ok(order)
    if request.method == "GET" and tail == ["refund_reasons"]:
        return _ok(_reasons(fake, order))
    if request.method == "PUT" and tail in (["tracking"], ["refund"]):
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return _error(400, BAD_REQUEST, "the body must be a JSON object")
        answer = (_ship if tail == ["tracking"] else _refund)(fake, order, body)
        if answer[0] == 200:
            lost = fake.take_fault(MARKETPLACE, "lose_answers")
            if lost is not None:
                time.sleep(lost["delay"])  # applied; the client has given up by now
        return answer
    return _error(404, NOT_FOUND, "no such endpoint")


def _api(rest: list[str]) -> list[str] | None:
    return rest[2:] if rest[:2] == ["api", "v3"] else None


def _ok(data: Any) -> Answer:
    return 200, {"code": 0, "message": "", "data": data}, {}


def _error(status: int, code: int, message: str) -> Answer:
    return status, {"code": code, "message": message, "data": None}, {}


def _instant(value: Any) -> datetime | None:
    try:
        dt = clock.parse_iso(str(value))
    except (TypeError, ValueError):
        return None
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def _list(fake: FakeMarketplace, query: dict[str, str]) -> Answer:
    sort = query.get("sort_by") or "updated_at.desc"
    match = _SORT.match(sort)
    try:
        limit = int(query.get("limit") or 50)
    except ValueError:
        limit = 0
    if match is None or not 1 <= limit <= 500:
        return _error(400, BAD_REQUEST, "sort_by must be updated_at|released_at[.asc|.desc]; limit 1..500")
    bounds: dict[str, tuple[datetime | None, datetime | None]] = {}
    for key in ("updated_at", "released_at"):
        low, high = query.get(f"{key}_min"), query.get(f"{key}_max")
        parsed = (_instant(low) if low else None, _instant(high) if high else None)
        if (low and parsed[0] is None) or (high and parsed[1] is None):
            return _error(400, BAD_REQUEST, f"{key}_min / {key}_max must be ISO 8601 times")
        bounds[key] = parsed
    key, descending = match.group(1), match.group(3) == "desc"
    found = []
    for order in fake.orders(MARKETPLACE):
        times = {k: _instant(order.get(k)) for k in bounds}
        if any(
            (low is not None and (times[k] is None or times[k] < low))
            or (high is not None and (times[k] is None or times[k] > high))
            for k, (low, high) in bounds.items()
        ):
            continue
        if times[key] is not None:
            found.append((times[key], str(order.get("id")), order))
    found.sort(key=lambda f: f[1], reverse=True)  # ties: ids descending (stable sort below)
    found.sort(key=lambda f: f[0], reverse=descending)
    return _ok([order for _t, _id, order in found[:limit]])


def _reasons(fake: FakeMarketplace, order: dict) -> list[str]:
    own = (fake.state(MARKETPLACE).get("refund_reasons") or {}).get(order["id"])
    if own is not None:
        return list(own)
    return list(REFUND_REASONS_BY_STATE.get(str(order.get("state") or "").upper(), []))


def _bumped(order: dict) -> str:
    """A new updated_at: now, and after the order's last one."""
    now = clock.now()
    last = _instant(order.get("updated_at"))
    if last is not None and last >= now:
        now = last + timedelta(milliseconds=1)
    return clock.iso(now)


def _ship(fake: FakeMarketplace, order: dict, body: dict) -> Answer:
    number, provider, origin = (
        body.get("tracking_number"),
        body.get("shipping_provider"),
        body.get("origin_country"),
    )
    if not all(isinstance(v, str) and v.strip() for v in (number, provider, origin)):
        return _error(400, BAD_REQUEST, "tracking_number, shipping_provider and origin_country are required")
    if not _ALNUM.match(number):
        return _error(400, BAD_REQUEST, "tracking_number must hold alphanumeric characters only")
    if not _COUNTRY.match(origin):
        return _error(400, BAD_REQUEST, "origin_country must be a 2-letter ISO 3166 code")
    note = body.get("ship_note")
    if note is not None and (not isinstance(note, str) or not 1 <= len(note) <= SHIP_NOTE_MAX_CHARS):
        return _error(400, BAD_REQUEST, f"ship_note must be text of 1 to {SHIP_NOTE_MAX_CHARS} characters")
    state = str(order.get("state") or "").upper()
    if state in NOT_SHIPPABLE:
        return _error(400, BAD_REQUEST, f"the order is {state} and cannot be shipped")
    shown = order.get("tracking_information") or []
    latest = shown[0] if shown and isinstance(shown[0], dict) else {}
    same = (
        latest.get("tracking_number") == number
        and (latest.get("shipping_provider") or {}).get("name") == provider
    )
    info = {
        "tracking_number": number,
        "shipping_provider": {"name": provider},
        "origin_country": origin.upper(),
    }
    if note is not None:
        info["ship_note"] = note
    if state == "SHIPPED" and same:
        if {**latest, **info} == latest:
            return _ok(order)
        sets = [{**latest, **info}, *shown[1:]]  # the same parcel: its set changed, no new one
    else:
        sets = [info, *shown][:2]
    now = _bumped(order)
    records = list(order.get("fulfillment_records") or [])
    if state == "APPROVED":
        records.append({"event_type": "MARK_SHIPPED", "event_time": now})
    order.update(
        state="SHIPPED",
        tracking_information=sets,
        fulfillment_records=records,
        processing_source="UPDATE_TRACKING",
        processing_status="SUCCEEDED",
        updated_at=now,
    )
    fake.replace_order(MARKETPLACE, order)
    entry = {
        "order_no": order["id"],
        "carrier": provider,
        "tracking_number": number,
        "origin_country": origin.upper(),
        "ship_note": note,
    }
    if state == "APPROVED":
        fake.record_fulfillment(MARKETPLACE, entry)
    else:
        fake.record_tracking(MARKETPLACE, entry)
    return _ok(order)


def _refund(fake: FakeMarketplace, order: dict, body: dict) -> Answer:
    state = str(order.get("state") or "").upper()
    if state in ("REFUNDED", "DECLINED"):
        return _error(400, BAD_REQUEST, f"the order is {state} and cannot be refunded")
    reason, note = body.get("refund_reason"), body.get("refund_reason_note")
    offered = _reasons(fake, order)
    if reason not in offered:
        return _error(
            400, BAD_REQUEST, f"refund_reason must be one of {json.dumps(offered)} for this order now"
        )
    if note is not None and (not isinstance(note, str) or not note):
        return _error(400, BAD_REQUEST, "refund_reason_note must be a non-empty string")
    now = _bumped(order)
    refund = {"refund_time": now, "refund_reason": reason, "refund_source": "MERCHANT"}
    if note:
        refund["refund_reason_note"] = note
    order.update(
        state="REFUNDED",
        refunds=[*(order.get("refunds") or []), refund],
        processing_source="REFUND",
        processing_status="SUCCEEDED",
        updated_at=now,
    )
    fake.replace_order(MARKETPLACE, order)
    fake.record_cancel(MARKETPLACE, {"order_no": order["id"], "reason": reason, "note": note})
    return _ok(order)
