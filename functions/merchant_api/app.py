"""The merchant HTTP API. Routes live in orderhub.api.merchant; errors are mapped once, in
orderhub.api.common."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from orderhub.api.common import install_error_handlers, json_response
from orderhub.api.merchant import router

logger = Logger()
app = APIGatewayHttpResolver()
app.include_router(router)
install_error_handlers(app, logger)


@app.get("/health")
def health():
    """Liveness check."""
    return json_response(200, {"status": "ok"})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    return app.resolve(event, context)
