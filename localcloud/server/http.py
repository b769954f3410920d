"""A local stand-in for API Gateway HTTP APIs: routes, JWT authorizers, payload format 2.0.

Routes come from the functions' `HttpApi` events; authorizers from the `AWS::Serverless::HttpApi`
resources (`Auth.Authorizers` with `JwtConfiguration`, `Auth.DefaultAuthorizer`).
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from localcloud import limits, tokens
from localcloud.functions import PayloadTooLarge
from localcloud.intrinsics import ACCOUNT_ID, HTTP_API_ID
from localcloud.serving import Served
from localcloud.template import Template

log = logging.getLogger("localcloud.http")

MAX_BODY_BYTES = limits.HTTP_API_PAYLOAD_BYTES
ADMIN_PREFIX = "/_local/"

# (status, headers, body)
HttpResponse = tuple[int, list[tuple[str, str]], bytes]
# admin handler: (method, path, query, headers) -> (status, json body) or None when not an admin route
AdminHandler = Callable[[str, str, dict[str, str], list[tuple[str, str]]], tuple[int, Any] | None]
# invoker: (function logical id, event) -> handler result
Invoker = Callable[[str, dict], Any]


# ---------------------------------------------------------------------- model
@dataclass
class Cors:
    """An HTTP API's CorsConfiguration, applied as API Gateway applies it: the gateway answers a
    preflight (OPTIONS with Access-Control-Request-Method) itself when no route matches OPTIONS on
    that path; a route that does (`ANY` matches OPTIONS) takes the preflight, its authorizer
    included, as on AWS. The gateway adds the CORS headers to every answer to an allowed origin,
    replacing any the function set. An origin not listed gets no CORS header, and the browser
    refuses the answer.

    Locally the console is served over http on 127.0.0.1 (localcloud/console.py), where AWS serves
    it over https: an https origin on a loopback host also admits its http form, and only there."""

    allow_origins: list[str]
    allow_methods: list[str]
    allow_headers: list[str]
    expose_headers: list[str] = field(default_factory=list)
    max_age: int | None = None
    allow_credentials: bool = False

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Cors:
        def words(name: str) -> list[str]:
            value = config.get(name) or []
            return [str(v) for v in ([value] if isinstance(value, str) else value)]

        return cls(
            allow_origins=[o.rstrip("/") for o in words("AllowOrigins")],
            allow_methods=[m.upper() for m in words("AllowMethods")],
            allow_headers=[h.lower() for h in words("AllowHeaders")],
            expose_headers=words("ExposeHeaders"),
            max_age=int(config["MaxAge"]) if config.get("MaxAge") is not None else None,
            allow_credentials=bool(config.get("AllowCredentials")),
        )

    def origin_allowed(self, origin: str) -> bool:
        if "*" in self.allow_origins or origin in self.allow_origins:
            return True
        scheme, _, host = origin.partition("://")
        loopback = host.split(":")[0] in ("127.0.0.1", "localhost")
        return scheme == "http" and loopback and f"https://{host}" in self.allow_origins

    def headers_for(self, origin: str) -> list[tuple[str, str]]:
        if not origin or not self.origin_allowed(origin):
            return []
        out = [
            ("access-control-allow-origin", "*" if "*" in self.allow_origins else origin),
            ("vary", "origin"),
        ]
        if self.allow_credentials:
            out.append(("access-control-allow-credentials", "true"))
        if self.expose_headers:
            out.append(("access-control-expose-headers", ", ".join(self.expose_headers)))
        return out

    def preflight(self, origin: str, method: str, requested_headers: str) -> HttpResponse:
        wanted = [h.strip().lower() for h in requested_headers.split(",") if h.strip()]
        ok = (
            self.origin_allowed(origin)
            and ("*" in self.allow_methods or method.upper() in self.allow_methods)
            and ("*" in self.allow_headers or all(h in self.allow_headers for h in wanted))
        )
        if not ok:
            return 204, [], b""
        headers = self.headers_for(origin)
        headers.append(("access-control-allow-methods", ", ".join(self.allow_methods)))
        if self.allow_headers:
            headers.append(("access-control-allow-headers", ", ".join(self.allow_headers)))
        if self.max_age is not None:
            headers.append(("access-control-max-age", str(self.max_age)))
        return 204, headers, b""


def build_cors(template: Template) -> Cors | None:
    """The CorsConfiguration of the template's HTTP API (None when it has none)."""
    for res in template.resources("AWS::Serverless::HttpApi").values():
        config = (res.get("Properties") or {}).get("CorsConfiguration")
        if config:
            return Cors.from_config(template.resolve(config)) if isinstance(config, dict) else None
    return None


