"""Outbound calls to a marketplace's order API: fetch an order, cancel it, send or change its tracking.

One client per marketplace kind; the base URL and token come from the merchant profile:

    profile["integrations"][marketplace] = {
        "api_base_url": "https://shop.example.com",   # no client without it
        "api_token": "...",                           # secret: sent as a header, never logged
        "reflect_cancel_to_marketplace": true,        # orderhub.sync.reflect
        ...                                           # ingestion settings (hold_minutes...)
    }

Kinds (by marketplace name):
- shopify: Shopify's REST Admin API (version API_VERSION), header X-Shopify-Access-Token.
    GET  {base}/admin/api/{v}/orders.json?name=<no>&status=any        -> {"orders": [<order>...]}
    POST {base}/admin/api/{v}/orders/{id}/cancel.json                  {"reason": "other", "email": false}
    GET  {base}/admin/api/{v}/orders/{id}/fulfillment_orders.json      -> {"fulfillment_orders": [...]}
    POST {base}/admin/api/{v}/fulfillments.json                        {"fulfillment": {...}}
    GET  {base}/admin/api/{v}/orders/{id}/fulfillments.json            -> {"fulfillments": [...]}
    POST {base}/admin/api/{v}/fulfillments/{fid}/update_tracking.json
         {"fulfillment": {"tracking_info": {"number": "...", "company": "..."}, "notify_customer": false}}
  The order number is Shopify's `order_number` (what the webhooks store); of the orders the
  name search returns, only the one whose number is exactly it counts. A fulfillment posts the
  order's open fulfillment orders. A tracking change goes to the order's latest fulfillment in
  effect (highest id whose status is not cancelled, error or failure); nothing is posted when it
  already carries that company and number, and an order with no such fulfillment is fulfilled
  instead. `tracking_info.company` is Shopify's tracking company name for orderhub's carrier code
  (SHOPIFY_TRACKING_COMPANIES: "yamato" -> "Yamato (JA)"...); any other value is sent as is.
- every other marketplace (wish, rakuten, qoo10...): the orderhub marketplace protocol,
  header `Authorization: Bearer <token>`:
    GET  {base}/orders/{no}                 -> 200 {"order": <order object>}   (404 unknown)
    POST {base}/orders/{no}/cancel          {"reason": "..."}  -> 200 {"order": ...}
    POST {base}/orders/{no}/fulfillments    {"carrier": "...", "tracking_number": "..."} -> 201
    PUT  {base}/orders/{no}/fulfillments/tracking
                                            {"carrier": "...", "tracking_number": "..."} -> 200
  The order object is the marketplace's own format where orderhub has an adapter for it (Wish:
  the v3 order object) and otherwise the `order` object of the generic webhook format
  (docs/schemas/generic-webhook.schema.json). `carrier` is orderhub's carrier code as is
  (japan_post, yamato, sagawa, ups, fedex, dhl, usps, other). The PUT replaces the tracking of
  the order's fulfillment (the marketplace creates the fulfillment when the order has none yet).
  POSTs and PUTs carry `Idempotency-Key` (same key on every retry of one call), and a cancel of
  an already cancelled order answers 200. The POSTs' key follows from what they send; the
  tracking PUT's is new for every call (a PUT is idempotent by itself, and a key derived from
  the tracking would make a change back to an earlier one, A -> B -> A, look like a repeat).

Fetched orders are normalized by the same adapter code as the webhooks, with topic "updated"
(a cancelled order still carries its cancelled_at, so the domain sees the cancel).

Every request: timeout TIMEOUT_SECONDS, up to ATTEMPTS attempts; timeouts, connection errors,
5xx and 429 are retried after BACKOFF_SECONDS * 2**n (Retry-After honoured up to
MAX_RETRY_AFTER); other 4xx are not retried. Errors are `MarketplaceError(kind, status)`:
  not_found    404 (or no order with that number in a search)
  http_error   any other 4xx, or a 2xx whose body is not the expected JSON / order
  timeout      the last attempt timed out
  unavailable  the last attempt got a 5xx/429 or could not connect
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from orderhub.kernel import clock
from orderhub.kernel.errors import MalformedPayload
from orderhub.merchants import profiles

if TYPE_CHECKING:
    from orderhub.domain.models import OrderChange

logger = Logger(child=True)

API_VERSION = "2024-10"
TIMEOUT_SECONDS = 5.0
ATTEMPTS = 3
BACKOFF_SECONDS = 0.25
MAX_RETRY_AFTER = 2.0
USER_AGENT = "orderhub/1.0"
ERROR_KINDS = ("http_error", "timeout", "not_found", "unavailable")

# orderhub's carrier codes (the caller validates them; the clients pass anything else through).
CARRIER_CODES = ("japan_post", "yamato", "sagawa", "ups", "fedex", "dhl", "usps", "other")

# Shopify's tracking company names for them (Shopify builds tracking URLs for its supported names).
SHOPIFY_TRACKING_COMPANIES: dict[str, str] = {
    "japan_post": "Japan Post (JA)",
    "yamato": "Yamato (JA)",
    "sagawa": "Sagawa (JA)",
    "ups": "UPS",
    "fedex": "FedEx",
    "dhl": "DHL Express",
    "usps": "USPS",
    "other": "Other",
}

# Shopify fulfillment statuses of a fulfillment that is not (or no longer) in effect.
_DEAD_FULFILLMENT_STATUSES = ("cancelled", "error", "failure")


def _default_sleep(seconds: float) -> None:
    time.sleep(seconds)


# The pause between attempts; tests replace it (module attribute, read at every retry).
sleep: Callable[[float], None] = _default_sleep


class MarketplaceError(Exception):
    """A marketplace call failed (after retries where retrying made sense)."""

    def __init__(self, kind: str, status: int | None = None, message: str = "", *, marketplace: str = ""):
        assert kind in ERROR_KINDS, kind
        self.kind = kind
        self.status = status
        self.marketplace = marketplace
        self.message = message or kind
        super().__init__(f"{marketplace or 'marketplace'}: {kind}" + (f" ({status})" if status else ""))

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"kind": self.kind, "message": self.message, "marketplace": self.marketplace}
        if self.status is not None:
            out["status"] = self.status
        return out


class _Retryable(Exception):
    def __init__(self, error: MarketplaceError, retry_after: float | None = None):
        self.error = error
        self.retry_after = retry_after


def integration(merchant_id: str, marketplace: str) -> dict:
    """The merchant's integration settings for a marketplace ({} when none)."""
    profile = profiles.get_profile(merchant_id) or {}
    raw = (profile.get("integrations") or {}).get(marketplace) or {}
    return raw if isinstance(raw, dict) else {}


