"""What the HTTP APIs (merchant, warehouse) share: JSON responses, the authorizer's claims,
request bodies, and the error handlers (the status and body come from orderhub.kernel.http)."""

from __future__ import annotations

from typing import Any

from orderhub.api import routing
from orderhub.api.routing import Response
from orderhub.kernel.errors import NotFound, OrderhubError, ValidationFailed
from orderhub.kernel.http import dumps, error_status_body, parse_json


def json_response(status: int, body) -> Response:
    return Response(status_code=status, content_type="application/json", body=dumps(body))


def csv_response(out, file_name: str) -> Response:
    """A CSV download (orders/csvio.Download): the bytes as they are, the charset they are in, a
    file name, and the download's own headers (the 〓 report)."""
    charset = "utf-8" if out.encoding == "utf-8" else "shift_jis"
    return Response(
        status_code=200,
        content_type=f"text/csv; charset={charset}",
        body=out.data,
        headers={"Content-Disposition": f'attachment; filename="{file_name}"', **out.headers()},
    )


def results_response(results: list[dict]) -> Response:
    """200 with a result per entry and the counts of those that succeeded and failed."""
    ok = sum(r["ok"] for r in results)
    return json_response(200, {"results": results, "succeeded": ok, "failed": len(results) - ok})


def claims(event) -> dict[str, Any]:
    """The JWT claims the HTTP API's authorizer put in the request context."""
    ctx = event.raw_event.get("requestContext") or {}
    return ((ctx.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}


def json_body(event, allowed: set[str] | None = None, required: bool = False) -> dict[str, Any]:
    """The request's JSON object; unknown fields are refused when `allowed` is given."""
    if not event.body:
        if required:
            raise ValidationFailed("a JSON body is required", field="body")
        return {}
    try:
        text = event.decoded_body
    except ValueError:  # base64 that is not, or does not decode to UTF-8
        raise ValidationFailed("the body must be JSON", field="body") from None
    data = parse_json(text)  # kernel/http.py: the one JSON parser of bodies (nesting bounded)
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object", field="body")
    if allowed is not None:
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValidationFailed(f"unknown field {unknown[0]!r}", field=unknown[0])
    return data


def install_error_handlers(app, logger) -> None:
    """Domain errors become their 4xx JSON; anything else a 500 with the request id."""

    @app.exception_handler(OrderhubError)
    def handle_domain_error(exc: OrderhubError):
        logger.info("request refused", extra={"code": exc.code, "field": exc.field, "status": exc.status})
        return json_response(*error_status_body(exc))

    @app.exception_handler(Exception)
    def handle_unexpected(exc: Exception):
        logger.exception("request failed")
        return json_response(*error_status_body(exc, routing.current().request_id))

    @app.not_found
    def not_found():
        return json_response(*error_status_body(NotFound("no such route")))
