"""SQS -> orders. Each message is one delivery; failures are reported per message so the
rest of the batch is kept, and a message that keeps failing reaches the dead-letter queue."""

from __future__ import annotations

from orderhub.kernel import coldstart

# The cold start's imports, without the garbage collector; then frozen out of its full collections
# (kernel/coldstart.py, docs/architecture.md "Cold start").
with coldstart.loading():
    from aws_lambda_powertools import Logger

    from orderhub.kernel import batch, config, correlation
    from orderhub.webhooks import ingest


config.require(
    "cancel_state_machine_arn",
    "modify_state_machine_arn",
    why="a marketplace cancel or recipient change past shipment request starts a flow",
)
logger = Logger()


def record_handler(record: dict) -> str:
    correlation.begin(correlation.of_sqs_record(record))  # the delivery's
    return ingest.process(record["body"], receive_count=batch.receive_count(record))


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    correlation.begin(context=context)  # each record then begins its own
    return batch.each_record(event, record_handler)
