"""The merchant HTTP API. Routes live in orderhub.merchant_routes; errors are mapped here, once."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from orderhub.errors import OrderhubError
from orderhub.merchant_routes import json_response, router

logger = Logger()
app = APIGatewayHttpResolver()
app.include_router(router)


@app.get("/health")
def health():
    """Liveness check."""
    return json_response(200, {"status": "ok"})


@app.exception_handler(OrderhubError)
def handle_domain_error(exc: OrderhubError):
    logger.info("request refused", extra={"code": exc.code, "field": exc.field, "status": exc.status})
    return json_response(exc.status, exc.to_body())


@app.exception_handler(Exception)
def handle_unexpected(exc: Exception):
    logger.exception("request failed")
    request_id = app.current_event.request_context.request_id
    body = {"error": {"code": "internal_error", "message": "unexpected error", "request_id": request_id}}
    return json_response(500, body)


@app.not_found
def not_found(_exc):
    return json_response(404, {"error": {"code": "not_found", "message": "no such route"}})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    return app.resolve(event, context)
