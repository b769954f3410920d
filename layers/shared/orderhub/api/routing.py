"""The HTTP APIs' router: API Gateway HTTP API requests (payload format 2.0) to the route that
serves them, the request being served, and the answer's shape.

What the merchant and warehouse APIs need of a router is small: a method and a path template
(`/orders/<order_id>`) per route, the path's parameters as keyword arguments, error handlers
chosen by exception class, and a 404 of our own. Powertools' event handler does this too, but
importing it loads every resolver it has (AppSync's, so asyncio, and every event data class):
about 40 ms of each cold start of the merchant API, a third of what that function imports beyond
boto3 (docs/architecture.md, "Cold start"). This module is what orderhub uses of it.

Matching: a route without parameters is matched exactly first, so `/orders/counts` is never
taken for `/orders/<order_id>`; then the routes with parameters, in the order they were added.
A parameter is one path segment (no `/`), passed as API Gateway gives it (percent-encoded)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

_PARAM = re.compile(r"<(\w+)>")
_current: ContextVar[Request] = ContextVar("orderhub_http_request")


class Request:
    """The request being served: a read-only view of its payload 2.0 event."""

    __slots__ = ("raw_event", "headers")

    def __init__(self, event: dict[str, Any]):
        self.raw_event = event
        # API Gateway sends header names in lower case; a test's hand-made event may not.
        self.headers: dict[str, str] = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}

    @property
    def _context(self) -> dict[str, Any]:
        return self.raw_event.get("requestContext") or {}

    @property
    def http_method(self) -> str:
        return str((self._context.get("http") or {}).get("method") or "").upper()

    @property
    def path(self) -> str:
        """The path the route is matched on: `rawPath`, without the stage's prefix unless the stage
        is `$default` (the only stage the template deploys)."""
        raw = self.raw_event.get("rawPath") or "/"
        stage = self._context.get("stage") or "$default"
        if stage != "$default" and raw.startswith(f"/{stage}"):
            return raw[len(stage) + 1 :] or "/"
        return raw

    @property
    def request_id(self) -> str | None:
        return self._context.get("requestId")

    @property
    def query_string_parameters(self) -> dict[str, str]:
        return self.raw_event.get("queryStringParameters") or {}

    @property
    def body(self) -> str | None:
        return self.raw_event.get("body")

    @property
    def is_base64_encoded(self) -> bool:
        return bool(self.raw_event.get("isBase64Encoded"))

    @property
    def decoded_body(self) -> str | None:
        """The body as text; ValueError when it is base64 that is not, or not UTF-8 once decoded."""
        if self.is_base64_encoded and self.body:
            return base64.b64decode(self.body.encode(), validate=False).decode()
        return self.body


class Response:
    """An answer: a text body as it is, a bytes body base64-encoded (a CSV file)."""

    __slots__ = ("status_code", "body", "headers")

    def __init__(
        self,
        status_code: int,
        body: str | bytes = "",
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.status_code = status_code
        self.body = body
        self.headers = dict(headers or {})
        if content_type:
            self.headers.setdefault("Content-Type", content_type)

    def to_answer(self) -> dict[str, Any]:
        """The Lambda proxy answer of payload format 2.0."""
        binary = isinstance(self.body, bytes)
        return {
            "statusCode": self.status_code,
            "body": base64.b64encode(self.body).decode() if binary else self.body,  # type: ignore[arg-type]
            "isBase64Encoded": binary,
            "headers": self.headers,
        }


class Route:
    __slots__ = ("method", "rule", "func", "responses", "pattern")

    def __init__(self, method: str, rule: str, func: Callable[..., Response], responses: dict | None):
        self.method = method
        self.rule = rule
        self.func = func
        self.responses = responses  # extra OpenAPI answers (scripts/openapi.py)
        parts = _PARAM.split(rule)  # literal, parameter, literal, ...
        regex = "".join(f"(?P<{p}>[^/]+)" if i % 2 else re.escape(p) for i, p in enumerate(parts))
        self.pattern = re.compile(f"^{regex}$") if len(parts) > 1 else None

    @property
    def openapi_path(self) -> str:
        return _PARAM.sub(r"{\1}", self.rule)


class Router:
    """The routes of one capability (orderhub/api/<capability>.py), added to an App."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(self, rule: str, method: str, responses: dict | None = None):
        def add(func: Callable[..., Response]) -> Callable[..., Response]:
            self._add(Route(method.upper(), rule, func, responses))
            return func

        return add

    def _add(self, route: Route) -> None:
        self.routes.append(route)

    def get(self, rule: str, responses: dict | None = None):
        return self.route(rule, "GET", responses)

    def post(self, rule: str, responses: dict | None = None):
        return self.route(rule, "POST", responses)

    def put(self, rule: str, responses: dict | None = None):
        return self.route(rule, "PUT", responses)

    def patch(self, rule: str, responses: dict | None = None):
        return self.route(rule, "PATCH", responses)

    def delete(self, rule: str, responses: dict | None = None):
        return self.route(rule, "DELETE", responses)


class App(Router):
    """One function's API: its routes, its error handlers, and `resolve(event)` -> the answer."""

    def __init__(self) -> None:
        super().__init__()
        self._exact: dict[tuple[str, str], Route] = {}
        self._templated: list[Route] = []
        self._shapes: set[tuple[str, str]] = set()
        self._handlers: dict[type, Callable[[Exception], Response]] = {}
        self._not_found: Callable[[], Response] | None = None

    def _add(self, route: Route) -> None:
        shape = (route.method, _PARAM.sub("<>", route.rule))
        if shape in self._shapes:
            raise ValueError(f"{route.method} {route.rule} is routed twice")  # at import, not per request
        self._shapes.add(shape)
        super()._add(route)
        if route.pattern is None:
            self._exact[(route.method, route.rule)] = route
        else:
            self._templated.append(route)

    def include_router(self, router: Router) -> None:
        for route in router.routes:
            self._add(route)

    def exception_handler(self, exc_class: type):
        """The handler of `exc_class` and its subclasses (the most specific registered wins)."""

        def register(func: Callable[[Exception], Response]):
            self._handlers[exc_class] = func
            return func

        return register

    def not_found(self, func: Callable[[], Response]):
        self._not_found = func
        return func

    def resolve(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        request = Request(event)
        token = _current.set(request)
        try:
            return self._answer(request).to_answer()
        finally:
            _current.reset(token)

    def _answer(self, request: Request) -> Response:
        try:
            route, params = self._match(request.http_method, request.path)
            if route is None:
                if self._not_found is None:
                    return Response(404, '{"message":"Not found"}', "application/json")
                return self._not_found()
            return route.func(**params)
        except Exception as exc:
            for cls in type(exc).__mro__:
                handler = self._handlers.get(cls)
                if handler is not None:
                    return handler(exc)
            raise

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        route = self._exact.get((method, path))
        if route is not None:
            return route, {}
        for route in self._templated:
            if route.method == method:
                m = route.pattern.match(path)  # type: ignore[union-attr]
                if m:
                    return route, m.groupdict()
        return None, {}


def current() -> Request:
    """The request being served (one per thread or task: the local cloud serves several at once)."""
    return _current.get()
