"""The warehouse HTTP API: shipment requests by stage, stage reports. Routes live in
orderhub.api.warehouse (its own credential)."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from orderhub.api.warehouse import app
from orderhub.kernel import config, correlation

config.require("cursor_key_arn", why="GET /warehouse/shipments signs its cursors (store/paging.py)")
logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    correlation.begin(context=context)  # one per request
    return correlation.with_header(app.resolve(event, context))
