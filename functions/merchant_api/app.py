"""The merchant HTTP API. Parses the request, calls the layer, maps errors (once, below)."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from orderhub import queries
from orderhub.errors import OrderhubError, Unauthorized
from orderhub.http import dumps

logger = Logger()
app = APIGatewayHttpResolver()


def _json(status: int, body) -> Response:
    return Response(status_code=status, content_type="application/json", body=dumps(body))


def merchant_id() -> str:
    """The merchant the JWT authorizer vouched for (claim merchant_id)."""
    ctx = app.current_event.raw_event.get("requestContext") or {}
    claims = ((ctx.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    mid = claims.get("merchant_id")
    if not mid:
        raise Unauthorized("the token has no merchant_id claim", field="Authorization")
    return mid


def _query() -> dict[str, str]:
    return app.current_event.query_string_parameters or {}


@app.get("/health")
def health():
    return _json(200, {"status": "ok"})


@app.get("/orders")
def list_orders():
    return _json(200, queries.list_orders(merchant_id(), _query()))


@app.get("/orders/counts")
def order_counts():
    return _json(200, queries.counts(merchant_id()))


@app.get("/orders/<order_id>")
def get_order(order_id: str):
    return _json(200, queries.get_order_with_history(merchant_id(), order_id))


@app.get("/quarantine")
def list_quarantine():
    return _json(200, queries.list_quarantine(merchant_id(), _query()))


@app.get("/webhook-deliveries/<adapter>/<delivery_id>")
def get_delivery(adapter: str, delivery_id: str):
    return _json(200, queries.get_delivery(merchant_id(), adapter, delivery_id))


@app.exception_handler(OrderhubError)
def handle_domain_error(exc: OrderhubError):
    logger.info("request refused", extra={"code": exc.code, "field": exc.field, "status": exc.status})
    return _json(exc.status, exc.to_body())


@app.exception_handler(Exception)
def handle_unexpected(exc: Exception):
    logger.exception("request failed")
    request_id = app.current_event.request_context.request_id
    body = {"error": {"code": "internal_error", "message": "unexpected error", "request_id": request_id}}
    return _json(500, body)


@app.not_found
def not_found(_exc):
    return _json(404, {"error": {"code": "not_found", "message": "no such route"}})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    return app.resolve(event, context)
