"""A fake marketplace API for the local cloud and tests: what the marketplace API clients call
(orderhub.marketplaces.<name>.client).

One HTTP server on 127.0.0.1 (a free port) serves every marketplace under its own prefix:

    {url}/shopify/admin/api/<version>/orders.json?name=<no>&status=any      Shopify REST (subset)
    {url}/shopify/admin/api/<version>/orders/<id>.json
    {url}/shopify/admin/api/<version>/orders/<id>/cancel.json               POST
    {url}/shopify/admin/api/<version>/orders/<id>/fulfillment_orders.json
    {url}/shopify/admin/api/<version>/fulfillments.json                     POST
    {url}/shopify/admin/api/<version>/orders/<id>/fulfillments.json         the order's fulfillments
    {url}/shopify/admin/api/<version>/fulfillments/<fid>/update_tracking.json   POST
    {url}/<marketplace>/orders?updated_since=<iso>&limit=<n>&page_token=<t>  orderhub protocol: the pull
    {url}/<marketplace>/orders/<no>                                         orderhub protocol
    {url}/<marketplace>/orders/<no>/cancel                                  POST
    {url}/<marketplace>/orders/<no>/fulfillments                            POST
    {url}/<marketplace>/orders/<no>/fulfillments/tracking                   PUT
    {url}/amazon/..., /rakuten/..., /qoo10/..., /wish/...    each marketplace's own documented
                      protocol, served by orderhub.marketplaces.<name>.fake (docs/connectors.md)

Orders are kept in memory per marketplace and order number, each as an order object in that
marketplace's format (Shopify order, the generic format's `order`, or the format a fake
module keeps: an Amazon order with its items, a Rakuten OrderModel, Qoo10 rows, a Wish v3 order). Every
marketplace request needs a token (`X-Shopify-Access-Token` for Shopify, `Authorization:
Bearer` otherwise): 401 without one, or with one other than the tokens set by
`require_token`. Every request is recorded; received cancels, fulfillments and tracking updates
are also kept in their own lists (a repeated `Idempotency-Key` is recorded once).

A Shopify fulfillment is kept in the order's `fulfillments` (status "success", with the
`origin_address` it was given); update_tracking changes its tracking_company / tracking_number
(422 for a cancelled fulfillment). The protocol's tracking PUT answers 200 for any order that is
not cancelled (409), fulfilled here or not. Every recorded fulfillment and tracking change holds
what the marketplace received: order_no, carrier, tracking_number, and origin_country and note
(None when not sent; Shopify: `origin_address.country_code` and the fulfillment's `message`;
Wish: `ship_note`, orderhub.marketplaces.wish.fake). A protocol shipment whose origin_country is
not two letters, or whose note is not text of 1 to 500 characters, is refused (400); so is a
Shopify origin_address without a country_code.

Control (for tests and for trying things by hand):

    POST {url}/_control/orders/<marketplace>   body: an order object -> 201 {"order_no": ...}
    GET  {url}/_control/orders/<marketplace>/<no>
    POST {url}/_control/fail   {"marketplace": "shopify", "mode": "error"|"timeout"|"not_found",
                                "count": 1 (-1: until reset), "operation": "list"|"fetch"|
                                "cancel"|"fulfill"|"tracking" (optional), "status": 503 (error),
                                "retry_after": 2 (error), "delay": 6.0 (timeout)}
    POST {url}/_control/reset  forget orders, failures, calls and required tokens
    GET  {url}/_control/calls  {"calls": [...], "cancels": [...], "fulfillments": [...],
                                "tracking_updates": [...]}

Operations (each request has one, in its recorded call): "list" the pull's list of changed
orders; "cancel" the cancel POSTs; "fulfill"
Shopify's fulfillment_orders.json GET and fulfillments.json POST, and the protocol's fulfillments
POST; "tracking" Shopify's orders/<id>/fulfillments.json GET and update_tracking.json POST, and
the protocol's fulfillments/tracking PUT; "fetch" any other GET (among them the order search
every Shopify cancel, fulfillment and tracking change starts with); "other" the rest.

The same operations are methods of `FakeMarketplace` (put_order, fail, reset, calls...).
"""

from __future__ import annotations

