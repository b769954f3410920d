"""Wish's order API: the Wish Marketplace API v3 (docs/connectors.md, ../shared/marketplaces.md §6).

`api_base_url` is Wish's host (https://merchant.wish.com, the sandbox
https://sandbox.merchant.wish.com, or the local cloud's fake); every call is under /api/v3 (not
added twice when the stored URL already ends with it). Header `Authorization: Bearer <api_token>`,
the merchant's OAuth access token. Refreshing that token is not done here: an expired token is
refused by Wish (401, `http_error`) until the merchant stores a new one.

    GET /api/v3/orders?updated_at_min=<iso>&sort_by=updated_at.asc&limit=<n>     the pull
    GET /api/v3/orders/{id}                                                       one order
    PUT /api/v3/orders/{id}/tracking  {tracking_number, shipping_provider, origin_country,
                                       ship_note?}          ship, or change the tracking
    GET /api/v3/orders/{id}/refund_reasons                      the reasons valid now
    PUT /api/v3/orders/{id}/refund    {refund_reason, refund_reason_note}       cancel = refund

Every answer is Wish's envelope `{code, message, data}`; `code` 0 is success. Another code, or an
answer that is not the envelope, is an `http_error` naming Wish's code and message (a refusal's
too, when the base hands over the 4xx body as `MarketplaceError.body`); HTTP statuses
map as the base does (404 `not_found`, 401 and other 4xx `http_error`, 5xx and 429 `unavailable`
after retries). A 429 waits for `Wish-Rate-Limit-Reset` (the time the limit resets; a number of
seconds, an epoch time or an ISO 8601 time) or `Retry-After`, up to the base's MAX_RETRY_AFTER.

The pull (list_changed): the orders changed at or after `since`, oldest change first, in pages
Wish bounds with `updated_at_min` (keyset paging: the spec's list has `limit`, the `*_min` /
`*_max` bounds of `updated_at` and `released_at`, `sort_by`, `states` and `order_type`; no page
number, offset or cursor). Orders can share an `updated_at`, so the page token (opaque to the pull)
carries the bound and the ids already returned *at* that bound: the next request starts at the
bound itself (inclusive), asks for `limit` more orders than it already holds there, and drops those
it holds; whatever order Wish lists ties in, an order at the bound is either held or among the
answer. Only when more orders share one `updated_at` than a request can hold (500) does this
stop moving; then the tie alone is read by `released_at` (updated_at_min = updated_at_max = the
bound, sort_by=released_at.asc) with the same keyset, and the pull goes on from one millisecond
after the tie (Wish's times are to the millisecond). Entering that mode reads the tie's orders
already returned once more: duplicates, never a gap. A tie that also shares its `released_at`
beyond 500 orders cannot be paged by anything the API offers and fails (`http_error`).

Wish's PUTs are asynchronous and carry no idempotency key. A PUT is sent once per attempt, never
repeated blindly: when it times out or fails with a 5xx (the change may have been applied) or a
4xx (it may already be so), the order is read (GET) and the call counts as done when the order
shows the change (the tracking number, provider, origin country and note in its latest
`tracking_information`, or `state` REFUNDED; after a timeout or a 5xx also when Wish's `processing_source` /
`processing_status` show that action IN_PROGRESS). Only when it does not is the PUT sent again
(5xx and timeouts, with the base's backoff; never after a 4xx, and a 401, 403 or 404 is not read
back). A 429 means nothing was applied: it is sent again after the wait without the read. When
the read fails too, the PUT's error stands and nothing is sent again.

A shipment always sends `origin_country`, which Wish requires: the shipment's when the caller
passes it (fulfill_order / update_tracking take it as an optional argument), else the
integration's setting `origin_country`, else JP. The shipment's note goes as `ship_note` ("a note
to yourself when you marked the order as shipped": the merchant's, not the buyer's), only when
there is one (Wish's UpdateTracking takes at least one character, so a note cleared in orderhub
stays at Wish); Wish's TrackingInfo holds at most SHIP_NOTE_MAX_CHARS (500), orderhub's own limit
(orderhub.domain.actions.MAX_NOTE_CHARS), which its API enforces before anything is stored: the
client's cut to that length is a guard only. The tracking number goes without spaces or
hyphens (Wish takes alphanumerics only). The carrier is Wish's provider name
(orderhub.marketplaces.wish.carriers). A cancel of an order Wish already shows refunded or
declined sends nothing. The refund reason is the first of REFUND_REASONS that Wish lists for the
order at that moment (the list changes over the order's life); the cancel reason goes to
`refund_reason_note`.

Orders are normalized by the Wish webhook adapter's code (orderhub.marketplaces.wish.webhook
normalize_order), with topic "updated".
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from orderhub.kernel import clock
from orderhub.marketplaces import client as base
from orderhub.marketplaces.client import MarketplaceClient, MarketplaceError, quote
from orderhub.marketplaces.wish import carriers

if TYPE_CHECKING:
    from orderhub.domain.models import OrderChange

API_PREFIX = "/api/v3"
MAX_LIMIT = 500  # the list's `limit` bounds are 1..500
DEFAULT_ORIGIN_COUNTRY = "JP"
SHIP_NOTE_MAX_CHARS = 500  # the spec's TrackingInfo.ship_note maxLength (UpdateTracking: minLength 1)
RATE_LIMIT_RESET_HEADER = "Wish-Rate-Limit-Reset"
# Refund reasons orderhub sends, in order of preference, among those Wish lists for the order.
REFUND_REASONS = ("UNABLE_TO_SHIP", "MERCHANT_OUT_OF_STOCK")
# States of an order Wish no longer asks to ship and will not refund (webhook.CANCELLED_STATES).
CLOSED_STATES = frozenset({"REFUNDED", "DECLINED", "CANCELLED"})
_MS = timedelta(milliseconds=1)
_SEPARATORS = re.compile(r"[\s\-]+")


class WishClient(MarketplaceClient):
    """Wish Marketplace API v3."""

    kind = "wish"
    pull_mode = "updated_since"
    page_limit = 100
    max_limit = MAX_LIMIT  # the most orders one request asks for (tests lower it)

    _wait_hint: float | None = None  # the last wait a 429 / 5xx asked for (retry_after)

    # ------------------------------------------------------------------ plumbing
    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential('api_token')}"}

    def retry_after(self, headers: Any) -> float | None:
        """Wish-Rate-Limit-Reset (the time the rate limit resets), else Retry-After."""
        value = headers.get(RATE_LIMIT_RESET_HEADER) if headers else None
        seconds = reset_seconds(value, clock.now())
        if seconds is None:
            seconds = super().retry_after(headers)
        self._wait_hint = seconds
        return seconds

    def request(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        """The base's call; a refusal whose body is Wish's envelope names Wish's code and message."""
        try:
            return super().request(method, path, **kw)
        except MarketplaceError as exc:
            body = getattr(exc, "body", None)
            if not isinstance(body, dict) or "code" not in body:
                raise
            message = str(body.get("message") or "").strip()[:300]
            named = self._error(exc.kind, exc.status, f"{exc.message}: Wish code {body['code']}: {message}")
            named.body = body
            raise named from None

    def _path(self, *segments: str) -> str:
        prefix = "" if self.base_url.endswith(API_PREFIX) else API_PREFIX
        return prefix + "".join("/" + quote(s) for s in segments)

    def _call(self, method: str, *segments: str, **kw: Any) -> Any:
        status, parsed = self.request(method, self._path(*segments), **kw)
        return self._data(method, "/".join(segments), status, parsed)

    def _data(self, method: str, what: str, status: int, parsed: Any) -> Any:
        """The `data` of Wish's envelope; an error code or another body is an http_error."""
        if not isinstance(parsed, dict) or ("code" not in parsed and "data" not in parsed):
            raise self._error("http_error", status, f"{method} {what}: the answer is not Wish's envelope")
        code = parsed.get("code", 0)
        if str(code).strip() != "0":
            message = str(parsed.get("message") or "").strip()[:300]
            raise self._error(
                "http_error", status, f"{method} {what}: Wish code {code}: {message}".rstrip(": ")
            )
        return parsed.get("data")

    # ------------------------------------------------------------------ one order
    def order_object(self, order_no: str) -> dict:
        """Wish's v3 order object (GET /api/v3/orders/{id})."""
        data = self._call("GET", "orders", order_no)
        if not isinstance(data, dict):
            raise self._error("http_error", 200, f"GET orders/{order_no}: data is not an order")
        if str(data.get("id") or "").strip() != order_no:
            raise self._error("http_error", 200, f"asked for order {order_no}, got {data.get('id')!r}")
        return data

    def to_change(self, raw: Any) -> OrderChange:
        from orderhub.marketplaces.wish import webhook as wish

        return wish.normalize_order(raw, "updated")

    def fetch_order(self, order_no: str) -> OrderChange:
        order = self.order_object(order_no)
        return self._normalize(lambda: self.to_change(order), 200)

    def carrier_name(self, carrier: str) -> str:
        return carriers.provider_name(carrier)

    # ------------------------------------------------------------------ pull
    def list_changed(
        self, since: datetime, page_token: str | None, limit: int
    ) -> tuple[list[Any], str | None]:
        """One page of the orders changed at or after `since`, oldest change first (the module
        docstring: keyset paging, ties on updated_at)."""
        limit = max(1, min(int(limit), self.max_limit))
        try:
            keys = Keyset.decode(page_token) if page_token else Keyset("updated_at", clock.iso(since))
        except (ValueError, TypeError, KeyError, AttributeError):  # the pull drops it and lists again
            raise self._error("http_error", None, "the page token is not one this client wrote") from None
        ask = min(self.max_limit, limit + len(keys.seen))
        data = self._call("GET", "orders", query=keys.query(ask))
        if not isinstance(data, list) or len(data) > ask:
            raise self._error("http_error", 200, f"GET orders: data is not a list of at most {ask} orders")
        fresh = [o for o in data if keys.is_new(o)]
        page = fresh[:limit]
        if len(data) < ask and len(fresh) <= limit:  # Wish had no more
            return page, (keys.after_tie().encode() if keys.within else None)
        following = keys.following(page)
        if following is None or (following.within is None and len(following.seen) >= self.max_limit):
            if keys.within is not None:
                raise self._error(
                    "http_error",
                    200,
                    f"more than {self.max_limit} orders share updated_at {keys.within} and released_at "
                    f"{keys.bound}: Wish's list cannot page past them",
                )
            following = Keyset("released_at", None, within=(following or keys).bound)
        return page, following.encode()

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
        """Ship the order. `origin_country` (the shipment's, when orderhub has it) wins over the
        integration's setting; `note` goes as `ship_note` when there is one."""
        self._ship(order_no, carrier, tracking_number, origin_country, note, look_first=False)

    def update_tracking(
        self,
        order_no: str,
        carrier: str,
        tracking_number: str,
        *,
        origin_country: str | None = None,
        note: str | None = None,
    ) -> None:
        """Wish keeps at most two sets of tracking: nothing is sent when the order's latest set
        already shows this one (number, provider, origin country and, when there is one, note).
        A change of the origin or the note alone is sent with the same number: how Wish applies
        such a PUT (the latest set changed, or a new set) is not documented."""
        self._ship(order_no, carrier, tracking_number, origin_country, note, look_first=True)

    def _ship(
        self,
        order_no: str,
        carrier: str,
        tracking_number: str,
        origin: str | None,
        note: str | None,
        *,
        look_first: bool,
    ) -> None:
        provider = self.carrier_name(carrier)
        tracking_number = _SEPARATORS.sub("", tracking_number or "")  # Wish: alphanumerics only
        origin = str(origin or self.settings.get("origin_country") or DEFAULT_ORIGIN_COUNTRY).strip().upper()
        body = {"tracking_number": tracking_number, "shipping_provider": provider, "origin_country": origin}
        ship_note = (note or "").strip()[:SHIP_NOTE_MAX_CHARS].strip()
        if ship_note:
            body["ship_note"] = ship_note

        def shows(order: dict) -> bool:
            return shows_tracking(order, provider, tracking_number, origin, ship_note or None)

        if look_first and shows(self.order_object(order_no)):
            return
        self._put(order_no, "tracking", body, shows, "UPDATE_TRACKING")

    def cancel_order(self, order_no: str, reason: str = "") -> None:
        """Refund the order with a reason Wish offers for it now (REFUND_REASONS)."""
        order = self.order_object(order_no)
        if _state(order) in CLOSED_STATES:
            return
        offered = self._call("GET", "orders", order_no, "refund_reasons")
        if not isinstance(offered, list):
            raise self._error("http_error", 200, f"GET orders/{order_no}/refund_reasons: data is not a list")
        names = [str(r).strip().upper() for r in offered if isinstance(r, str)]
        chosen = next((r for r in REFUND_REASONS if r in names), None)
        if chosen is None:
            raise self._error(
                "http_error",
                200,
                f"Wish offers none of {', '.join(REFUND_REASONS)} to refund order {order_no} now "
                f"(it offers {', '.join(names) or 'none'})",
            )
        body: dict[str, str] = {"refund_reason": chosen}
        note = (reason or "").strip()
        if note:
            body["refund_reason_note"] = note[:500]
        self._put(order_no, "refund", body, lambda o: _state(o) == "REFUNDED", "REFUND")

    def _put(self, order_no: str, action: str, body: dict, done: Callable[[dict], bool], source: str) -> None:
        """PUT /orders/{id}/{action}, one attempt at a time; after a failure the order is read to
        see whether the change took effect before anything is sent again (module docstring).
        `done` says whether an order shows the change; `source` is Wish's processing_source of
        the action, which counts as taking effect after a timeout or a 5xx (Wish accepted a PUT
        it is still applying) but not after a refusal (4xx)."""
        once = copy.copy(self)
        once.attempts = 1
        for attempt in range(1, self.attempts + 1):
            once._wait_hint = None
            try:
                status, parsed = once.request("PUT", self._path("orders", order_no, action), body=body)
                self._data("PUT", f"orders/{order_no}/{action}", status, parsed)
                return
            except MarketplaceError as exc:
                if exc.kind in ("not_found", "invalid_url") or exc.status in (401, 403):
                    raise
                if exc.status != 429:  # it may have been applied (or be so already): look first
                    pending = None if exc.kind == "http_error" else source
                    took = self._took_effect(order_no, done, pending)
                    if took:
                        return
                    if took is None:  # cannot tell: never send it again blindly
                        raise
                if exc.kind == "http_error" or attempt == self.attempts:  # a refusal is never resent
                    raise
            delay = self.backoff * 2 ** (attempt - 1)
            if once._wait_hint is not None:
                delay = max(delay, min(once._wait_hint, base.MAX_RETRY_AFTER))
            (self._sleep or base.sleep)(delay)

    def _took_effect(self, order_no: str, done: Callable[[dict], bool], pending: str | None) -> bool | None:
        """Whether the order shows the change (or, with `pending`, that action under way at Wish);
        None when it cannot be read."""
        try:
            order = self.order_object(order_no)
        except MarketplaceError:
            return None
        return done(order) or (pending is not None and in_progress(order, pending))


