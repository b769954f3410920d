"""DynamoDB stream -> EventBridge: orderhub.events.stream puts a batch's order events in as
few PutEvents requests as hold them, and reports the first record it could not publish."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from orderhub.events import stream

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    return stream.publish_batch(event)
