"""AWS's size and time limits, enforced by the local cloud: the numbers, and the checks moto does
not make (docs/local-cloud.md, "Limits").

Where each is enforced:
- DynamoDB item 400 KB: moto, measured once per item (internals.measure_items_once);
  transaction 100 items and 4 MB: the transaction patch (internals.patch_dynamodb_transactions);
- SQS message 256 KiB counted in bytes with its attributes, batch 1 MiB; EventBridge PutEvents
  256 KiB: `check_request`, on every boto3 client of this process (moto counts an SQS body in
  characters and does not measure events);
- Lambda: request and response 6 MB and the function's Timeout (functions.py);
- HTTP API: payload 10 MB and the 30 s integration timeout (server/http.py);
- Step Functions: 256 KiB of state data into and out of a Lambda task (stepfunctions.py).
"""

from __future__ import annotations

import logging
from typing import Any

from localcloud import internals

log = logging.getLogger("localcloud.limits")

KIB = 1024
MIB = 1024 * 1024

DYNAMODB_TRANSACTION_ITEMS = 100
DYNAMODB_TRANSACTION_BYTES = 4 * MIB
SQS_MESSAGE_BYTES = 256 * KIB  # a queue's MaximumMessageSize by default (it may be set up to 1 MiB)
SQS_BATCH_BYTES = 1 * MIB  # the sum of a SendMessageBatch's messages
EVENTBRIDGE_REQUEST_BYTES = 256 * KIB  # the entries of one PutEvents, measured as AWS documents
LAMBDA_SYNC_PAYLOAD_BYTES = 6 * MIB  # a synchronous invocation's event, and its result
HTTP_API_PAYLOAD_BYTES = 10 * MIB
HTTP_API_TIMEOUT_SECONDS = 30
STATES_PAYLOAD_BYTES = 256 * KIB  # the state data a Step Functions state passes on


# ---------------------------------------------------------------------- measures
def _bytes(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bytes | bytearray):
        return len(value)
    return len(str(value).encode("utf-8"))


def sqs_message_bytes(body: Any, attributes: dict | None = None) -> int:
    """A message's size as SQS counts it: the body and each attribute's name, type and value."""
    size = _bytes(body)
    for name, attribute in (attributes or {}).items():
        size += _bytes(name) + _bytes(attribute.get("DataType"))
        size += _bytes(attribute.get("StringValue")) + _bytes(attribute.get("BinaryValue"))
    return size


def eventbridge_entry_bytes(entry: dict) -> int:
    """An entry's size as EventBridge documents it: 14 bytes for a Time, and the UTF-8 bytes of
    Source, DetailType, Detail and each of Resources."""
    size = 14 if entry.get("Time") is not None else 0
    size += _bytes(entry.get("Source")) + _bytes(entry.get("DetailType")) + _bytes(entry.get("Detail"))
    return size + sum(_bytes(r) for r in entry.get("Resources") or [])


def dynamodb_value_bytes(value: dict) -> int:
    """An AttributeValue's size as DynamoDB documents it (strings and binaries by their bytes, a
    number about one byte per two digits, a list or map three bytes plus one per element)."""
    (kind, v), *_ = value.items()
    if kind in ("S", "B"):
        return _bytes(v)
    if kind == "N":
        return (len(str(v).lstrip("-").replace(".", "")) + 1) // 2 + 1
    if kind in ("SS", "BS"):
        return sum(_bytes(x) for x in v)
    if kind == "NS":
        return sum(dynamodb_value_bytes({"N": x}) for x in v)
    if kind == "L":
        return 3 + sum(1 + dynamodb_value_bytes(x) for x in v)
    if kind == "M":
        return 3 + sum(1 + _bytes(k) + dynamodb_value_bytes(x) for k, x in v.items())
    return 1  # BOOL, NULL


def dynamodb_item_bytes(attributes: dict) -> int:
    return sum(_bytes(name) + dynamodb_value_bytes(value) for name, value in attributes.items())


def dynamodb_transaction_bytes(transact_items: list[dict]) -> int:
    """What a TransactWriteItems carries: each Put's item, each other operation's key and values."""
    size = 0
    for entry in transact_items:
        for kind, op in entry.items():
            if kind == "Put":
                size += dynamodb_item_bytes(op.get("Item") or {})
            else:
                size += dynamodb_item_bytes(op.get("Key") or {})
                size += dynamodb_item_bytes(op.get("ExpressionAttributeValues") or {})
    return size


# ---------------------------------------------------------------------- requests of boto3 clients
def check_request(prefix: str, operation: str, params: dict) -> tuple[str, str] | None:
    """None when the call is within the limits, else (error code, message) as AWS answers it."""
    if prefix == "sqs" and operation == "SendMessage":
        size = sqs_message_bytes(params.get("MessageBody"), params.get("MessageAttributes"))
        if size > SQS_MESSAGE_BYTES:
            return "InvalidParameterValue", (
                f"One or more parameters are invalid. Reason: Message must be shorter than "
                f"{SQS_MESSAGE_BYTES} bytes (this one is {size})."
            )
    elif prefix == "sqs" and operation == "SendMessageBatch":
        sizes = [
            sqs_message_bytes(e.get("MessageBody"), e.get("MessageAttributes"))
            for e in params.get("Entries") or []
        ]
        if any(s > SQS_MESSAGE_BYTES for s in sizes) or sum(sizes) > SQS_BATCH_BYTES:
            return "AWS.SimpleQueueService.BatchRequestTooLong", (
                f"Batch requests cannot be longer than {SQS_BATCH_BYTES} bytes, nor a message longer than "
                f"{SQS_MESSAGE_BYTES} (these are {sizes})."
            )
    elif prefix == "events" and operation == "PutEvents":
        size = sum(eventbridge_entry_bytes(e) for e in params.get("Entries") or [])
        if size > EVENTBRIDGE_REQUEST_BYTES:
            return "ValidationException", (
                "Total size of the entries in the request is over the limit "
                f"({size} > {EVENTBRIDGE_REQUEST_BYTES} bytes)."
            )
    return None


def install() -> None:
    """Check the requests of boto3 clients made from now on (idempotent)."""
    internals.keep_call_params()
    internals.on_default_session("before-call", _before_call, "localcloud-limits-check")


def _before_call(model: Any, context: dict, **_: Any) -> Any:
    service = model.service_model
    prefix = service.signing_name or service.endpoint_prefix
    refused = check_request(prefix, model.name, internals.call_params(context))
    if refused is None:
        return None
    code, message = refused
    log.warning("limit: %s %s: %s", service.service_name, model.name, message)
    return internals.client_error(code, message)