@dataclass
class Authorizer:
    name: str
    issuer: str
    audiences: list[str]
    header: str = "authorization"
    supported: bool = True


@dataclass
class Route:
    method: str  # upper case, or ANY
    path: str
    function_id: str
    authorizer: Authorizer | None
    scopes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.segments = _split_path(self.path)
        kinds = []
        for seg in self.segments:
            if seg.startswith("{") and seg.endswith("+}"):
                kinds.append(2)
            elif seg.startswith("{") and seg.endswith("}"):
                kinds.append(1)
            else:
                kinds.append(0)
        self.kinds = tuple(kinds)

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, segments: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for i, (pattern, kind) in enumerate(zip(self.segments, self.kinds, strict=True)):
            if kind == 2:
                rest = segments[i:]
                if not rest:
                    return None
                params[pattern[1:-2]] = "/".join(rest)
                return params
            if i >= len(segments):
                return None
            if kind == 1:
                params[pattern[1:-1]] = segments[i]
            elif pattern != segments[i]:
                return None
        return params if len(segments) == len(self.segments) else None

    def specificity(self) -> tuple:
        """Sorts before other matches when more specific: literal segments beat parameters."""
        return (self.kinds, -len(self.segments), self.method == "ANY")


def _split_path(path: str) -> list[str]:
    return [unquote(s) for s in path.strip("/").split("/") if s != ""]


class Router:
    def __init__(self, routes: list[Route]):
        self.routes = routes

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path parameters, path_known). path_known tells a method mismatch from an unknown path."""
        segments = _split_path(path)
        path_hits = [(r, p) for r in self.routes if (p := r.match(segments)) is not None]
        hits = [(r, p) for r, p in path_hits if r.method in (method, "ANY")]
        if not hits:
            return None, {}, bool(path_hits)
        route, params = min(hits, key=lambda hit: hit[0].specificity())
        return route, params, True


# ---------------------------------------------------------------------- from the template
def build_routes(template: Template) -> tuple[list[Route], dict[str, Authorizer]]:
    """Routes of every HttpApi event, and the authorizers by name."""
    apis: dict[str, tuple[dict[str, Authorizer], str | None]] = {}
    global_api = (template.globals.get("HttpApi") or {}).get("Auth") or {}
    all_authorizers: dict[str, Authorizer] = {}

    def api_auth(auth: dict) -> tuple[dict[str, Authorizer], str | None]:
        auth = template.resolve(auth)
        found: dict[str, Authorizer] = {}
        for name, spec in (auth.get("Authorizers") or {}).items():
            jwt = spec.get("JwtConfiguration")
            source = spec.get("IdentitySource", "$request.header.Authorization")
            header = (
                source.rsplit(".", 1)[-1].lower()
                if source.startswith("$request.header.")
                else "authorization"
            )
            if jwt is None:
                log.warning("authorizer %s is not a JWT authorizer; its routes will answer 401 locally", name)
                found[name] = Authorizer(name, "", [], header, supported=False)
                continue
            audience = jwt.get("audience") or []
            found[name] = Authorizer(
                name,
                str(jwt.get("issuer", "")),
                [audience] if isinstance(audience, str) else [str(a) for a in audience],
                header,
            )
        return found, auth.get("DefaultAuthorizer")

    for lid, res in template.resources("AWS::Serverless::HttpApi").items():
        props = res.get("Properties") or {}
        apis[lid] = api_auth(merge_dicts(global_api, props.get("Auth") or {}))
        all_authorizers.update(apis[lid][0])
    implicit = api_auth(global_api)
    all_authorizers.update(implicit[0])

    routes: list[Route] = []
    for fn in template.functions().values():
        for event in fn.events:
            if event.type != "HttpApi":
                continue
            api_id = template.logical_id_of(event.raw.get("ApiId"))
            authorizers, default = apis.get(api_id, implicit) if api_id else implicit
            props = event.properties
            auth = props.get("Auth") or {}
            auth_name = auth.get("Authorizer", default)
            if auth_name in (None, "NONE"):
                authorizer = None
            elif auth_name in authorizers:
                authorizer = authorizers[auth_name]
            else:
                raise ValueError(f"{fn.logical_id}.{event.name}: unknown authorizer {auth_name}")
            method = str(props.get("Method", "ANY")).upper()
            routes.append(
                Route(
                    method="ANY" if method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method,
                    path=props.get("Path", "/{proxy+}"),
                    function_id=fn.logical_id,
                    authorizer=authorizer,
                    scopes=list(auth.get("AuthorizationScopes") or []),
                )
            )
    seen: dict[str, str] = {}
    for r in routes:
        if r.route_key in seen:
            raise ValueError(f"route {r.route_key} is defined twice ({seen[r.route_key]}, {r.function_id})")
        seen[r.route_key] = r.function_id
    return routes, all_authorizers


def merge_dicts(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = merge_dicts(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


# ---------------------------------------------------------------------- event / response
def _claim_value(value: Any) -> str:
    """API Gateway hands JWT claims to the function as strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_claim_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def build_event(
    route: Route,
    path_params: dict[str, str],
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    claims: dict[str, Any] | None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload format 2.0 event."""
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    query: dict[str, str] = {}
    for k, v in parse_qsl(raw_query, keep_blank_values=True):
        query[k] = f"{query[k]},{v}" if k in query else v
    now = datetime.now(UTC)
    request_id = base64.urlsafe_b64encode(uuid.uuid4().bytes)[:16].decode()
    domain = merged.get("host", "127.0.0.1")
    context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": HTTP_API_ID,
        "domainName": domain,
        "domainPrefix": domain.split(".")[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": merged.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if claims is not None:
        scope = claims.get("scope") or claims.get("scp")
        scopes = scope.split() if isinstance(scope, str) else scope
        context["authorizer"] = {
            "jwt": {"claims": {k: _claim_value(v) for k, v in claims.items()}, "scopes": scopes or None}
        }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": merged,
        "requestContext": context,
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_params:
        event["pathParameters"] = path_params
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def json_response(status: int, payload: Any, extra: list[tuple[str, str]] | None = None) -> HttpResponse:
    return status, [("content-type", "application/json"), *(extra or [])], json.dumps(payload).encode()


def to_http_response(result: Any) -> HttpResponse:
    """Map a handler's result to HTTP as API Gateway does for payload format 2.0."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return 200, [("content-type", "application/json")], json.dumps(result).encode()
    headers = [(str(k).lower(), str(v)) for k, v in (result.get("headers") or {}).items()]
    for k, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(k).lower(), str(v)) for v in values)
    headers.extend(("set-cookie", str(c)) for c in result.get("cookies") or [])
    body = result.get("body")
    if body is None:
        data = b""
    elif result.get("isBase64Encoded"):
        data = base64.b64decode(body)
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        data = json.dumps(body).encode()
    if data and not any(k == "content-type" for k, _ in headers):
        headers.append(("content-type", "application/json"))
    return int(result["statusCode"]), headers, data


