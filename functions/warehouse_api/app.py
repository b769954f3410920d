"""The warehouse HTTP API: shipment requests by stage, stage reports. Routes live in
orderhub.api.warehouse (its own credential)."""

from __future__ import annotations

from orderhub.kernel import coldstart

# The cold start's imports, without the garbage collector; then frozen out of its full collections
# (kernel/coldstart.py, docs/architecture.md "Cold start").
with coldstart.loading():
    from aws_lambda_powertools import Logger

    from orderhub.api.warehouse import app
    from orderhub.kernel import config, correlation

config.require("cursor_key_arn", why="GET /warehouse/shipments signs its cursors (store/paging.py)")
logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    correlation.begin(context=context)  # one per request
    return correlation.with_header(app.resolve(event, context))
