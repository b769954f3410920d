"""SQS (Amazon SP-API ORDER_CHANGE notifications) -> the ingest queue (docs/pull.md). Each
message is handled alone; one that fails is delivered again and then dead-lettered."""

from __future__ import annotations

from orderhub.kernel import coldstart

# The cold start's imports, without the garbage collector; then frozen out of its full collections
# (kernel/coldstart.py, docs/architecture.md "Cold start").
with coldstart.loading():
    from aws_lambda_powertools import Logger

    from orderhub.kernel import batch, correlation
    from orderhub.pull import notified

logger = Logger()


def record_handler(record: dict) -> str:
    correlation.begin()  # one per notification
    return notified.process_amazon(record["body"])


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    correlation.begin(context=context)  # each record then begins its own
    return batch.each_record(event, record_handler)
