"""A DynamoDB stream batch -> EventBridge (functions/stream_publisher). Only order items are
published (the event source filter says so too).

The events of a batch go in as few PutEvents requests as hold them (10 entries, 256 KiB each;
`publish.requests`), in stream order: a bulk job's writes cost one request per ten events
instead of one per record. At the first record whose events cannot be put (or that cannot be
read), the batch reports that record as failed and stops: Lambda retries the shard from it
(ReportBatchItemFailures), so nothing after it is skipped, and after the retries the record goes
to the stream's on-failure queue. Events of later records in a request that partly failed may be
put again on the retry: consumers see each order version at least once (docs/data-model.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from orderhub.events import publish
from orderhub.kernel import aws
from orderhub.kernel.config import settings
from orderhub.store import db, keys

logger = Logger(child=True)


def _image(image: dict | None) -> dict | None:
    if not image or image.get("sk") != keys.ORDER_SK:
        return None
    return db.order_from_item(image)


def _decoded(image: dict | None) -> dict | None:
    return db.from_av(image) if image else None


def entries_of(record: dict, bus_name: str) -> list[dict]:
    """The EventBridge entries of one stream record as Lambda gives it ([] for anything but an
    order change)."""
    ddb = record.get("dynamodb")
    if not ddb or ((ddb.get("Keys") or {}).get("sk") or {}).get("S") != keys.ORDER_SK:
        return []
    pairs = publish.events_for(_image(_decoded(ddb.get("OldImage"))), _image(_decoded(ddb.get("NewImage"))))
    return publish.entries(pairs, bus_name) if pairs else []


def _failed(records: list[dict], index: int) -> dict:
    sequence = (records[index].get("dynamodb") or {}).get("SequenceNumber")
    return {"batchItemFailures": [{"itemIdentifier": sequence}]}


def publish_batch(event: dict, put: Callable[..., Any] | None = None) -> dict:
    """The batch's events put in order; the partial-batch answer Lambda reads (`put`: PutEvents)."""
    put = put or aws.client("events").put_events
    records = event.get("Records") or []
    bus_name = settings().event_bus_name
    tagged: list[tuple[int, dict]] = []
    unreadable = None
    cids: set[str] = set()
    for index, raw in enumerate(records):
        try:
            found = entries_of(raw, bus_name)
            tagged += [(index, entry) for entry in found]
            if found and (cid := _correlation_of(raw)):
                cids.add(cid)
        except Exception:
            logger.exception("stream record %d could not be read", index)
            unreadable = index  # put what came before it, then retry from it
            break
    for request in publish.requests(tagged):
        try:
            answer = put(Entries=[entry for _, entry in request])
        except Exception:
            logger.exception("PutEvents failed for %d entries", len(request))
            return _failed(records, request[0][0])
        failed = publish.first_failed(request, answer)
        if failed is not None:
            refused = [e for e in answer.get("Entries") or [] if e.get("ErrorCode")]
            logger.error("PutEvents refused entries: %s", refused)
            return _failed(records, failed)
    if tagged:
        logger.info(
            "events published",
            extra={
                "events": len(tagged),
                # the changes' own ids: "trace one order" finds this line by any of them
                "correlation_ids": sorted(cids),
            },
        )
    if unreadable is not None:
        return _failed(records, unreadable)
    return {"batchItemFailures": []}


def _correlation_of(raw: dict) -> str | None:
    """The correlation id of the change a record shows (its new image's, as the events carry it)."""
    value = ((raw.get("dynamodb") or {}).get("NewImage") or {}).get("correlation_id") or {}
    return value.get("S")
