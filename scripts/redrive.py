"""Move the messages of a dead-letter queue back to its source queue.

On AWS use `aws sqs start-message-move-task` (docs/operations.md). This script does the same for
endpoints without that API (moto, which the local cloud runs), or anywhere a plain loop is wanted:
it receives from the DLQ, sends each message (body and message attributes) to the source queue, and
only then deletes it from the DLQ. A crash between the two leaves a message in both queues; the
ingest processor deduplicates deliveries by delivery id, so a replay twice is harmless.

    python scripts/redrive.py <dlq name or URL> [--to <queue name or URL>] [--endpoint-url URL]
                              [--region us-east-1] [--max N]

Without --to, the source is the queue whose RedrivePolicy names the DLQ (as
start-message-move-task does). Prints the number of messages moved.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import boto3


def queue_url(sqs: Any, name_or_url: str) -> str:
    if name_or_url.startswith(("http://", "https://")):
        return name_or_url
    return sqs.get_queue_url(QueueName=name_or_url)["QueueUrl"]


def source_of(sqs: Any, dlq_url: str) -> str:
    """The queue whose redrive policy sends its failures to `dlq_url`."""
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    found = []
    for page in sqs.get_paginator("list_queues").paginate():
        for url in page.get("QueueUrls", []):
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"]).get(
                "Attributes", {}
            )
            policy = json.loads(attrs.get("RedrivePolicy") or "{}")
            if policy.get("deadLetterTargetArn") == dlq_arn:
                found.append(url)
    if len(found) != 1:
        raise SystemExit(f"{len(found)} queues use {dlq_arn} as their dead-letter queue; name one with --to")
    return found[0]


def redrive(sqs: Any, dlq_url: str, to_url: str | None = None, max_messages: int | None = None) -> int:
    """Move messages from `dlq_url` to `to_url` (default: its source queue); returns how many."""
    to_url = to_url or source_of(sqs, dlq_url)
    fifo = to_url.endswith(".fifo")
    moved = 0
    while max_messages is None or moved < max_messages:
        want = 10 if max_messages is None else min(10, max_messages - moved)
        batch = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=want,
            WaitTimeSeconds=0,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
            AttributeNames=["MessageGroupId", "MessageDeduplicationId"],
        ).get("Messages", [])
        if not batch:
            break
        entries = []
        for n, msg in enumerate(batch):
            entry: dict[str, Any] = {"Id": str(n), "MessageBody": msg["Body"]}
            if msg.get("MessageAttributes"):
                entry["MessageAttributes"] = msg["MessageAttributes"]
            if fifo:
                entry["MessageGroupId"] = msg.get("Attributes", {}).get("MessageGroupId", "redrive")
                entry["MessageDeduplicationId"] = msg["MessageId"]
            entries.append(entry)
        sent = sqs.send_message_batch(QueueUrl=to_url, Entries=entries)
        if sent.get("Failed"):
            raise SystemExit(f"could not send {len(sent['Failed'])} messages: {sent['Failed'][:3]}")
        sqs.delete_message_batch(
            QueueUrl=dlq_url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)],
        )
        moved += len(batch)
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Move dead-lettered SQS messages back to their source queue."
    )
    parser.add_argument("dlq", help="the dead-letter queue (name or URL)")
    parser.add_argument("--to", help="the queue to move them to (default: the DLQ's source queue)")
    parser.add_argument("--endpoint-url", help="an SQS endpoint other than AWS (moto, the local cloud)")
    parser.add_argument("--region", default=None)
    parser.add_argument("--max", type=int, default=None, help="move at most this many messages")
    args = parser.parse_args(argv)
    sqs = boto3.client("sqs", endpoint_url=args.endpoint_url, region_name=args.region)
    dlq = queue_url(sqs, args.dlq)
    to = queue_url(sqs, args.to) if args.to else None
    print(redrive(sqs, dlq, to, args.max))
    return 0


if __name__ == "__main__":
    sys.exit(main())
