"""Lambda tasks of the cancel state machine: one step per invocation (event["step"]); the steps
live in orderhub.sync.flows. An exception's class name is the error the state machine sees
(ConcurrentUpdate is retried)."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from orderhub.sync import flows

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    logger.append_keys(step=event.get("step"), order_id=(event.get("flow") or {}).get("order_id"))
    return flows.handle(event)