import copy
import importlib
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from localcloud.serving import serve_in_thread

log = logging.getLogger("localcloud.fake_marketplace")

FAIL_MODES = ("error", "timeout", "not_found")
OPERATIONS = ("list", "fetch", "cancel", "fulfill", "tracking")
# Marketplaces whose documented protocol is served by their own folder's fake
# (orderhub.marketplaces.<name>.fake, docs/connectors.md "The fake server").
PROTOCOL_FAKES = ("amazon", "rakuten", "qoo10", "wish")
DEFAULT_TIMEOUT_DELAY = 6.0  # longer than the client's 5 s timeout
MAX_BODY_BYTES = 1024 * 1024
MAX_NOTE_CHARS = 500  # a shipment's note in the orderhub protocol (docs/orders.md)


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return int(o) if o == o.to_integral_value() else float(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


@dataclass(frozen=True)
class FakeRequest:
    """One request to a marketplace's fake module (docs/connectors.md)."""

    marketplace: str
    method: str
    rest: list[str]  # the path's segments after /<marketplace>, percent-decoded
    query: dict[str, str]  # name -> last value
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    def json(self) -> Any:
        """The body as JSON (None when empty); ValueError when it is not JSON."""
        return json.loads(self.body, parse_float=Decimal) if self.body.strip() else None

    def form(self) -> dict[str, str]:
        """The body as application/x-www-form-urlencoded (name -> last value)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}


def fake_module(marketplace: str) -> Any:
    """The fake module of a marketplace that has one (PROTOCOL_FAKES), else None."""
    if marketplace not in PROTOCOL_FAKES:
        return None
    return importlib.import_module(f"orderhub.marketplaces.{marketplace}.fake")


def order_number(marketplace: str, order: dict) -> str:
    """The order number orderhub knows an order object by (as the webhook adapters read it)."""
    module = fake_module(marketplace)
    if module is not None:
        return module.order_number(order)
    if marketplace == "shopify":
        no = str(order.get("order_number") or "").strip() or str(order.get("name") or "").lstrip("#").strip()
    else:
        no = str(order.get("order_no") or "").strip()
    if not no:
        field = "order_number" if marketplace == "shopify" else "order_no"
        raise ValueError(f"the {marketplace} order object has no {field}")
    return no


class _Failure:
    def __init__(
        self,
        mode: str,
        count: int,
        operation: str | None,
        status: int,
        delay: float,
        retry_after: float | None,
    ):
        self.mode, self.count, self.operation, self.status, self.delay = mode, count, operation, status, delay
        self.retry_after = retry_after


class FakeMarketplace:
    """The fake marketplace server. `with FakeMarketplace() as fake: fake.url ...`"""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._orders: dict[tuple[str, str], dict] = {}
        self._failures: dict[str, _Failure] = {}
        self._tokens: dict[str, set[str]] = {}
        self._calls: list[dict] = []
        self._cancels: list[dict] = []
        self._fulfillments: list[dict] = []
        self._tracking_updates: list[dict] = []
        self._idempotency: set[tuple[str, str]] = set()
        self._state: dict[str, dict] = {}
        self._next_id = 6100000000001
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def base_url(self, marketplace: str) -> str:
        """What a merchant's integration puts in api_base_url for this marketplace."""
        return f"{self.url}/{marketplace}"

    def start(self) -> FakeMarketplace:
        if self._thread is None:
            self._thread = serve_in_thread(self._server, "fake-marketplace")
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes requests held by a "timeout" failure
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeMarketplace:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ Python control API
    def put_order(self, marketplace: str, order: dict) -> str:
        """Store (or replace) an order object; returns its order number. A Shopify order
        without an `id` gets one."""
        order = copy.deepcopy(order)
        no = order_number(marketplace, order)
        with self._lock:
            if marketplace == "shopify" and not order.get("id"):
                old = self._orders.get((marketplace, no))
                order["id"] = old["id"] if old and old.get("id") else self._new_id()
            self._orders[(marketplace, no)] = order
        return no

    def get_order(self, marketplace: str, order_no: str) -> dict | None:
        with self._lock:
            order = self._orders.get((marketplace, order_no))
            return copy.deepcopy(order) if order is not None else None

    def update_order(self, marketplace: str, order_no: str, **fields: Any) -> dict:
        """Change top-level fields of a stored order object; returns the new object."""
        with self._lock:
            order = self._orders[(marketplace, order_no)]
            order.update(copy.deepcopy(fields))
            return copy.deepcopy(order)

    def orders(self, marketplace: str) -> list[dict]:
        """Every stored order object of a marketplace (copies), by order number."""
        with self._lock:
            found = sorted((no, o) for (mp, no), o in self._orders.items() if mp == marketplace)
            return [copy.deepcopy(o) for _no, o in found]

    def replace_order(self, marketplace: str, order: dict) -> dict:
        """Store a changed order object under its number (a fake module's write); returns a copy."""
        order = copy.deepcopy(order)
        with self._lock:
            self._orders[(marketplace, order_number(marketplace, order))] = order
        return copy.deepcopy(order)

    def token_allowed(self, marketplace: str, token: str | None) -> bool:
        """Whether a request's credential is accepted: non-empty, and one of those set by
        require_token when any are."""
        with self._lock:
            allowed = self._tokens.get(marketplace)
        return bool(token) and (allowed is None or token in allowed)

    def state(self, marketplace: str) -> dict:
        """A fake module's own state for a marketplace (issued tokens, feeds...); reset() clears it."""
        with self._lock:
            return self._state.setdefault(marketplace, {})

    def take_fault(self, marketplace: str, name: str) -> dict | None:
        """One use of a fault a fake module armed in its state (`{"count": n, ...}`, a negative
        count: until reset); a copy of it, or None when none is armed."""
        with self._lock:
            fault = self.state(marketplace).get(name)
            if not fault or fault["count"] == 0:
                return None
            fault["count"] -= 1
            return dict(fault)

    def record_cancel(self, marketplace: str, entry: dict) -> None:
        self._keep(self._cancels, marketplace, entry)

    def record_fulfillment(self, marketplace: str, entry: dict) -> None:
        self._keep(self._fulfillments, marketplace, entry)

    def record_tracking(self, marketplace: str, entry: dict) -> None:
        self._keep(self._tracking_updates, marketplace, entry)

    def _keep(self, log: list[dict], marketplace: str, entry: dict) -> None:
        with self._lock:
            log.append({"at": _now_text(), "marketplace": marketplace, **copy.deepcopy(entry)})

    def accept_once(self, marketplace: str, key: str | None) -> bool:
        """False when this idempotency key was seen before for the marketplace."""
        return self._accept_once(marketplace, key)

    def fail(
        self,
        marketplace: str,
        mode: str = "error",
        count: int = 1,
        *,
        operation: str | None = None,
        status: int = 500,
        delay: float = DEFAULT_TIMEOUT_DELAY,
        retry_after: float | None = None,
    ) -> None:
        """Make the next `count` requests (-1: all, until reset) for a marketplace fail:
        error -> `status` (5xx, or 429 with `retry_after` seconds in Retry-After), timeout ->
        answer only after `delay` seconds, not_found -> 404. `operation` limits it to list,
        fetch, cancel, fulfill or tracking requests."""
        if mode not in FAIL_MODES:
            raise ValueError(f"mode must be one of {', '.join(FAIL_MODES)}")
        if operation is not None and operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}")
        if not isinstance(count, int) or isinstance(count, bool) or count == 0 or count < -1:
            raise ValueError("count must be a positive number, or -1 for until reset")
        with self._lock:
            self._failures[marketplace] = _Failure(
                mode, count, operation, int(status), float(delay), retry_after
            )

    def require_token(self, marketplace: str, *tokens: str) -> None:
        """Accept only these tokens for a marketplace (by default any non-empty token)."""
        with self._lock:
            if tokens:
                self._tokens[marketplace] = set(tokens)
            else:
                self._tokens.pop(marketplace, None)

    def reset(self) -> None:
        with self._lock:
            self._orders.clear()
            self._failures.clear()
            self._tokens.clear()
            self._calls.clear()
            self._cancels.clear()
            self._fulfillments.clear()
            self._tracking_updates.clear()
            self._idempotency.clear()
            self._state.clear()

    def calls(self, marketplace: str | None = None) -> list[dict]:
        """Every request received (control requests excluded), oldest first."""
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls if marketplace in (None, c["marketplace"])]

    def cancels(self, marketplace: str | None = None) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(c) for c in self._cancels if marketplace in (None, c["marketplace"])]

    def fulfillments(self, marketplace: str | None = None) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(c) for c in self._fulfillments if marketplace in (None, c["marketplace"])]

    def tracking_updates(self, marketplace: str | None = None) -> list[dict]:
        """Accepted tracking changes: {at, marketplace, order_no, carrier, tracking_number,
        ...} as the marketplace received them (the module docstring; Shopify: also
        fulfillment_id; carrier is what was sent, Shopify's company name)."""
        with self._lock:
            return [
                copy.deepcopy(c) for c in self._tracking_updates if marketplace in (None, c["marketplace"])
            ]

    # ------------------------------------------------------------------ internals
    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _take_failure(self, marketplace: str, operation: str) -> _Failure | None:
        with self._lock:
            failure = self._failures.get(marketplace)
            if failure is None or (failure.operation and failure.operation != operation):
                return None
            if failure.count > 0:
                failure.count -= 1
                if failure.count == 0:
                    del self._failures[marketplace]
            return failure

    def _record(self, call: dict) -> dict:
        with self._lock:
            self._calls.append(call)
        return call

    def _accept_once(self, marketplace: str, key: str | None) -> bool:
        """False when this Idempotency-Key was seen before for the marketplace."""
        if not key:
            return True
        with self._lock:
            if (marketplace, key) in self._idempotency:
                return False
            self._idempotency.add((marketplace, key))
            return True

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """(status, answer, extra headers) of one request."""
        parts = urlsplit(raw_path)
        segments = [unquote(s) for s in parts.path.strip("/").split("/") if s]
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if not segments:
            return 404, {"error": "no such path"}, {}
        if segments[0] in PROTOCOL_FAKES:
            request = FakeRequest(segments[0], method, segments[1:], query, headers, body)
            return self._delegated(request)
        return self._handle_json(method, segments, query, headers, body)

    def _handle_json(
        self, method: str, segments: list[str], query: dict, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        try:
            payload = json.loads(body, parse_float=Decimal) if body.strip() else None
        except ValueError:
            return 400, {"error": "the body is not JSON"}, {}
        if segments[0] == "_control":
            return (*self._control(method, segments[1:], query, payload), {})
        return self._marketplace(method, segments[0], segments[1:], query, headers, payload)

    # ---------------------------------------------------------------- control routes
    def _control(self, method: str, rest: list[str], query: dict, payload: Any) -> tuple[int, Any]:
        try:
            if method == "POST" and len(rest) == 2 and rest[0] == "orders":
                if not isinstance(payload, dict):
                    return 400, {"error": "the body must be an order object"}
                no = self.put_order(rest[1], payload)
                return 201, {"marketplace": rest[1], "order_no": no, "order": self.get_order(rest[1], no)}
            if method == "GET" and len(rest) == 3 and rest[0] == "orders":
                order = self.get_order(rest[1], rest[2])
                return (200, {"order": order}) if order is not None else (404, {"error": "no such order"})
            if method == "POST" and rest == ["fail"]:
                p = payload if isinstance(payload, dict) else {}
                if not isinstance(p.get("marketplace"), str) or not p["marketplace"]:
                    return 400, {"error": "marketplace is required"}
                self.fail(
                    p["marketplace"],
                    p.get("mode", "error"),
                    int(p.get("count", 1)),
                    operation=p.get("operation"),
                    status=int(p.get("status", 500)),
                    delay=float(p.get("delay", DEFAULT_TIMEOUT_DELAY)),
                    retry_after=None if p.get("retry_after") is None else float(p["retry_after"]),
                )
                return 200, {"ok": True}
            if method == "POST" and rest == ["reset"]:
                self.reset()
                return 200, {"ok": True}
            if method == "GET" and rest == ["calls"]:
                mp = query.get("marketplace")
                return 200, {
                    "calls": self.calls(mp),
                    "cancels": self.cancels(mp),
                    "fulfillments": self.fulfillments(mp),
                    "tracking_updates": self.tracking_updates(mp),
                }
        except (ValueError, TypeError) as exc:
            return 400, {"error": str(exc)}
        return 404, {"error": "no such control route"}

    # ---------------------------------------------------------------- marketplace routes
    def _marketplace(
        self, method: str, marketplace: str, rest: list[str], query: dict, headers: dict, payload: Any
    ) -> tuple[int, Any]:
        shopify = marketplace == "shopify"
        operation = _operation(method, rest)
        if shopify:
            token = headers.get("x-shopify-access-token", "")
        else:
            auth = headers.get("authorization", "")
            token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
        call = self._record(
            {
                "at": _now_text(),
                "marketplace": marketplace,
                "method": method,
                "path": "/" + "/".join(rest),
                "query": query,
                "operation": operation,
                "token": token,
                "idempotency_key": headers.get("idempotency-key"),
                "body": payload,
                "status": None,
            }
        )
        failure = self._take_failure(marketplace, operation)
        if failure is not None:
            (status, answer), extra = self._failure_answer(failure), _retry_after_header(failure)
        else:
            status, answer = self._answer(method, marketplace, rest, query, headers, payload, token)
            extra = {}
        with self._lock:
            call["status"] = status
        return status, answer, extra

    def _delegated(self, request: FakeRequest) -> tuple[int, Any, dict[str, str]]:
        """A marketplace served by its folder's fake module: record, inject a failure, hand over."""
        module = fake_module(request.marketplace)
        operation = module.operation(request)
        try:
            body: Any = request.json()
        except (ValueError, UnicodeDecodeError):
            body = request.body.decode("utf-8", "replace")
        call = self._record(
            {
                "at": _now_text(),
                "marketplace": request.marketplace,
                "method": request.method,
                "path": "/" + "/".join(request.rest),
                "query": dict(request.query),
                "operation": operation,
                "headers": {k: v for k, v in request.headers.items() if k not in _HOP_HEADERS},
                "body": body,
                "status": None,
            }
        )
        failure = self._take_failure(request.marketplace, operation)
        if failure is not None:
            status, answer = self._failure_answer(failure)
            extra = _retry_after_header(failure)
        else:
            status, answer, extra = module.handle(self, request)
        with self._lock:
            call["status"] = status
        return status, answer, extra

    def _failure_answer(self, failure: _Failure) -> tuple[int, Any]:
        if failure.mode == "timeout":
            self._stopping.wait(failure.delay)
            return 504, {"error": "fake timeout"}
        if failure.mode == "not_found":
            return 404, {"error": "Not Found"}
        return failure.status, {"error": "fake marketplace failure"}

    def _answer(self, method, marketplace, rest, query, headers, payload, token):
        with self._lock:
            allowed = self._tokens.get(marketplace)
        if not token or (allowed is not None and token not in allowed):
            return 401, {
                "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
            }
        if marketplace == "shopify":
            return self._shopify(method, rest, query, headers, payload)
        if method == "GET" and rest == ["orders"]:
            return self._protocol_list(marketplace, query)
        return self._protocol(method, marketplace, rest, headers, payload)

    def _protocol_list(self, marketplace: str, query: dict) -> tuple[int, Any]:
        """GET /orders?updated_since=&limit=&page_token=: the orders changed since, oldest change
        first (ties by number), a page at a time; the page token is an offset."""
        bad = 400, {"error": {"code": "validation_failed", "message": "updated_since, limit, page_token"}}
        try:
            since = datetime.fromisoformat(str(query.get("updated_since", "")).replace("Z", "+00:00"))
            limit = int(query.get("limit") or 100)
            offset = int(query.get("page_token") or 0)
        except ValueError:
            return bad
        if since.tzinfo is None or not 1 <= limit <= 500 or offset < 0:
            return bad
        with self._lock:
            changed = [
                (datetime.fromisoformat(str(o["updated_at"]).replace("Z", "+00:00")), no, copy.deepcopy(o))
                for (mp, no), o in self._orders.items()
                if mp == marketplace and o.get("updated_at")
            ]
        changed = sorted((c for c in changed if c[0] >= since), key=lambda c: (c[0], c[1]))
        page = changed[offset : offset + limit]
        more = offset + limit < len(changed)
        return 200, {"orders": [c[2] for c in page], "next_page_token": str(offset + limit) if more else None}

    def _shopify(self, method, rest, query, headers, payload) -> tuple[int, Any]:
        # rest: admin / api / <version> / ...
        if len(rest) < 4 or rest[:2] != ["admin", "api"]:
            return 404, {"errors": "Not Found"}
        tail = rest[3:]
        if method == "GET" and tail == ["orders.json"]:
            wanted = (query.get("name") or "").lstrip("#").strip()
            status = query.get("status", "open")
            with self._lock:
                found = []
                for (mp, no), order in self._orders.items():
                    if mp != "shopify" or (
                        wanted and no != wanted and order.get("name") != query.get("name")
                    ):
                        continue
                    cancelled = bool(order.get("cancelled_at"))
                    closed = bool(order.get("closed_at"))
                    if status == "open" and (cancelled or closed):
                        continue
                    if status == "cancelled" and not cancelled:
                        continue
                    if status == "closed" and not closed:
                        continue
                    found.append(copy.deepcopy(order))
            return 200, {"orders": found}
        if len(tail) >= 2 and tail[0] == "orders":
            order_id = tail[1].removesuffix(".json")
            with self._lock:
                key = next(
                    (
                        k
                        for k, o in self._orders.items()
                        if k[0] == "shopify" and str(o.get("id")) == order_id
                    ),
                    None,
                )
            if key is None:
                return 404, {"errors": "Not Found"}
            if method == "GET" and len(tail) == 2:
                return 200, {"order": self.get_order(*key)}
            if method == "POST" and tail[2:] == ["cancel.json"]:
                return self._shopify_cancel(key, payload)
            if method == "GET" and tail[2:] == ["fulfillment_orders.json"]:
                return 200, {"fulfillment_orders": [self._fulfillment_order(key)]}
            if method == "GET" and tail[2:] == ["fulfillments.json"]:
                order = self.get_order(*key) or {}
                return 200, {"fulfillments": order.get("fulfillments") or []}
        if method == "POST" and tail == ["fulfillments.json"]:
            return self._shopify_fulfill(payload)
        if (
            method == "POST"
            and len(tail) == 3
            and tail[0] == "fulfillments"
            and tail[2] == "update_tracking.json"
        ):
            return self._shopify_update_tracking(tail[1], payload)
        return 404, {"errors": "Not Found"}

    def _shopify_cancel(self, key: tuple[str, str], payload: Any) -> tuple[int, Any]:
        now = _now_text()
        with self._lock:
            order = self._orders[key]
            if order.get("cancelled_at"):
                return 422, {"error": "Cannot cancel an order that has already been cancelled"}
            if order.get("fulfillment_status") == "fulfilled":
                return 422, {"error": "Cannot cancel a fulfilled order"}
            reason = (payload or {}).get("reason", "other") if isinstance(payload, dict) else "other"
            order.update(cancelled_at=now, cancel_reason=reason, updated_at=now)
            self._cancels.append(
                {
                    "at": now,
                    "marketplace": "shopify",
                    "order_no": key[1],
                    "reason": reason,
                    "order_id": order["id"],
                }
            )
            return 200, {"order": copy.deepcopy(order)}

    def _fulfillment_order(self, key: tuple[str, str]) -> dict:
        with self._lock:
            order = self._orders[key]
            status = "open"
            if order.get("cancelled_at"):
                status = "cancelled"
            elif order.get("fulfillment_status") == "fulfilled":
                status = "closed"
            return {
                "id": int(order["id"]) * 10 + 1,
                "order_id": order["id"],
                "status": status,
                "line_items": [
                    {"line_item_id": li.get("id"), "quantity": li.get("quantity")}
                    for li in order.get("line_items") or []
                    if isinstance(li, dict)
                ],
            }

    def _shopify_fulfill(self, payload: Any) -> tuple[int, Any]:
        f = payload.get("fulfillment") if isinstance(payload, dict) else None
        groups = f.get("line_items_by_fulfillment_order") if isinstance(f, dict) else None
        if not isinstance(groups, list) or not groups:
            return 400, {"errors": {"fulfillment": ["line_items_by_fulfillment_order is required"]}}
        fo_id = str(groups[0].get("fulfillment_order_id")) if isinstance(groups[0], dict) else ""
        tracking = f.get("tracking_info") or {}
        origin = f.get("origin_address")
        if origin is not None and (not isinstance(origin, dict) or not origin.get("country_code")):
            return 400, {"errors": {"origin_address": ["country_code is required"]}}
        message = f.get("message")
        if message is not None and not isinstance(message, str):
            return 400, {"errors": {"message": ["must be text"]}}
        now = _now_text()
        with self._lock:
            key = next(
                (
                    k
                    for k, o in self._orders.items()
                    if k[0] == "shopify" and str(int(o["id"]) * 10 + 1) == fo_id
                ),
                None,
            )
            if key is None:
                return 404, {"errors": "Not Found"}
            order = self._orders[key]
            if order.get("cancelled_at") or order.get("fulfillment_status") == "fulfilled":
                return 422, {"errors": {"base": ["The fulfillment order is not open"]}}
            fulfillment = {
                "id": self._new_id(),
                "order_id": order["id"],
                "status": "success",
                "tracking_company": tracking.get("company"),
                "tracking_number": tracking.get("number"),
                "origin_address": copy.deepcopy(origin),
                "created_at": now,
            }
            order.setdefault("fulfillments", []).append(fulfillment)
            order.update(fulfillment_status="fulfilled", updated_at=now)
            self._fulfillments.append(
                {
                    "at": now,
                    "marketplace": "shopify",
                    "order_no": key[1],
                    "carrier": tracking.get("company"),
                    "tracking_number": tracking.get("number"),
                    "origin_country": origin.get("country_code") if origin else None,
                    "note": message,
                }
            )
            return 201, {"fulfillment": copy.deepcopy(fulfillment)}

    def _shopify_update_tracking(self, fulfillment_id: str, payload: Any) -> tuple[int, Any]:
        f = payload.get("fulfillment") if isinstance(payload, dict) else None
        tracking = f.get("tracking_info") if isinstance(f, dict) else None
        if not isinstance(tracking, dict) or not tracking.get("number"):
            return 400, {"errors": {"fulfillment": ["tracking_info with a number is required"]}}
        now = _now_text()
        with self._lock:
            found = next(
                (
                    (k, ful)
                    for k, o in self._orders.items()
                    if k[0] == "shopify"
                    for ful in o.get("fulfillments") or []
                    if isinstance(ful, dict) and str(ful.get("id")) == fulfillment_id
                ),
                None,
            )
            if found is None:
                return 404, {"errors": "Not Found"}
            key, fulfillment = found
            if fulfillment.get("status") == "cancelled":
                return 422, {"errors": {"base": ["Cannot update tracking of a cancelled fulfillment"]}}
            fulfillment.update(
                tracking_company=tracking.get("company"),
                tracking_number=tracking.get("number"),
                tracking_numbers=[tracking.get("number")],
                updated_at=now,
            )
            self._orders[key]["updated_at"] = now
            self._tracking_updates.append(
                {
                    "at": now,
                    "marketplace": "shopify",
                    "order_no": key[1],
                    "fulfillment_id": fulfillment["id"],
                    "carrier": tracking.get("company"),
                    "tracking_number": tracking.get("number"),
                    "origin_country": None,  # update_tracking.json takes neither
                    "note": None,
                }
            )
            return 200, {"fulfillment": copy.deepcopy(fulfillment)}

    def _protocol(self, method, marketplace, rest, headers, payload) -> tuple[int, Any]:
        if len(rest) < 2 or rest[0] != "orders":
            return 404, {"error": {"code": "not_found", "message": "no such route"}}
        key = (marketplace, rest[1])
        with self._lock:
            exists = key in self._orders
        if not exists:
            return 404, {"error": {"code": "not_found", "message": f"no order {rest[1]}"}}
        if method == "GET" and len(rest) == 2:
            return 200, {"order": self.get_order(*key)}
        body = payload if isinstance(payload, dict) else {}
        first = self._accept_once(marketplace, headers.get("idempotency-key"))
        if method == "POST" and rest[2:] == ["cancel"]:
            now = _now_text()
            with self._lock:
                order = self._orders[key]
                if order.get("cancelled_at"):
                    return 200, {"order": copy.deepcopy(order)}  # idempotent
                order["cancelled_at"] = now
                order["updated_at"] = now
                if first:
                    self._cancels.append(
                        {
                            "at": now,
                            "marketplace": marketplace,
                            "order_no": rest[1],
                            "reason": body.get("reason"),
                        }
                    )
                return 200, {"order": copy.deepcopy(order)}
        # A fulfillment (POST, 201) or a tracking change (PUT .../tracking, 200): the same checks.
        shipping = {
            ("POST", ("fulfillments",)): (self._fulfillments, 201),
            ("PUT", ("fulfillments", "tracking")): (self._tracking_updates, 200),
        }.get((method, tuple(rest[2:])))
        if shipping is not None:
            log, status = shipping
            carrier, number = body.get("carrier"), body.get("tracking_number")
            origin, note = body.get("origin_country"), body.get("note")
            if not isinstance(carrier, str) or not carrier or not isinstance(number, str) or not number:
                return 400, {"error": {"code": "validation_failed", "message": "carrier and tracking_number"}}
            letters = isinstance(origin, str) and origin.isascii() and origin.isalpha()
            if origin is not None and not (letters and len(origin) == 2):
                return 400, {"error": {"code": "validation_failed", "message": "origin_country"}}
            if note is not None and not (isinstance(note, str) and 1 <= len(note) <= MAX_NOTE_CHARS):
                return 400, {"error": {"code": "validation_failed", "message": "note"}}
            shipment = {
                "order_no": rest[1],
                "carrier": carrier,
                "tracking_number": number,
                "origin_country": origin,
                "note": note,
            }
            now = _now_text()
            with self._lock:
                if self._orders[key].get("cancelled_at"):
                    return 409, {"error": {"code": "cancelled", "message": "the order is cancelled"}}
                if first:
                    log.append({"at": now, "marketplace": marketplace, **shipment})
            return status, {"fulfillment": shipment}
        return 404, {"error": {"code": "not_found", "message": "no such route"}}


_HOP_HEADERS = frozenset({"host", "content-length", "connection", "accept-encoding", "user-agent"})


def _retry_after_header(failure: _Failure) -> dict[str, str]:
    if failure.retry_after is None:
        return {}
    value = float(failure.retry_after)
    return {"Retry-After": str(int(value)) if value.is_integer() else str(value)}


def _operation(method: str, rest: list[str]) -> str:
    last = rest[-1] if rest else ""
    if method == "POST" and last in ("cancel", "cancel.json"):
        return "cancel"
    if last == "update_tracking.json" or rest[-2:] == ["fulfillments", "tracking"]:
        return "tracking"
    if last == "fulfillments.json" and len(rest) >= 3 and rest[-3] == "orders":
        return "tracking"  # Shopify: an order's fulfillments, read for a tracking change
    if last in ("fulfillments", "fulfillments.json", "fulfillment_orders.json"):
        return "fulfill"
    if method == "GET" and rest == ["orders"]:
        return "list"  # the protocol's list of changed orders (the pull)
    return "fetch" if method == "GET" else "other"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeMarketplace/1.0"

    def _serve(self) -> None:
        fake: FakeMarketplace = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(413, {"error": "body too large"})
            return
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, answer, extra = fake.handle(self.command, self.path, headers, body)
        except Exception as exc:  # a bug in the fake must not hang the client
            log.exception("fake marketplace failed")
            status, answer, extra = 500, {"error": f"{type(exc).__name__}: {exc}"}, {}
        self._send(status, answer, extra)

    def _send(self, status: int, answer: Any, extra: dict[str, str] | None = None) -> None:
        if isinstance(answer, bytes):
            data, content_type = answer, "application/octet-stream"
        elif isinstance(answer, str):
            data, content_type = answer.encode(), "text/plain; charset=utf-8"
        else:
            data = json.dumps(answer, default=_json_default, ensure_ascii=False).encode()
            content_type = "application/json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout)

    do_GET = _serve
    do_POST = _serve
    do_PUT = _serve
    do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)
