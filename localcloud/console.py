"""The merchant console, served locally as CloudFront and Cognito's hosted UI serve it on AWS.

On AWS (template.yaml, docs/console.md) the console's files are in a private bucket behind
`ConsoleDistribution`, merchants sign in on the user pool's hosted UI (authorization code with
PKCE) and the console calls the HTTP API cross-origin, as the API's CORS configuration allows.
Locally this server stands in for both, on its own origin (http://127.0.0.1:<console port>):

- the files of `console/` (and nothing outside it), with the security headers the distribution
  adds: a Content-Security-Policy that lets scripts come from this origin only and lets the page
  call only this origin and the API, so a console that would break deployed breaks here too;
- `/config.json`: what `scripts/publish_console.py` writes to the bucket on AWS (the API's URL,
  the sign-in endpoints, the app client id);
- the hosted UI's three endpoints: `/oauth2/authorize` (a sign-in page offering the seeded
  merchants instead of a password form), `/oauth2/token` (the code, checked against its PKCE
  verifier, for an ID token the API's authorizer accepts, and refresh tokens) and `/logout`.

The tokens are signed by the local identity provider (localcloud/tokens.py) with the issuer and
audience of the template's merchant authorizer, like every other local merchant token.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import mimetypes
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from localcloud.serving import Served

log = logging.getLogger("localcloud.console")

CODE_SECONDS = 300  # an authorization code is good for 5 minutes (Cognito: 5 minutes), once
ID_TOKEN_SECONDS = 3600  # the app client's IdTokenValidity (60 minutes)
REFRESH_TOKEN_DAYS = 30
SCOPE = "openid email profile"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".json": "application/json"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier))."""
    return _b64url(hashlib.sha256(verifier.encode()).digest())