# ---------------------------------------------------------------------- pure helpers
def _state(order: Mapping[str, Any]) -> str:
    return str(order.get("state") or "").strip().upper()


def shows_tracking(
    order: Mapping[str, Any],
    provider: str,
    tracking_number: str,
    origin_country: str | None = None,
    ship_note: str | None = None,
) -> bool:
    """Whether the order's latest tracking (tracking_information is newest first) is this one: its
    number and provider, and the origin country and note when given (a note not given is not
    compared: Wish cannot be sent an empty one)."""
    infos = order.get("tracking_information")
    latest = infos[0] if isinstance(infos, list) and infos and isinstance(infos[0], dict) else None
    if latest is None or str(latest.get("tracking_number") or "").strip() != tracking_number.strip():
        return False
    if origin_country and str(latest.get("origin_country") or "").strip().upper() != origin_country.upper():
        return False
    if ship_note and str(latest.get("ship_note") or "").strip() != ship_note.strip():
        return False
    shown = latest.get("shipping_provider")
    name = shown.get("name") if isinstance(shown, dict) else shown
    return carriers.same_provider(str(name or ""), provider)


def in_progress(order: Mapping[str, Any], source: str) -> bool:
    """Whether Wish shows an asynchronous `source` action (UPDATE_TRACKING, REFUND) under way."""
    return (
        str(order.get("processing_source") or "").upper() == source
        and str(order.get("processing_status") or "").upper() == "IN_PROGRESS"
    )


