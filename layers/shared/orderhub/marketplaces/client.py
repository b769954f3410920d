"""Outbound calls to a marketplace's order API: the base every marketplace's client builds on
(the HTTP round trip, retries, timeouts, MarketplaceError) and orderhub's carrier codes.

Each marketplace's client lives in its folder (orderhub.marketplaces.<name>.client: fetch an
order, cancel it, send or change its tracking); orderhub.marketplaces.registry.client_for picks
it. The base URL and token come from the merchant's integration settings
(orderhub.sync.integrations):

    profile["integrations"][marketplace] = {
        "api_base_url": "https://shop.example.com",   # no client without it
        "api_token": "...",                           # secret: sent as a header, never logged
        "reflect_cancel_to_marketplace": true,        # orderhub.sync.reflect
        ...                                           # ingestion settings (hold_minutes...)
    }

Protocols: Shopify's REST Admin API (orderhub.marketplaces.shopify.client); every other
marketplace (wish, rakuten, qoo10...) speaks the orderhub marketplace protocol
(orderhub.marketplaces.generic.client), with the marketplace's own order object where orderhub
has an adapter for it (orderhub.marketplaces.wish.client).

Fetched orders are normalized by the same adapter code as the webhooks, with topic "updated"
(a cancelled order still carries its cancelled_at, so the domain sees the cancel).

Every request: timeout TIMEOUT_SECONDS, up to ATTEMPTS attempts; timeouts, connection errors,
5xx and 429 are retried after BACKOFF_SECONDS * 2**n (Retry-After honoured up to
MAX_RETRY_AFTER); other 4xx are not retried. Errors are `MarketplaceError(kind, status)`:
  not_found    404 (or no order with that number in a search)
  http_error   any other 4xx, a redirect (never followed), or a 2xx whose body is not the
               expected JSON / order
  timeout      the last attempt timed out
  unavailable  the last attempt got a 5xx/429 or could not connect: one message whether the name
               did not resolve, resolved to a refused address, or the port was closed
  invalid_url  the stored api_base_url breaks orderhub.domain.outbound's rule (stored before it
               was checked at PUT); nothing was sent

Where a request may go (docs/sync-flows.md, "Outbound URLs"): before every call the base URL is
checked again by orderhub.domain.outbound.check_url (the allowlist is OUTBOUND_ALLOWED_ORIGINS);
then the connection resolves the host itself, checks every address it resolved to and connects
only to one of those checked addresses (no second lookup that DNS could answer differently).
Proxies from the environment are not used and redirects are not followed.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from orderhub.domain import outbound
from orderhub.domain.settings import defaults
from orderhub.kernel import config
from orderhub.kernel.errors import MalformedPayload, ValidationFailed

if TYPE_CHECKING:
    from orderhub.domain.models import OrderChange

logger = Logger(child=True)

TIMEOUT_SECONDS = 5.0
ATTEMPTS = 3
BACKOFF_SECONDS = 0.25
MAX_RETRY_AFTER = 2.0
MAX_ERROR_BODY_BYTES = 64 * 1024  # of a 4xx answer's body, read for the marketplace's error codes
USER_AGENT = "orderhub/1.0"
ERROR_KINDS = ("http_error", "timeout", "not_found", "unavailable", "invalid_url")
# What every failure to connect reads as, whatever its cause (a name that does not resolve, an
# address refused, a closed port, TLS): the merchant learns nothing of what is behind an address.
UNREACHABLE = "could not connect"

# orderhub's carrier codes (the caller validates them; the clients pass anything else through).
CARRIER_CODES = ("japan_post", "yamato", "sagawa", "ups", "fedex", "dhl", "usps", "other")


def _default_sleep(seconds: float) -> None:
    time.sleep(seconds)


# The pause between attempts; tests replace it (module attribute, read at every retry).
sleep: Callable[[float], None] = _default_sleep


class MarketplaceError(Exception):
    """A marketplace call failed (after retries where retrying made sense)."""

    def __init__(self, kind: str, status: int | None = None, message: str = "", *, marketplace: str = ""):
        assert kind in ERROR_KINDS, kind
        # The parsed JSON body of a 4xx answer (the marketplace's own error codes), for the
        # marketplace's client to name them; never shown as is (it may echo what was sent).
        self.body: Any = None
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
    def __init__(self, error: MarketplaceError, retry_after: float | None = None, cause: str = ""):
        self.error = error
        self.retry_after = retry_after
        self.cause = cause  # for the log only (an exception's class name): never in the answer


# ---------------------------------------------------------------------- where a call may go
class AddressRefused(OSError):
    """The host did not resolve, or resolved to an address orderhub does not connect to. An
    OSError, so a call fails exactly as when nobody listens (UNREACHABLE, retried)."""


def allowed_origins() -> frozenset[outbound.Origin]:
    """The allowlist (OUTBOUND_ALLOWED_ORIGINS). A malformed one allows nothing, loudly."""
    try:
        return outbound.parse_origins(config.outbound_allowed_origins())
    except ValueError as exc:
        logger.error("OUTBOUND_ALLOWED_ORIGINS is malformed; nothing is allowed", extra={"error": str(exc)})
        return frozenset()


def resolve_checked(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, each checked by orderhub.domain.outbound.refused_range:
    the addresses a connection may use. AddressRefused when the name does not resolve or when
    any of its addresses is refused (a name that mixes public and private addresses is refused)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise AddressRefused(UNREACHABLE) from exc
    addresses: list[str] = []
    for family, _type, _proto, _name, sockaddr in found:
        try:
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        except ValueError:
            raise AddressRefused(UNREACHABLE) from None
        if family not in (socket.AF_INET, socket.AF_INET6) or outbound.refused_range(ip) is not None:
            raise AddressRefused(UNREACHABLE)
        if str(ip) not in addresses:
            addresses.append(str(ip))
    if not addresses:
        raise AddressRefused(UNREACHABLE)
    return addresses


def check_resolves(url: str, field: str = "api_base_url") -> None:
    """PUT /integrations: the host of an api_base_url the rule accepted must resolve, and only to
    addresses orderhub connects to (an allowlisted origin is not resolved). One message whether
    it does not resolve or resolves to a refused address. Raises ValidationFailed."""
    target = outbound.check_url(url, allowed_origins())
    if target.allowlisted:
        return
    try:
        resolve_checked(target.host, target.port)
    except AddressRefused:
        raise ValidationFailed(
            f"{field} must name a host that resolves, and only to public addresses",
            field=field,
            rule="public_address",
        ) from None


def _checked_connection(target: outbound.Target) -> Callable[..., socket.socket]:
    """http.client's socket factory for one checked target: resolve, check every address, then
    connect to a checked address only (an allowlisted origin is connected to as named)."""

    def create_connection(address, timeout, source_address=None, *args, **kwargs):
        host, port = address
        if target.allowlisted:
            return socket.create_connection((host, port), timeout, source_address)
        last: OSError = AddressRefused(UNREACHABLE)
        for ip in resolve_checked(host, port):
            try:
                return socket.create_connection((ip, port), timeout, source_address)
            except OSError as exc:
                last = exc
        raise last

    return create_connection


class _CheckedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, target: outbound.Target, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _checked_connection(target)


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    # TLS still verifies the certificate against the host name (server_hostname = the URL's host).
    def __init__(self, *args, target: outbound.Target, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _checked_connection(target)


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, target: outbound.Target):
        super().__init__()
        self.target = target

    def http_open(self, req):
        return self.do_open(functools.partial(_CheckedHTTPConnection, target=self.target), req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, target: outbound.Target):
        super().__init__()
        self.target = target

    def https_open(self, req):
        connection = functools.partial(_CheckedHTTPSConnection, target=self.target)
        return self.do_open(connection, req, context=self._context)


def _opener(target: outbound.Target) -> urllib.request.OpenerDirector:
    """An opener that connects through the checks above, uses no proxy and follows no redirect
    (a 3xx answer is an HTTPError like a 4xx)."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        _CheckedHTTPHandler(target),
        _CheckedHTTPSHandler(target),
        urllib.request.UnknownHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


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
        settings: dict[str, Any] | None = None,
        credentials: dict[str, str] | None = None,
    ):
        self.marketplace = marketplace
        # The integration's settings in effect (domain/settings.py), for the choices a protocol
        # leaves to the merchant (Shopify's notify_customer); the defaults when not given.
        self.settings = settings if settings is not None else defaults(marketplace)
        self.base_url = base_url.rstrip("/")
        self._token = token
        # The integration's write-only secrets, unsealed (domain/settings.py SECRET_KEYS).
        self._credentials = {**(credentials or {}), "api_token": token}
        self.timeout = TIMEOUT_SECONDS if timeout is None else timeout
        self.attempts = max(1, ATTEMPTS if attempts is None else attempts)
        self.backoff = BACKOFF_SECONDS if backoff is None else backoff
        self._sleep = sleep

    def __repr__(self) -> str:  # never shows the token
        return f"<{type(self).__name__} {self.marketplace} {self.base_url}>"

    def credential(self, name: str) -> str:
        """One of the integration's secrets (api_token, lwa_refresh_token...), '' when not set."""
        return str(self._credentials.get(name) or "")

    # ------------------------------------------------------------------ interface
    # Pull (docs/pull.md, docs/connectors.md): a client that can list changed orders has
    # list_changed(since, page_token, limit) and to_change(raw); `pull_mode` says how it lists
    # them ("updated_since" or "sweep"), `page_limit` the most orders one page holds.
    pull_mode = "updated_since"
    page_limit = 100

    def fetch_order(self, order_no: str) -> OrderChange:
        raise NotImplementedError

    def fetch_for_relink(self, order_no: str) -> tuple[OrderChange, bool | None]:
        """The current order and whether its shipping has started (None: the format cannot tell).
        A format whose order shows its parcel (Wish `state` SHIPPED or APPROVED: the change's
        `awaiting_shipment`) tells; a client that knows more overrides this."""
        change = self.fetch_order(order_no)
        return change, None if change.awaiting_shipment is None else not change.awaiting_shipment

    def cancel_order(self, order_no: str, reason: str = "") -> None:
        raise NotImplementedError

    def fulfill_order(
        self,
        order_no: str,
        carrier: str,
        tracking_number: str,
        *,
        origin_country: str | None = None,
        note: str | None = None,
    ) -> None:
        """Tell the marketplace the order shipped. `origin_country` (the shipment's ISO 3166-1
        code) and `note` (the merchant's text, at most 500 characters: orderhub's API refuses a
        longer one before anything is stored) are the shipment's, None when orderhub has none;
        each goes where the marketplace's ship call has a field for it, and only there
        (docs/connectors.md, "What a shipment carries"). A client whose marketplace has no such
        field takes them and sends nothing."""
        raise NotImplementedError

    def update_tracking(
        self,
        order_no: str,
        carrier: str,
        tracking_number: str,
        *,
        origin_country: str | None = None,
        note: str | None = None,
    ) -> None:
        """Change the tracking of an order already fulfilled on the marketplace; `origin_country`
        and `note` as in fulfill_order (the shipment's current values)."""
        raise NotImplementedError

    def carrier_name(self, carrier: str) -> str:
        """What the marketplace calls an orderhub carrier code (by default the code itself)."""
        return carrier

    # ------------------------------------------------------------------ plumbing
    def _auth_headers(self) -> dict[str, str]:
        raise NotImplementedError

    def retry_after(self, headers: Any) -> float | None:
        """Seconds a 429 / 5xx answer asks to wait (Retry-After); a protocol with its own header
        overrides this. Honoured up to MAX_RETRY_AFTER; past that the call fails and the caller
        (a pull run) resumes later."""
        return _retry_after_seconds((headers.get("Retry-After") if headers else None) or "")

    def _error(self, kind: str, status: int | None, message: str) -> MarketplaceError:
        return MarketplaceError(kind, status, message, marketplace=self.marketplace)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: dict | list | None = None,
        form: dict[str, str] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        base_url: str | None = None,
        auth: bool = True,
        idempotent: bool = True,
    ) -> tuple[int, Any]:
        """One call with retries; (status, parsed JSON body or None). Raises MarketplaceError,
        and nothing else: whatever goes wrong below is one of its kinds.

        `body` is sent as JSON, `form` as application/x-www-form-urlencoded, `content` as the
        bytes given (the caller's `headers` name its Content-Type: Amazon's feed document). `base_url` calls
        another origin than the integration's api_base_url (Amazon's LWA token endpoint, a feed
        document's upload URL): the same outbound rule checks it. `auth=False` leaves out the
        protocol's credential headers (a token endpoint takes its credentials in the body).
        `idempotent=False` (a change the marketplace may have applied although the answer was lost,
        with no idempotency key: Rakuten, Amazon) is repeated only after a 429, which applied
        nothing; after a timeout, a 5xx or a dropped connection the error is raised at once and
        the caller reads the order before trying again.
        """
        base = (base_url or self.base_url).rstrip("/")
        try:
            target = outbound.check_url(base, allowed_origins())
        except outbound.Refused as exc:
            raise self._error("invalid_url", None, f"api_base_url {exc.message}; nothing was sent") from None
        url = base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        hdrs = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if auth:
            hdrs.update(self._auth_headers())
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body, default=_json_default).encode()
            hdrs["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        elif content is not None:
            data = content
        hdrs.update(headers or {})
        # What a log line names: the path alone. A query may carry a credential (a pre-signed
        # upload URL's signature), and the marketplace's error codes need no more.
        logged = urllib.parse.urlsplit(path).path
        for attempt in range(1, self.attempts + 1):
            started = time.monotonic()
            try:
                status, parsed = self._once(method, url, data, hdrs, target)
                logger.debug(
                    "marketplace call",
                    extra={
                        "marketplace": self.marketplace,
                        "method": method,
                        "path": logged,
                        "status": status,
                    },
                )
                return status, parsed
            except _Retryable as retry:
                if not idempotent and retry.error.status != 429:
                    raise retry.error from None
                logger.info(
                    "marketplace call failed",
                    extra={
                        "marketplace": self.marketplace,
                        "method": method,
                        "path": logged,
                        "attempt": attempt,
                        "kind": retry.error.kind,
                        "status": retry.error.status,
                        "cause": retry.cause,
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

    def _once(
        self, method: str, url: str, data: bytes | None, headers: dict[str, str], target: outbound.Target
    ) -> tuple[int, Any]:
        path = urllib.parse.urlsplit(url).path
        unreachable = f"{method} {path}: {UNREACHABLE}"
        try:
            req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 checked
            with _opener(target).open(req, timeout=self.timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status = err.code
            detail: Any = None
            try:
                raw_error = err.read(MAX_ERROR_BODY_BYTES)
                detail = json.loads(raw_error, parse_float=Decimal) if raw_error.strip() else None
            except (OSError, ValueError, UnicodeDecodeError):
                detail = None
            finally:
                err.close()
            message = f"{method} {path} answered {status}"
            if 300 <= status < 400:
                raise self._error("http_error", status, f"{message} (redirects are not followed)") from None
            if status == 404:
                raise self._error("not_found", 404, message) from None
            if status >= 500 or status == 429:
                raise _Retryable(
                    self._error("unavailable", status, message), self.retry_after(err.headers)
                ) from None
            error = self._error("http_error", status, message)
            error.body = detail
            raise error from None
        except TimeoutError as exc:
            raise _Retryable(self._error("timeout", None, f"{method} {path} timed out")) from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise _Retryable(self._error("timeout", None, f"{method} {path} timed out")) from exc
            cause = type(exc.reason).__name__
            raise _Retryable(self._error("unavailable", None, unreachable), cause=cause) from exc
        except Exception as exc:  # reset, closed without an answer, a URL http.client refuses...
            raise _Retryable(self._error("unavailable", None, unreachable), cause=type(exc).__name__) from exc
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

    def _fetched(self, order_no: str, build: Callable[[], OrderChange], status: int) -> OrderChange:
        """The order fetched by number, normalized (`build`), and checked to be the one asked for."""
        change = self._normalize(build, status)
        if change.marketplace_order_no != order_no:
            got = change.marketplace_order_no
            raise self._error("http_error", status, f"asked for order {order_no}, got {got}")
        return change

    def _normalize(self, build: Callable[[], OrderChange], status: int) -> OrderChange:
        try:
            return build()
        except MalformedPayload as exc:
            raise self._error(
                "http_error", status, f"the marketplace's order does not parse: {exc.message}"
            ) from None


def _json_default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _retry_after_seconds(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def quote(order_no: str) -> str:
    """An order number or id as one URL path segment."""
    return urllib.parse.quote(order_no, safe="")
