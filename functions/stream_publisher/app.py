"""DynamoDB stream -> EventBridge: orderhub.events.stream puts a batch's order events in as
few PutEvents requests as hold them, and reports the first record it could not publish."""

from __future__ import annotations

from orderhub.kernel import coldstart

# The cold start's imports, without the garbage collector; then frozen out of its full collections
# (kernel/coldstart.py, docs/architecture.md "Cold start").
with coldstart.loading():
    from aws_lambda_powertools import Logger

    from orderhub.events import stream
    from orderhub.kernel import correlation

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    correlation.begin(context=context)  # one per batch (each change's own id is on its record)
    return stream.publish_batch(event)
