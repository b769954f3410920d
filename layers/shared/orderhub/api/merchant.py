"""The merchant HTTP API assembled: one router per capability, GET /health, and the error
handlers installed once (functions/merchant_api/app.py resolves this app)."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from orderhub.api import closeout, fulfillment, mappings, notifications, orders, sync
from orderhub.api.common import install_error_handlers, json_response
from orderhub.api.routing import App

logger = Logger(child=True)
app = App()
for capability in (orders, fulfillment, closeout, mappings, sync, notifications):
    app.include_router(capability.router)
install_error_handlers(app, logger)


@app.get("/health")
def health():
    """Liveness check."""
    return json_response(200, {"status": "ok"})


def resolve(event: dict, context) -> dict:
    """The merchant API's answer. A CORS preflight (the OPTIONS route, no authorizer) is answered
    204 at once, whatever its path: API Gateway adds the configured CORS headers to it."""
    if (event.get("requestContext") or {}).get("http", {}).get("method") == "OPTIONS":
        return {"statusCode": 204, "headers": {}, "body": ""}
    return app.resolve(event, context)
