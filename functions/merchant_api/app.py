"""The merchant HTTP API. Routes live in orderhub.api (one router per capability, assembled in
orderhub.api.merchant); errors are mapped once, in orderhub.kernel.http."""

from __future__ import annotations

from orderhub.kernel import coldstart

# The cold start's imports, without the garbage collector; then frozen out of its full collections
# (kernel/coldstart.py, docs/architecture.md "Cold start").
with coldstart.loading():
    from aws_lambda_powertools import Logger

    from orderhub.api import merchant
    from orderhub.kernel import config, correlation

config.require("cancel_state_machine_arn", why="POST /orders/{id}/cancel starts the cancel flow")
config.require(
    "modify_state_machine_arn",
    why="POST /orders/{id}/refresh applies a marketplace recipient change as a webhook does",
)
config.require("cursor_key_arn", why="the lists sign their cursors (store/paging.py)")
logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    correlation.begin(context=context)  # one per request; the merchant id comes with the token
    return correlation.with_header(merchant.resolve(event, context))