# ---------------------------------------------------------------------- the server
class ApiGateway:
    """Turns an HTTP request into an authorized handler invocation."""

    def __init__(
        self,
        router: Router,
        jwks: Callable[[], dict[str, Any]],
        invoke: Invoker,
        admin: AdminHandler | None = None,
        cors: Cors | None = None,
    ):
        self.router = router
        self.cors = cors
        self.jwks = jwks  # the identity provider's published key set (API Gateway reads its jwks_uri)
        self.invoke = invoke
        self.admin = admin
        self.paused = False  # set while another LocalCloud runs in this process

    def authorize(
        self, route: Route, headers: list[tuple[str, str]]
    ) -> tuple[dict | None, HttpResponse | None]:
        authorizer = route.authorizer
        if authorizer is None:
            return None, None
        unauthorized = json_response(401, {"message": "Unauthorized"})
        if not authorizer.supported:
            return None, unauthorized
        value = next((v for k, v in headers if k.lower() == authorizer.header), "")
        token = value[7:].strip() if value[:7].lower() == "bearer " else value.strip()
        if not token:
            return None, unauthorized
        try:
            claims = tokens.verify(
                token, self.jwks(), issuer=authorizer.issuer, audiences=authorizer.audiences
            )
        except tokens.InvalidToken as exc:
            log.info("401 on %s: %s", route.route_key, exc)
            return None, unauthorized
        if route.scopes:
            scope = claims.get("scope") or claims.get("scp") or ""
            held = set(scope.split() if isinstance(scope, str) else scope)
            if not held & set(route.scopes):
                return None, json_response(403, {"message": "Forbidden"})
        return claims, None

    def handle(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> HttpResponse:
        origin = next((v for k, v in headers if k.lower() == "origin"), "")
        if self.cors is None or not origin:
            return self._handle(method, target, headers, body, source_ip)
        asked = next((v for k, v in headers if k.lower() == "access-control-request-method"), "")
        requested = next((v for k, v in headers if k.lower() == "access-control-request-headers"), "")
        preflight = method == "OPTIONS" and bool(asked)
        if preflight and self.router.match("OPTIONS", urlsplit(target).path or "/")[0] is None:
            return self.cors.preflight(origin, asked, requested)  # no route takes it: the gateway answers
        # A route takes the request, a preflight too (ANY matches OPTIONS): its authorizer and its
        # function answer, and the gateway puts the CORS headers on that answer.
        status, out, data = self._handle(method, target, headers, body, source_ip)
        out = [(k, v) for k, v in out if not k.lower().startswith("access-control-")]
        cors = (
            self.cors.preflight(origin, asked, requested)[1] if preflight else self.cors.headers_for(origin)
        )
        return status, out + cors, data

    def _handle(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> HttpResponse:
        if self.paused:
            return json_response(503, {"message": "Service Unavailable (paused: another local cloud runs)"})
        parts = urlsplit(target)
        raw_path = parts.path or "/"
        if raw_path.startswith(ADMIN_PREFIX) and self.admin is not None:
            query = dict(parse_qsl(parts.query))
            answer = self.admin(method, raw_path, query, headers)
            if answer is not None:
                return json_response(*answer)
        route, params, path_known = self.router.match(method, raw_path)
        if route is None:
            why = f"no route for {method} {raw_path}" + (" (method not allowed)" if path_known else "")
            return json_response(404, {"error": {"code": "not_found", "message": why}})
        claims, denied = self.authorize(route, headers)
        if denied is not None:
            return denied
        event = build_event(
            route,
            params,
            method=method,
            raw_path=raw_path,
            raw_query=parts.query,
            headers=headers,
            body=body,
            source_ip=source_ip,
            claims=claims,
        )
        started = time.monotonic()
        try:
            result = self.invoke(route.function_id, event)
        except PayloadTooLarge as exc:
            if exc.which == "request":
                return json_response(413, {"message": "Request Entity Too Large"})
            return json_response(500, {"message": "Internal Server Error"})
        except Exception:  # logged with its traceback by the invoker
            return json_response(500, {"message": "Internal Server Error"})
        if time.monotonic() - started > limits.HTTP_API_TIMEOUT_SECONDS:
            log.error(
                "%s answered after the HTTP API's %ss integration timeout",
                route.route_key,
                limits.HTTP_API_TIMEOUT_SECONDS,
            )
            return json_response(503, {"message": "Service Unavailable"})
        try:
            return to_http_response(result)
        except (TypeError, ValueError) as exc:
            log.error("%s returned a malformed response: %s", route.function_id, exc)
            return json_response(500, {"message": "Internal Server Error"})


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        started = time.monotonic()
        method = self.command.upper()
        try:
            body, early = self._read_body()
            if early is not None:
                status, headers, data = early
            else:
                status, headers, data = self.server.gateway.handle(
                    method, self.path, list(self.headers.items()), body, self.client_address[0]
                )
        except Exception:
            log.exception("error serving %s %s", method, self.path)
            status, headers, data = json_response(500, {"message": "Internal Server Error"})
        self.send_response(status)
        for name, value in headers:
            if name not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if method != "HEAD" and data:
            self.wfile.write(data)
        cid = next((v for k, v in headers if k.lower() == "x-correlation-id"), None)
        log.info(
            "%s %s %d %.0fms%s",
            method,
            self.path,
            status,
            (time.monotonic() - started) * 1000,
            f" correlation_id={cid}" if cid else "",  # the id the functions' lines carry
        )

    def _read_body(self) -> tuple[bytes, HttpResponse | None]:
        too_large = json_response(413, {"message": "Request Entity Too Large"})
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks, size = [], 0
            while True:
                line = self.rfile.readline(1024)
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    self.rfile.readline(1024)
                    break
                size += n
                if size > MAX_BODY_BYTES:
                    self.close_connection = True
                    return b"", too_large
                chunks.append(self.rfile.read(n))
                self.rfile.readline(1024)
            return b"".join(chunks), None
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            if length <= 8 * MAX_BODY_BYTES:  # read it away, so the client sees the 413, not a reset
                while length > 0:
                    length -= len(self.rfile.read(min(length, 1 << 20)) or b"x" * length)
            return b"", too_large
        return (self.rfile.read(length) if length else b""), None

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass  # one line per request is logged by _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    gateway: ApiGateway


class HttpServer:
    """The local API on 127.0.0.1:<port> (port 0 picks a free one)."""

    def __init__(self, gateway: ApiGateway, host: str = "127.0.0.1", port: int = 0):
        server = _Server((host, port), _RequestHandler)
        server.gateway = gateway
        self._served = Served(server, "localcloud-http")

    @property
    def gateway(self) -> ApiGateway:
        return self._served.server.gateway

    @property
    def port(self) -> int:
        return self._served.port

    @property
    def url(self) -> str:
        return self._served.url

    def start(self) -> None:
        self._served.start()

    def stop(self) -> None:
        self._served.stop()
