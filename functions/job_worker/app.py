"""SQS -> background jobs (CSV import and fulfillment, apply item mappings, refresh). One job per
message; a long job continues in a new message before the invocation times out."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from orderhub.jobs import runner

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)
# A job kind's module (and what it needs) is imported when a job of that kind first runs:
# runner.runner_for, runner.KIND_MODULES.


def record_handler(record: SQSRecord, lambda_context=None) -> dict:
    if lambda_context is None or not hasattr(lambda_context, "get_remaining_time_in_millis"):
        return runner.run(record.body)

    def time_left() -> float:
        return lambda_context.get_remaining_time_in_millis() / 1000

    return runner.run(record.body, time_left)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
