"""DynamoDB stream -> EventBridge. Only order items are published (the event source filter
says so too); a record whose events cannot be put is reported so Lambda retries from it."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from orderhub.events import publish
from orderhub.kernel import aws
from orderhub.kernel.config import settings
from orderhub.store import db, keys

logger = Logger()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


class PublishFailed(Exception):
    pass


def _image(image: dict | None) -> dict | None:
    if not image or image.get("sk") != keys.ORDER_SK:
        return None
    return db.order_from_item(image)


def record_handler(record: DynamoDBRecord) -> int:
    ddb = record.dynamodb
    if ddb is None or (ddb.keys or {}).get("sk") != keys.ORDER_SK:
        return 0
    pairs = publish.events_for(_image(ddb.old_image), _image(ddb.new_image))
    if not pairs:
        return 0
    resp = aws.client("events").put_events(Entries=publish.entries(pairs, settings().event_bus_name))
    if resp.get("FailedEntryCount"):
        raise PublishFailed(str([e for e in resp["Entries"] if e.get("ErrorCode")]))
    return len(pairs)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
