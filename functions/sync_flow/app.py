"""Lambda tasks of the cancel state machine: one step per invocation (event["step"]); the steps
live in orderhub.sync.flows. An exception's class name is the error the state machine sees
(ConcurrentUpdate is retried)."""

from __future__ import annotations

from orderhub.kernel import coldstart

# The cold start's imports, without the garbage collector; then frozen out of its full collections
# (kernel/coldstart.py, docs/architecture.md "Cold start").
with coldstart.loading():
    from aws_lambda_powertools import Logger

    from orderhub.kernel import correlation
    from orderhub.sync import flows

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    flow = event.get("flow") or {}
    correlation.begin(
        flow.get(correlation.ATTRIBUTE),  # the one that started the flow
        context=context,
        step=event.get("step"),
        merchant_id=flow.get("merchant_id"),
        order_id=flow.get("order_id"),
    )
    return flows.handle(event)
