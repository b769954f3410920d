"""SQS -> background jobs (CSV import, apply item mappings, refresh). One job per message."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from orderhub import jobs
from orderhub.job_kinds import register_all

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)
register_all()


def record_handler(record: SQSRecord) -> dict:
    return jobs.run(record.body)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
