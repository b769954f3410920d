"""Deliveries too big for a queue message: the envelope goes to S3 and the message carries a
pointer to it (docs/webhooks.md, "Large deliveries").

SQS takes a message of up to 256 KiB; a webhook body may be 256 KiB and its envelope a little
more. An envelope over INLINE_BYTES is stored whole as `envelopes/<merchant>/<delivery>/<id>.json`
in the payload bucket (objects expire after 30 days, longer than a message or a dead letter is
kept), and the message is `{"payload": {"bucket", "key"}, "merchant_id", "delivery_id"}`. The
ingest processor reads it back; a redriven dead letter still finds it.
"""

from __future__ import annotations

import json
import secrets

from orderhub.kernel import aws
from orderhub.kernel.config import settings

INLINE_BYTES = 200 * 1024  # an envelope up to this goes in the message itself


def message_for(merchant_id: str, delivery_id: str, envelope_json: str) -> str:
    """The queue message for one delivery: the envelope, or a pointer to it in S3."""
    data = envelope_json.encode("utf-8")
    if len(data) <= INLINE_BYTES:
        return envelope_json
    bucket = settings().payload_bucket
    if not bucket:
        raise RuntimeError("PAYLOAD_BUCKET is not set: this function can't queue a large delivery")
    key = f"envelopes/{merchant_id}/{delivery_id}/{secrets.token_hex(8)}.json"
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")
    return json.dumps(
        {"payload": {"bucket": bucket, "key": key}, "merchant_id": merchant_id, "delivery_id": delivery_id}
    )


def envelope_of(message: dict) -> dict:
    """The envelope a queue message carries or points to."""
    pointer = message.get("payload")
    if not isinstance(pointer, dict) or "change" in message:
        return message
    obj = aws.client("s3").get_object(Bucket=pointer["bucket"], Key=pointer["key"])
    return json.loads(obj["Body"].read())
