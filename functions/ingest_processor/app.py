"""SQS -> orders. Each message is one delivery; failures are reported per message so the
rest of the batch is kept, and a message that keeps failing reaches the dead-letter queue."""

from __future__ import annotations

import gc

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from orderhub.kernel import config, correlation
from orderhub.webhooks import ingest

config.require(
    "cancel_state_machine_arn",
    "modify_state_machine_arn",
    why="a marketplace cancel or recipient change past shipment request starts a flow",
)
logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> str:
    correlation.begin(correlation.of_sqs_record(record.raw_event))  # the delivery's
    receives = int(record.attributes.get("ApproximateReceiveCount") or 1)
    return ingest.process(record.body, receive_count=receives)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    correlation.begin(context=context)  # each record then begins its own
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


# What the cold start loaded lives as long as the process: frozen out of the garbage collector's
# full collections, one of which the first request's imports (pydantic and the models) would
# otherwise spend 15-30 ms walking it in (docs/architecture.md, "Cold start").
gc.freeze()
