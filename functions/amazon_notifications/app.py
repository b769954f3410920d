"""SQS (Amazon SP-API ORDER_CHANGE notifications) -> the ingest queue (docs/pull.md). Each
message is handled alone; one that fails is delivered again and then dead-lettered."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from orderhub.kernel import correlation
from orderhub.pull import notified

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> str:
    correlation.begin()  # one per notification
    return notified.process_amazon(record.body)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    correlation.begin(context=context)  # each record then begins its own
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