def reset_seconds(value: Any, now: datetime) -> float | None:
    """Seconds from `now` until a Wish-Rate-Limit-Reset value: a number (seconds to wait, or an
    epoch time when it is that large) or an ISO 8601 time; None when absent or unreadable."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        try:
            at = clock.parse_iso(text)
        except ValueError:
            return None
        return max(0.0, (at - now).total_seconds())
    if number != number or number in (float("inf"), float("-inf")):
        return None
    if number > 1_000_000_000:  # an epoch time (seconds, or milliseconds)
        epoch = number / 1000 if number > 1_000_000_000_000 else number
        return max(0.0, epoch - now.timestamp())
    return max(0.0, number)


def _instant(value: Any) -> datetime | None:
    try:
        return clock.parse_iso(value) if isinstance(value, str) and value.strip() else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Keyset:
    """Where the next page of Wish's order list starts: orders whose `key` (updated_at, or
    released_at within one updated_at tie) is at or after `bound`, less the ids in `seen` (those
    already returned *at* the bound). The page token is this, as URL-safe base64 of JSON."""

    key: str
    bound: str | None  # ISO 8601 to the millisecond; None: from the first (a tie's start)
    seen: tuple[str, ...] = ()
    within: str | None = None  # the updated_at of the tie being read by released_at

    def query(self, limit: int) -> dict[str, str]:
        query = {"sort_by": f"{self.key}.asc", "limit": str(limit)}
        if self.within is not None:
            query.update(updated_at_min=self.within, updated_at_max=self.within)
        if self.bound is not None:
            query[f"{self.key}_min"] = self.bound
        return query

    def _at(self, order: Any) -> tuple[datetime | None, str]:
        if not isinstance(order, dict):
            return None, ""
        return _instant(order.get(self.key)), str(order.get("id") or "").strip()

    def is_new(self, order: Any) -> bool:
        """Not already returned: after the bound, or at it and not seen. An order whose key or
        id cannot be read is kept (the pull quarantines what does not parse)."""
        at, oid = self._at(order)
        bound = _instant(self.bound)
        if at is None or not oid or bound is None:
            return True
        at, bound = _floor_ms(at), _floor_ms(bound)
        return at > bound or (at == bound and oid not in self.seen)

    def following(self, page: list[Any]) -> Keyset | None:
        """The keyset after `page` (in Wish's order): the last readable key, and the ids at it;
        None when no order of the page can be placed."""
        placed = [(at, oid) for at, oid in map(self._at, page) if at is not None and oid]
        if not placed:
            return None
        last = max(_floor_ms(at) for at, _oid in placed)
        at_last = tuple(oid for at, oid in placed if _floor_ms(at) == last)
        bound = clock.iso(last)
        seen = tuple(dict.fromkeys((*self.seen, *at_last))) if bound == self.bound else at_last
        return Keyset(self.key, bound, seen, self.within)

    def after_tie(self) -> Keyset:
        """Back to updated_at, one millisecond after the tie just read."""
        assert self.within is not None
        return Keyset("updated_at", clock.iso(clock.parse_iso(self.within) + _MS))

    def encode(self) -> str:
        raw = json.dumps(
            {"k": self.key, "b": self.bound, "s": list(self.seen), "w": self.within}, separators=(",", ":")
        )
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Keyset:
        """ValueError (or TypeError) for a token this class did not write."""
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        keys = cls(raw["k"], raw.get("b"), tuple(str(i) for i in raw.get("s") or ()), raw.get("w"))
        if keys.key not in ("updated_at", "released_at") or not all(
            v is None or clock.parse_iso(v) for v in (keys.bound, keys.within)
        ):
            raise ValueError("not a Wish page token")
        return keys


def _floor_ms(dt: datetime) -> datetime:
    dt = dt.astimezone(UTC)
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)
