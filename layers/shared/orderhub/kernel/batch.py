"""An SQS batch handled one record at a time, answered as a partial batch response.

The three SQS consumers (ingest processor, job worker, Amazon notifications) are mapped with
`FunctionResponseTypes: [ReportBatchItemFailures]`: each record that raised is named in
`batchItemFailures`, so SQS delivers it again (and dead-letters it after the queue's
maxReceiveCount) while the records that succeeded are deleted. When every record failed the
invocation raises `BatchFailed` instead, as Powertools' batch utility does by default: the
whole batch comes back, and the function's Errors alarm sees it.

Powertools' batch utility does the same; its import pulls in asyncio and every event data class
(about a quarter of what the ingest processor imports beyond boto3), for a loop this short
(docs/architecture.md, "Cold start")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(child=True)


class BatchFailed(Exception):
    """Every record of the batch failed: the invocation fails, and SQS delivers them all again."""


def each_record(event: dict[str, Any], handle: Callable[[dict[str, Any]], Any]) -> dict[str, list]:
    """Call `handle(record)` for each SQS record; the answer names those that raised."""
    records = event.get("Records") or []
    failures = []
    for record in records:
        try:
            handle(record)
        except Exception as exc:
            logger.warning(
                "record failed; SQS delivers it again",
                exc_info=True,
                extra={"message_id": record.get("messageId"), "error": type(exc).__name__},
            )
            failures.append({"itemIdentifier": record.get("messageId")})
    if records and len(failures) == len(records):
        raise BatchFailed(f"all {len(records)} records failed")
    return {"batchItemFailures": failures}


def receive_count(record: dict[str, Any]) -> int:
    """SQS's ApproximateReceiveCount of the record: 1 on its first delivery."""
    return int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
