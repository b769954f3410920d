"""Deliveries too big for a queue message: the envelope goes to S3 and the message carries a
pointer to it (docs/webhooks.md, "Large deliveries"). And quarantined bodies that are big or
not UTF-8: kept whole, byte for byte, in S3, the quarantine entry pointing to them
(`quarantined_body`).

SQS takes a message of up to 256 KiB; a webhook body may be 256 KiB and its envelope a little
more. An envelope over INLINE_BYTES is stored whole as `envelopes/<merchant>/<delivery>/<id>.json`
in the payload bucket (objects expire after 30 days, longer than a message or a dead letter is
kept), and the message is `{"payload": {"bucket", "key"}, "merchant_id", "delivery_id"}`. The
ingest processor reads it back; a redriven dead letter still finds it.
"""

from __future__ import annotations

import hashlib
import json
import secrets

from orderhub.kernel import aws, correlation
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


def enqueue(merchant_id: str, adapter: str, delivery_id: str, change, received_at) -> None:
    """Queue one delivery (a webhook's, or a pulled order's) for the ingest processor."""
    from orderhub.domain.models import Envelope

    envelope = Envelope(
        merchant_id=merchant_id,
        adapter=adapter,
        delivery_id=delivery_id,
        received_at=received_at,
        change=change,
    )
    message = message_for(merchant_id, delivery_id, envelope.model_dump_json())
    aws.client("sqs").send_message(
        QueueUrl=settings().ingest_queue_url,
        MessageBody=message,
        MessageAttributes=correlation.message_attributes(),  # the delivery's id, to the processor
    )


def envelope_of(message: dict) -> dict:
    """The envelope a queue message carries or points to."""
    pointer = message.get("payload")
    if not isinstance(pointer, dict) or "change" in message:
        return message
    obj = aws.client("s3").get_object(Bucket=pointer["bucket"], Key=pointer["key"])
    return json.loads(obj["Body"].read())


# A quarantined body is kept in its quarantine item when it is UTF-8 text of up to this many
# bytes; else (bigger, or bytes that are not UTF-8, whose decoding would not give them back and
# could triple in size) it is stored whole as `quarantine/<merchant>/<id>.bin` in the payload
# bucket, kept as long as the quarantine entry (no expiry), and the item holds `body_object`.
QUARANTINE_INLINE_BYTES = 32 * 1024


def quarantined_body(merchant_id: str, body: bytes) -> dict:
    """The quarantine item's fields for `body`: {"body": text}, or {"body_object": {"key",
    "bytes", "sha256"}} once the bytes are in the payload bucket."""
    if len(body) <= QUARANTINE_INLINE_BYTES:
        try:
            return {"body": body.decode("utf-8")}
        except UnicodeDecodeError:
            pass
    bucket = settings().payload_bucket
    if not bucket:
        raise RuntimeError("PAYLOAD_BUCKET is not set: this function can't quarantine a large body")
    key = f"quarantine/{merchant_id}/{secrets.token_hex(8)}.bin"
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/octet-stream")
    return {"body_object": {"key": key, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}}
