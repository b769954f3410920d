"""The correlation id: one id per delivery, per merchant or warehouse request and per scheduled
run, carried to everything it causes (docs/observability.md).

It is made here, never taken from a client (a header or a body is not ours to trust in the
logs an operator searches): an HTTP answer names it in `X-Correlation-Id`, so a merchant or an
integrator can quote it. From there it travels:

- in a queue message's attribute `correlation_id` (the ingest queue, the jobs queue),
- in a Step Functions execution's input (`flow.correlation_id`, every step gets it),
- on what a write stores: the order item (the id of its last change), each history entry, the
  delivery record, the sync history entry,
- into the domain events (`detail.correlation_id`, from the order's new image),
- and into every log line of the invocation (`correlation_id`, with `merchant_id` once known),
  through Powertools Logger's thread-safe keys: a thread serves one invocation at a time, in
  Lambda and in the local cloud alike.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from aws_lambda_powertools.logging.formatter import remove_context_keys, set_context_keys

ATTRIBUTE = "correlation_id"  # the message attribute, item attribute, event detail key and log key
HEADER = "X-Correlation-Id"
# What a carried id may be: ours are UUIDs; anything else found in a message is replaced.
_FORMAT = re.compile(r"^[A-Za-z0-9-]{8,64}$")

_current: ContextVar[str | None] = ContextVar("orderhub_correlation_id", default=None)
_work_keys: ContextVar[tuple[str, ...]] = ContextVar("orderhub_work_log_keys", default=())


def new() -> str:
    return str(uuid.uuid4())


def valid(value: object) -> bool:
    return isinstance(value, str) and bool(_FORMAT.match(value))


def begin(carried: object = None, *, context: object = None, **keys: object) -> str:
    """Start the work of one delivery, request, message or run: the id `carried` by the message
    or execution that caused it, or a new one. Every log line from here carries it, and `keys`
    (merchant_id, order_id...) when given; the keys of the work before (an earlier record of the
    batch) are dropped.

    `context` (the Lambda context, once per invocation) names the function and the request on
    this thread's lines too: Powertools keeps them process-wide, which in the local cloud (every
    function in one process, one thread per invocation) would let one function's lines carry
    another's name."""
    remove_context_keys(_work_keys.get())
    if context is not None:
        set_context_keys(
            function_name=getattr(context, "function_name", None),
            function_arn=getattr(context, "invoked_function_arn", None),
            function_memory_size=getattr(context, "memory_limit_in_mb", None),
            function_request_id=getattr(context, "aws_request_id", None),
        )
    cid = carried if valid(carried) else new()
    _current.set(cid)
    _work_keys.set(())
    add_keys(correlation_id=cid, **keys)
    return cid


def current() -> str | None:
    """The id of the work in progress (None outside any: a test calling a service directly)."""
    return _current.get()


def add_keys(**keys: object) -> None:
    """Keys every further log line of this work carries (merchant_id once the message names it)."""
    given = {k: v for k, v in keys.items() if v}
    set_context_keys(**given)
    _work_keys.set((*_work_keys.get(), *given))


def stamp(item: dict) -> dict:
    """`item` with the current id (written by the order, history, delivery and sync writers)."""
    cid = _current.get()
    if cid is not None:
        item[ATTRIBUTE] = cid
    return item


def message_attributes() -> dict:
    """The SQS MessageAttributes of a message sent by this work ({} outside any)."""
    cid = _current.get()
    return {ATTRIBUTE: {"DataType": "String", "StringValue": cid}} if cid else {}


def of_sqs_record(record: dict) -> str | None:
    """The id an SQS record carries (Lambda's event shape: messageAttributes.<name>.stringValue)."""
    attr = (record.get("messageAttributes") or {}).get(ATTRIBUTE) or {}
    value = attr.get("stringValue")
    return value if valid(value) else None


def with_header(response: dict) -> dict:
    """An HTTP answer (API Gateway payload 2.0) naming the id in X-Correlation-Id."""
    cid = _current.get()
    if cid is not None and isinstance(response, dict):
        response["headers"] = {**(response.get("headers") or {}), HEADER: cid}
    return response