def client_for(merchant_id: str, marketplace: str) -> MarketplaceClient | None:
    """The API client of a merchant's marketplace integration; None without an api_base_url."""
    settings = integration(merchant_id, marketplace)
    base_url = str(settings.get("api_base_url") or "").strip()
    if not base_url:
        return None
    if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
        logger.warning("api_base_url is not http(s); no client", extra={"marketplace": marketplace})
        return None
    cls = CLIENTS.get(marketplace, GenericClient)
    return cls(marketplace, base_url, str(settings.get("api_token") or ""))


class MarketplaceClient:
    """Base: the HTTP round trip, retries and error mapping. Subclasses speak one protocol."""

    kind = "base"

    def __init__(
        self,
        marketplace: str,
        base_url: str,
        token: str,
        *,
        timeout: float | None = None,
        attempts: int | None = None,
        backoff: float | None = None,
        sleep: Callable[[float], None] | None = None,
    ):
        self.marketplace = marketplace
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = TIMEOUT_SECONDS if timeout is None else timeout
        self.attempts = max(1, ATTEMPTS if attempts is None else attempts)
        self.backoff = BACKOFF_SECONDS if backoff is None else backoff
        self._sleep = sleep

    def __repr__(self) -> str:  # never shows the token
        return f"<{type(self).__name__} {self.marketplace} {self.base_url}>"

    # ------------------------------------------------------------------ interface
    def fetch_order(self, order_no: str) -> OrderChange:
        raise NotImplementedError

    def fetch_for_relink(self, order_no: str) -> tuple[OrderChange, bool | None]:
        """The current order and whether its shipping has started (None: the format cannot tell)."""
        return self.fetch_order(order_no), None

    def cancel_order(self, order_no: str, reason: str = "") -> None:
        raise NotImplementedError

    def fulfill_order(self, order_no: str, carrier: str, tracking_number: str) -> None:
        raise NotImplementedError

    def update_tracking(self, order_no: str, carrier: str, tracking_number: str) -> None:
        """Change the tracking of an order already fulfilled on the marketplace."""
        raise NotImplementedError

    def carrier_name(self, carrier: str) -> str:
        """What the marketplace calls an orderhub carrier code (by default the code itself)."""
        return carrier

    # ------------------------------------------------------------------ plumbing
    def _auth_headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _error(self, kind: str, status: int | None, message: str) -> MarketplaceError:
        return MarketplaceError(kind, status, message, marketplace=self.marketplace)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One call with retries; (status, parsed JSON body or None). Raises MarketplaceError."""
        url = self.base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Accept": "application/json", "User-Agent": USER_AGENT, **self._auth_headers()}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        for attempt in range(1, self.attempts + 1):
            started = time.monotonic()
            try:
                status, parsed = self._once(method, url, data, hdrs)
                logger.debug(
                    "marketplace call",
                    extra={"marketplace": self.marketplace, "method": method, "path": path, "status": status},
                )
                return status, parsed
            except _Retryable as retry:
                logger.info(
                    "marketplace call failed",
                    extra={
                        "marketplace": self.marketplace,
                        "method": method,
                        "path": path,
                        "attempt": attempt,
                        "kind": retry.error.kind,
                        "status": retry.error.status,
                        "ms": int((time.monotonic() - started) * 1000),
                    },
                )
                if attempt == self.attempts:
                    raise retry.error from None
                delay = self.backoff * 2 ** (attempt - 1)
                if retry.retry_after is not None:
                    delay = max(delay, min(retry.retry_after, MAX_RETRY_AFTER))
                (self._sleep or sleep)(delay)
        raise AssertionError("unreachable")

    def _once(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, Any]:
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 http(s)
        path = urllib.parse.urlsplit(url).path
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 http(s) only
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status = err.code
            try:
                err.read()
            except (OSError, ValueError):
                pass
            finally:
                err.close()
            message = f"{method} {path} answered {status}"
            if status == 404:
                raise self._error("not_found", 404, message) from None
            if status >= 500 or status == 429:
                raise _Retryable(self._error("unavailable", status, message), _retry_after(err)) from None
            raise self._error("http_error", status, message) from None
        except TimeoutError as exc:
            raise _Retryable(self._error("timeout", None, f"{method} {path} timed out")) from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise _Retryable(self._error("timeout", None, f"{method} {path} timed out")) from exc
            raise _Retryable(
                self._error("unavailable", None, f"{method} {path}: {type(exc.reason).__name__}")
            ) from exc
        except (OSError, http.client.HTTPException) as exc:  # reset, closed without an answer...
            error = self._error("unavailable", None, f"{method} {path}: {type(exc).__name__}")
            raise _Retryable(error) from exc
        if not raw.strip():
            return status, None
        try:
            return status, json.loads(raw, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            raise self._error("http_error", status, f"{method} {path}: the body is not JSON") from None

    def _expect_object(self, parsed: Any, key: str, status: int) -> dict:
        value = parsed.get(key) if isinstance(parsed, dict) else None
        if not isinstance(value, dict):
            raise self._error("http_error", status, f"the answer has no {key!r} object")
        return value

    def _normalize(self, build: Callable[[], OrderChange], status: int) -> OrderChange:
        try:
            return build()
        except MalformedPayload as exc:
            raise self._error(
                "http_error", status, f"the marketplace's order does not parse: {exc.message}"
            ) from None


def _retry_after(err: urllib.error.HTTPError) -> float | None:
    value = (err.headers.get("Retry-After") if err.headers else None) or ""
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _quote(order_no: str) -> str:
    return urllib.parse.quote(order_no, safe="")


# ---------------------------------------------------------------------- Shopify
class ShopifyClient(MarketplaceClient):
    kind = "shopify"

    def _auth_headers(self) -> dict[str, str]:
        return {"X-Shopify-Access-Token": self._token}

    def _admin(self, rest: str) -> str:
        return f"/admin/api/{API_VERSION}/{rest}"

    def find_order(self, order_no: str) -> dict:
        """The Shopify order object whose order number is exactly `order_no`."""
        status, parsed = self.request(
            "GET", self._admin("orders.json"), query={"name": order_no, "status": "any"}
        )
        found = parsed.get("orders") if isinstance(parsed, dict) else None
        if not isinstance(found, list):
            raise self._error("http_error", status, "the answer has no 'orders' list")
        for order in found:
            if not isinstance(order, dict):
                continue
            number = str(order.get("order_number") or "").strip()
            name = str(order.get("name") or "").strip().lstrip("#").strip()
            if number == order_no or (not number and name == order_no):
                return order
        raise self._error("not_found", status, f"no order {order_no} in the shop")

    def _order_id(self, order: dict, status: int = 200) -> str:
        oid = order.get("id")
        if isinstance(oid, bool) or not isinstance(oid, int | str) or not str(oid).strip():
            raise self._error("http_error", status, "the order has no id")
        return _quote(str(oid))

    def fetch_order(self, order_no: str) -> OrderChange:
        from orderhub.marketplaces.shopify import webhook as shopify

        order = self.find_order(order_no)
        return self._normalize(lambda: shopify.normalize_order(order, "updated"), 200)

    def fetch_for_relink(self, order_no: str) -> tuple[OrderChange, bool | None]:
        from orderhub.marketplaces.shopify import webhook as shopify

        order = self.find_order(order_no)
        change = self._normalize(lambda: shopify.normalize_order(order, "updated"), 200)
        return change, str(order.get("fulfillment_status") or "").lower() in ("fulfilled", "partial")

    def cancel_order(self, order_no: str, reason: str = "") -> None:
        order = self.find_order(order_no)
        if order.get("cancelled_at"):
            return  # already cancelled (an earlier attempt, or at the shop): nothing to send
        path = self._admin(f"orders/{self._order_id(order)}/cancel.json")
        try:
            self.request("POST", path, body={"reason": "other", "email": False})
        except MarketplaceError as exc:
            # Shopify refuses to cancel a cancelled order (422): a retried POST whose first try
            # went through ends here; the order's state says whether the cancel stands.
            if exc.kind != "http_error" or exc.status != 422:
                raise
            if self.find_order(order_no).get("cancelled_at"):
                return
            raise

    def carrier_name(self, carrier: str) -> str:
        return SHOPIFY_TRACKING_COMPANIES.get(carrier, carrier)

    def fulfill_order(self, order_no: str, carrier: str, tracking_number: str) -> None:
        self._fulfill(self.find_order(order_no), order_no, carrier, tracking_number)

    def update_tracking(self, order_no: str, carrier: str, tracking_number: str) -> None:
        order = self.find_order(order_no)
        path = self._admin(f"orders/{self._order_id(order)}/fulfillments.json")
        status, parsed = self.request("GET", path)
        found = parsed.get("fulfillments") if isinstance(parsed, dict) else None
        if not isinstance(found, list):
            raise self._error("http_error", status, "the answer has no 'fulfillments' list")
        current = _latest_fulfillment(found)
        if current is None:  # not fulfilled at the shop yet: the tracking goes with a fulfillment
            self._fulfill(order, order_no, carrier, tracking_number)
            return
        company = self.carrier_name(carrier)
        if current.get("tracking_company") == company and current.get("tracking_number") == tracking_number:
            return  # already so (an earlier attempt, or changed at the shop): nothing to send
        body = {
            "fulfillment": {
                "tracking_info": {"number": tracking_number, "company": company},
                "notify_customer": False,
            }
        }
        fid = _quote(str(current["id"]))
        self.request("POST", self._admin(f"fulfillments/{fid}/update_tracking.json"), body=body)

    def _fulfill(self, order: dict, order_no: str, carrier: str, tracking_number: str) -> None:
        path = self._admin(f"orders/{self._order_id(order)}/fulfillment_orders.json")
        status, parsed = self.request("GET", path)
        fos = parsed.get("fulfillment_orders") if isinstance(parsed, dict) else None
        if not isinstance(fos, list):
            raise self._error("http_error", status, "the answer has no 'fulfillment_orders' list")
        open_ids = [
            fo["id"]
            for fo in fos
            if isinstance(fo, dict)
            and fo.get("id") is not None
            and fo.get("status") in ("open", "in_progress")
        ]
        if not open_ids:
            raise self._error("http_error", 422, f"order {order_no} has no open fulfillment order")
        body = {
            "fulfillment": {
                "line_items_by_fulfillment_order": [{"fulfillment_order_id": i} for i in open_ids],
                "tracking_info": {"company": self.carrier_name(carrier), "number": tracking_number},
                "notify_customer": False,
            }
        }
        self.request("POST", self._admin("fulfillments.json"), body=body)


def _latest_fulfillment(fulfillments: list) -> dict | None:
    """The fulfillment in effect with the highest id (Shopify's ids grow), the later listed on a tie."""
    best: tuple[tuple[int, int], dict] | None = None
    for index, f in enumerate(fulfillments):
        if not isinstance(f, dict) or str(f.get("status") or "").lower() in _DEAD_FULFILLMENT_STATUSES:
            continue
        fid = f.get("id")
        if isinstance(fid, bool) or not isinstance(fid, int | str) or not str(fid).strip():
            continue
        try:
            rank = int(str(fid).strip())
        except ValueError:
            rank = -1
        if best is None or (rank, index) >= best[0]:
            best = ((rank, index), f)
    return best[1] if best else None


# ---------------------------------------------------------------------- orderhub protocol
class GenericClient(MarketplaceClient):
    """The orderhub marketplace protocol with the generic format's order object."""

    kind = "generic"

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def _idempotency_key(self, *parts: str) -> str:
        digest = hashlib.sha256("\x1f".join((self.marketplace, *parts)).encode()).hexdigest()
        return digest[:40]

    def get_order_object(self, order_no: str) -> tuple[int, dict]:
        status, parsed = self.request("GET", f"/orders/{_quote(order_no)}")
        return status, self._expect_object(parsed, "order", status)

    def to_change(self, order: dict) -> OrderChange:
        from pydantic import ValidationError

        from orderhub.marketplaces.common import path
        from orderhub.marketplaces.generic import webhook as generic

        event = {
            "event_id": f"fetch-{self.marketplace}",
            "type": "order.updated",
            "marketplace": self.marketplace,
            "occurred_at": clock.iso(clock.now()),
            "order": order,
        }
        try:
            parsed = generic.GenericEvent.model_validate(event)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = path(*err["loc"]) if err.get("loc") else "order"
            raise MalformedPayload(f"{field}: {err['msg']}", field=field) from None
        return generic.to_change(parsed)

    def fetch_order(self, order_no: str) -> OrderChange:
        status, order = self.get_order_object(order_no)
        change = self._normalize(lambda: self.to_change(order), status)
        if change.marketplace_order_no != order_no:
            got = change.marketplace_order_no
            raise self._error("http_error", status, f"asked for order {order_no}, got {got}")
        return change

    def cancel_order(self, order_no: str, reason: str = "") -> None:
        self.request(
            "POST",
            f"/orders/{_quote(order_no)}/cancel",
            body={"reason": reason or ""},
            headers={"Idempotency-Key": self._idempotency_key("cancel", order_no)},
        )

    def fulfill_order(self, order_no: str, carrier: str, tracking_number: str) -> None:
        self.request(
            "POST",
            f"/orders/{_quote(order_no)}/fulfillments",
            body={"carrier": carrier, "tracking_number": tracking_number},
            headers={"Idempotency-Key": self._idempotency_key("fulfill", order_no, carrier, tracking_number)},
        )

    def update_tracking(self, order_no: str, carrier: str, tracking_number: str) -> None:
        self.request(
            "PUT",
            f"/orders/{_quote(order_no)}/fulfillments/tracking",
            body={"carrier": carrier, "tracking_number": tracking_number},
            headers={"Idempotency-Key": self._idempotency_key("tracking", order_no, uuid.uuid4().hex)},
        )


class WishClient(GenericClient):
    """The orderhub marketplace protocol carrying Wish's v3 order object."""

    kind = "wish"

    def to_change(self, order: dict) -> OrderChange:
        from orderhub.marketplaces.wish import webhook as wish

        return wish.normalize_order(order, "updated")


CLIENTS: dict[str, type[MarketplaceClient]] = {"shopify": ShopifyClient, "wish": WishClient}