class ConsoleServer:
    """The console's origin: its files, config.json and the local sign-in (see the module doc)."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0):
        self.root = root.resolve()
        server = _Server((host, port), _Handler)
        server.console = self
        self._served = Served(server, "localcloud-console")
        self._lock = threading.Lock()
        self._codes: dict[str, dict[str, Any]] = {}
        self._refresh: dict[str, dict[str, Any]] = {}
        # Set by the local cloud once the API runs and the merchants are seeded (configure()).
        self.api_url = ""
        self.client_id = ""
        self.merchants: list[dict[str, str]] = []
        self._issue: Callable[[str, int], str] | None = None

    @property
    def port(self) -> int:
        return self._served.port

    @property
    def url(self) -> str:
        return self._served.url

    @property
    def redirect_uri(self) -> str:
        return self.url + "/"

    def configure(
        self, api_url: str, client_id: str, merchants: list[dict[str, str]], issue: Callable[[str, int], str]
    ) -> None:
        """`issue(merchant_id, seconds)`: an ID token for the merchant, valid that long."""
        self.api_url, self.client_id, self.merchants, self._issue = api_url, client_id, merchants, issue

    def start(self) -> ConsoleServer:
        self._served.start()
        return self

    def stop(self) -> None:
        self._served.stop()

    # ------------------------------------------------------------------ what the console reads
    def config(self) -> dict[str, Any]:
        return {
            "api_url": self.api_url,
            "auth": {
                "authorize_url": self.url + "/oauth2/authorize",
                "token_url": self.url + "/oauth2/token",
                "logout_url": self.url + "/logout",
                "client_id": self.client_id,
                "scope": SCOPE,
            },
            "local": True,
        }

    def security_headers(self) -> list[tuple[str, str]]:
        """The headers ConsoleSecurityHeaders adds on AWS, with the local origins in the CSP."""
        csp = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {self.api_url}; frame-ancestors 'none'; base-uri 'self'; "
            "form-action 'self'"
        )
        return [
            ("content-security-policy", csp),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
        ]

    def static(self, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        rel = "index.html" if path in ("", "/") else path.lstrip("/")
        target = (self.root / rel).resolve()
        if not target.is_relative_to(self.root) or not target.is_file() or rel.startswith("."):
            return _text(404, "not found")
        ctype = (
            _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        )
        if ctype.startswith("text/") or ctype == "application/json":
            ctype += "; charset=utf-8"
        cache = "no-cache" if target.name in ("index.html", "config.json") else "max-age=300"
        return 200, [("content-type", ctype), ("cache-control", cache)], target.read_bytes()

    # ------------------------------------------------------------------ the hosted UI's endpoints
    def _check_client(self, query: dict[str, str], redirect_key: str) -> str | None:
        if query.get("client_id") != self.client_id:
            return "client_id is not this console's app client"
        if query.get(redirect_key) != self.redirect_uri:
            return f"{redirect_key} is not one of the app client's URLs"
        return None

    def authorize_page(self, query: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        problem = self._check_client(query, "redirect_uri")
        if problem is None and query.get("response_type") != "code":
            problem = "response_type must be code"
        if problem is None and (
            query.get("code_challenge_method") != "S256" or not query.get("code_challenge")
        ):
            problem = "a PKCE code_challenge with code_challenge_method S256 is required"
        if problem:
            return _text(400, problem)
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(query.get(k, ""))}">'
            for k in ("client_id", "redirect_uri", "state", "code_challenge", "scope")
        )
        buttons = "".join(
            f'<li><button type="submit" name="merchant_id" value="{html.escape(m["merchant_id"])}">'
            f"{html.escape(m.get('name') or m['merchant_id'])} "
            f"<small>({html.escape(m['merchant_id'])})</small>"
            "</button></li>"
            for m in self.merchants
        )
        page = (
            '<!doctype html><html lang="ja"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<title>orderhub — サインイン / Sign in</title><link rel="stylesheet" href="/signin.css"></head>'
            '<body><main class="signin"><h1>orderhub</h1>'
            "<p>ローカル環境: サインインするマーチャントを選んでください。<br>"
            "Local cloud: choose the merchant to sign in as.</p>"
            f'<form method="post" action="/oauth2/authorize">{hidden}<ul>{buttons}</ul></form>'
            "<p><small>On AWS this is the user pool's sign-in page (e-mail and password).</small></p>"
            "</main></body></html>"
        )
        return (
            200,
            [("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store")],
            page.encode(),
        )

    def authorize_submit(self, form: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        problem = self._check_client(form, "redirect_uri")
        merchant = form.get("merchant_id", "")
        if problem is None and merchant not in {m["merchant_id"] for m in self.merchants}:
            problem = "merchant_id is not a seeded merchant"
        if problem:
            return _text(400, problem)
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = {
                "merchant_id": merchant,
                "challenge": form.get("code_challenge", ""),
                "expires": time.monotonic() + CODE_SECONDS,
            }
        target = self.redirect_uri + "?" + urlencode({"code": code, "state": form.get("state", "")})
        return 302, [("location", target), ("cache-control", "no-store")], b""

    def token(self, form: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        if form.get("client_id") != self.client_id:
            return _oauth_error("invalid_client", "client_id is not this console's app client")
        grant = form.get("grant_type")
        with self._lock:
            if grant == "authorization_code":
                entry = self._codes.pop(form.get("code", ""), None)  # a code is used once
                if entry is None or entry["expires"] < time.monotonic():
                    return _oauth_error("invalid_grant", "the code is unknown, used or expired")
                if form.get("redirect_uri") != self.redirect_uri:
                    return _oauth_error(
                        "invalid_grant", "redirect_uri differs from the authorization request's"
                    )
                if pkce_challenge(form.get("code_verifier", "")) != entry["challenge"]:
                    return _oauth_error(
                        "invalid_grant", "the code_verifier does not match the code_challenge"
                    )
                refresh = secrets.token_urlsafe(32)
                self._refresh[refresh] = {
                    "merchant_id": entry["merchant_id"],
                    "expires": time.time() + REFRESH_TOKEN_DAYS * 86400,
                }
                merchant, extra = entry["merchant_id"], {"refresh_token": refresh}
            elif grant == "refresh_token":
                entry = self._refresh.get(form.get("refresh_token", ""))
                if entry is None or entry["expires"] < time.time():
                    return _oauth_error("invalid_grant", "the refresh token is unknown, revoked or expired")
                merchant, extra = entry["merchant_id"], {}
            else:
                return _oauth_error(
                    "unsupported_grant_type", "grant_type must be authorization_code or refresh_token"
                )
        assert self._issue is not None
        id_token = self._issue(merchant, ID_TOKEN_SECONDS)
        body = {
            "id_token": id_token,
            "access_token": id_token,  # the console sends the ID token; it carries custom:merchant_id
            "token_type": "Bearer",
            "expires_in": ID_TOKEN_SECONDS,
            **extra,
        }
        return _json(200, body)

    def revoke(self, form: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        """/oauth2/revoke: the refresh token stops working (sign-out)."""
        with self._lock:
            self._refresh.pop(form.get("token", ""), None)
        return 200, [("cache-control", "no-store")], b""

    def logout(self, query: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        problem = self._check_client(query, "logout_uri")
        if problem:
            return _text(400, problem)
        return 302, [("location", query["logout_uri"]), ("cache-control", "no-store")], b""


def _text(status: int, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("content-type", "text/plain; charset=utf-8")], message.encode()


def _json(status: int, body: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    return (
        status,
        [("content-type", "application/json"), ("cache-control", "no-store")],
        json.dumps(body).encode(),
    )


def _oauth_error(code: str, description: str) -> tuple[int, list[tuple[str, str]], bytes]:
    return _json(400, {"error": code, "error_description": description})


MAX_FORM_BYTES = 16 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _answer(self) -> None:
        console = self.server.console
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        method = self.command.upper()
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_FORM_BYTES:
            status, headers, data = _text(413, "request too large")
            self.close_connection = True
        else:
            form = dict(parse_qsl(self.rfile.read(length).decode("utf-8", "replace"))) if length else {}
            try:
                status, headers, data = self._route(console, method, parts.path, query, form)
            except Exception:
                log.exception("console: error serving %s %s", method, parts.path)
                status, headers, data = _text(500, "internal error")
        self.send_response(status)
        for name, value in [*headers, *console.security_headers()]:
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)

    @staticmethod
    def _route(console: ConsoleServer, method: str, path: str, query: dict, form: dict) -> tuple:
        if path == "/oauth2/authorize":
            if method == "GET":
                return console.authorize_page(query)
            if method == "POST":
                return console.authorize_submit(form)
        elif path == "/oauth2/token" and method == "POST":
            return console.token(form)
        elif path == "/oauth2/revoke" and method == "POST":
            return console.revoke(form)
        elif path == "/logout" and method == "GET":
            return console.logout(query)
        elif path == "/config.json" and method in ("GET", "HEAD"):
            return (
                200,
                [("content-type", "application/json"), ("cache-control", "no-cache")],
                json.dumps(console.config()).encode(),
            )
        elif method in ("GET", "HEAD"):
            return console.static(path)
        return _text(405, "method not allowed")

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("console %s", format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    console: ConsoleServer
