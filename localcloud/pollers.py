"""Event source mappings: SQS queues and DynamoDB streams feeding the template's functions.

Each `SQS` / `DynamoDB` function event gets a background thread that polls moto and
invokes the handler in-process with the event Lambda would send.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from localcloud import filters, internals
from localcloud.intrinsics import REGION

log = logging.getLogger("localcloud.pollers")

Invoker = Callable[[str, dict], Any]

STREAM_IDLE_SECONDS = 0.1


def _failed_ids(result: Any, valid: set[str]) -> set[str] | None:
    """Item identifiers a handler reported in batchItemFailures; None means "the whole batch failed"."""
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return set()
    ids: set[str] = set()
    for failure in result["batchItemFailures"]:
        ident = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not ident or ident not in valid:
            return None  # Lambda treats a malformed response as a failure of every record
        ids.add(ident)
    return ids


class Poller:
    """Common bookkeeping: a daemon thread running run(), a stop flag, an activity counter (for drain)."""

    def __init__(
        self, name: str, function_id: str, invoke: Invoker, stop: threading.Event, pause: threading.Event
    ):
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)
        self.function_id = function_id
        self.invoke = invoke
        self.stop_event = stop
        self.pause_event = pause
        self.parked = False  # paused and not touching anything
        self.activity = 0  # batches handled so far
        self.in_flight = False

    def run(self) -> None:
        raise NotImplementedError

    def _parked(self) -> bool:
        """True (after a short nap) while paused; pollers skip their work then."""
        if not self.pause_event.is_set() and not internals.mock_aws_active():
            self.parked = False
            return False
        self.parked = True
        self._sleep(0.05)
        return True

    def _sleep(self, seconds: float) -> None:
        self.stop_event.wait(seconds)

    def _claim_batch(self) -> bool:
        """Mark a received batch in flight, unless the cloud is stopping. in_flight is set before
        the stop flag is read, so stop() either sees the batch in flight and waits for it, or this
        sees the flag and leaves the batch alone."""
        self.in_flight = True
        if self.stop_event.is_set():
            self.in_flight = False
            return False
        return True


# ---------------------------------------------------------------------- SQS
class SqsPoller(Poller):
    def __init__(
        self,
        *,
        sqs: Any,
        function_id: str,
        event_name: str,
        queue_url: str,
        queue_arn: str,
        batch_size: int,
        report_failures: bool,
        patterns: list[dict],
        retry_seconds: int,
        invoke: Invoker,
        stop: threading.Event,
        pause: threading.Event,
    ):
        super().__init__(f"sqs-{function_id}-{event_name}", function_id, invoke, stop, pause)
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.queue_name = queue_arn.rsplit(":", 1)[-1]
        self.batch_size = max(1, batch_size)
        self.report_failures = report_failures
        self.patterns = patterns
        self.retry_seconds = retry_seconds

    def run(self) -> None:
        while not self.stop_event.is_set():
            if self._parked():
                continue
            try:
                messages = self._receive()
            except Exception as exc:
                if self.stop_event.is_set():
                    break
                log.warning("%s: receive from %s failed: %s", self.function_id, self.queue_name, exc)
                self._sleep(1)
                continue
            if messages:
                if not self._claim_batch():
                    break  # stopping: the messages come back after their visibility timeout
                try:
                    self._process(messages)
                except Exception:
                    log.exception("%s: error handling a batch from %s", self.function_id, self.queue_name)
                finally:
                    self.activity += 1
                    self.in_flight = False

    def _receive(self) -> list[dict]:
        messages: list[dict] = []
        wait = 1
        while len(messages) < self.batch_size and not self.stop_event.is_set():
            want = min(10, self.batch_size - len(messages))
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=want,
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages.extend(got)
            if len(got) < want:
                break
            wait = 0
        return messages

    def record(self, message: dict) -> dict:
        attrs = {}
        for name, value in (message.get("MessageAttributes") or {}).items():
            binary = value.get("BinaryValue")
            attrs[name] = {
                "stringValue": value.get("StringValue"),
                "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
                "stringListValues": value.get("StringListValues", []),
                "binaryListValues": [base64.b64encode(b).decode() for b in value.get("BinaryListValues", [])],
                "dataType": value.get("DataType"),
            }
        rec = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": dict(message.get("Attributes") or {}),
            "messageAttributes": attrs,
            "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }
        if message.get("MD5OfMessageAttributes"):
            rec["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return rec

    def _passes(self, record: dict) -> bool:
        if not self.patterns:
            return True
        data = dict(record)
        try:
            data["body"] = json.loads(record["body"])
        except ValueError:
            pass
        return filters.passes(self.patterns, data)

    def _process(self, messages: list[dict]) -> None:
        records = [self.record(m) for m in messages]
        kept = [r for r in records if self._passes(r)]
        dropped = [r for r in records if r not in kept]
        if dropped:  # Lambda deletes messages that do not match the filter criteria
            self._delete_messages(dropped)
        if not kept:
            return
        try:
            result = self.invoke(self.function_id, {"Records": kept})
            failed = _failed_ids(result, {r["messageId"] for r in kept}) if self.report_failures else set()
            if failed is None:
                failed = {r["messageId"] for r in kept}
        except Exception:
            failed = {r["messageId"] for r in kept}
        ok = [r for r in kept if r["messageId"] not in failed]
        bad = [r for r in kept if r["messageId"] in failed]
        self._delete_messages(ok)
        self._retry_soon(bad)
        log.info("%s: %d records from %s, %d failed", self.function_id, len(kept), self.queue_name, len(bad))

    def _delete_messages(self, records: list[dict]) -> None:
        for i in range(0, len(records), 10):
            chunk = records[i : i + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": r["receiptHandle"]} for n, r in enumerate(chunk)],
            )

    def _retry_soon(self, records: list[dict]) -> None:
        """Failed messages come back after retry_seconds rather than the queue's visibility timeout.
        After maxReceiveCount receives, moto moves them to the dead-letter queue on the next receive."""
        for i in range(0, len(records), 10):
            chunk = records[i : i + 10]
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {
                        "Id": str(n),
                        "ReceiptHandle": r["receiptHandle"],
                        "VisibilityTimeout": self.retry_seconds,
                    }
                    for n, r in enumerate(chunk)
                ],
            )

    def idle(self) -> bool:
        """No message waiting, in flight or delayed, and no batch being handled."""
        if self.in_flight:
            return False
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return not self.in_flight and all(int(v) == 0 for v in attrs.values())


# ---------------------------------------------------------------------- DynamoDB streams
def _lambda_json(value: Any) -> Any:
    """botocore's decoded stream record back to the JSON Lambda sends (bytes as base64, times as epoch)."""
    if isinstance(value, dict):
        return {k: _lambda_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lambda_json(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    return value


class StreamPoller(Poller):
    def __init__(
        self,
        *,
        streams: Any,
        sqs: Any,
        function_id: str,
        function_arn: str,
        event_name: str,
        stream_arn: str,
        batch_size: int,
        starting_position: str,
        max_retries: int,
        bisect: bool,
        report_failures: bool,
        patterns: list[dict],
        on_failure_url: str | None,
        retry_seconds: float,
        invoke: Invoker,
        stop: threading.Event,
        pause: threading.Event,
        window: float = 0.0,
        draining: threading.Event | None = None,
    ):
        super().__init__(f"stream-{function_id}-{event_name}", function_id, invoke, stop, pause)
        self.streams = streams
        self.sqs = sqs
        self.function_arn = function_arn
        self.stream_arn = stream_arn
        self.table = stream_arn.split(":table/", 1)[-1].split("/", 1)[0]
        self.batch_size = max(1, batch_size)
        self.starting_position = starting_position
        self.max_retries = max_retries  # -1: until it succeeds, as on AWS
        self.bisect = bisect
        self.report_failures = report_failures
        self.patterns = patterns
        self.on_failure_url = on_failure_url
        self.retry_seconds = retry_seconds
        self.positions: dict[str, int] = {}  # shard id -> sequence number of the next record to read
        # MaximumBatchingWindowInSeconds: the records that passed the filters gather for up to this
        # long (or until batch_size of them) before one invocation takes them, as Lambda does.
        self.window = max(0.0, window)
        self.pending: dict[str, list[dict]] = {}  # shard id -> records gathered, not yet delivered
        self.opened: dict[str, float] = {}  # shard id -> when its gathering began (monotonic)
        # Set while a drain waits (tests, benchmarks): a window closes as soon as its shard has
        # nothing new to add, so a quiet stream settles at once; while records keep arriving they
        # still gather. Time is compressed, nothing is refused or reordered.
        self.draining = draining or threading.Event()
        self.idle_since = 0.0  # monotonic start of the last poll that found nothing
        self.ready = threading.Event()

    # ---------------------------------------------------------------- reading
    # Each poll asks for a fresh iterator at the next sequence number instead of following
    # NextShardIterator: moto's iterators hold on to the shard object, and moto replaces a
    # table (and its shard) with a copy when it rolls back a cancelled TransactWriteItems,
    # after which an old iterator would read a dead shard forever.
    def _read(self, shard_id: str, iterator_type: str, sequence: int | None = None) -> list[dict]:
        if sequence is not None:
            # moto's own records, read only: record() makes each one's Lambda JSON anew
            direct = internals.stream_records(
                self.stream_arn, shard_id, sequence, self.batch_size, copied=False
            )
            if direct is not None:
                return direct
        kwargs = {"SequenceNumber": str(sequence)} if sequence is not None else {}
        iterator = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType=iterator_type, **kwargs
        )["ShardIterator"]
        resp = self.streams.get_records(ShardIterator=iterator, Limit=self.batch_size)
        internals.forget_shard_iterator(iterator)
        internals.forget_shard_iterator(resp.get("NextShardIterator"))
        return resp.get("Records") or []

    def _open_shards(self) -> None:
        desc = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in desc.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id in self.positions:
                continue
            position = int(shard["SequenceNumberRange"]["StartingSequenceNumber"])
            if self.starting_position == "LATEST":  # skip what is already there
                while records := self._read(shard_id, "AT_SEQUENCE_NUMBER", position):
                    position = int(records[-1]["dynamodb"]["SequenceNumber"]) + 1
            self.positions[shard_id] = position

    def run(self) -> None:
        try:
            self._open_shards()
        except Exception as exc:
            log.error("%s: cannot read stream %s: %s", self.function_id, self.stream_arn, exc)
            return
        finally:
            self.ready.set()
        while not self.stop_event.is_set():
            if self._parked():
                continue
            started = time.monotonic()
            found = False
            try:
                for shard_id in list(self.positions):
                    found |= self._poll_shard(shard_id)
            except Exception as exc:
                if self.stop_event.is_set():
                    break
                log.warning("%s: reading %s failed: %s", self.function_id, self.stream_arn, exc)
                self._sleep(1)
                continue
            if not found:
                self.idle_since = started
                self._sleep(STREAM_IDLE_SECONDS)

    def _poll_shard(self, shard_id: str) -> bool:
        pending = self.pending.setdefault(shard_id, [])
        room = self.batch_size - len(pending)
        records = self._read(shard_id, "AT_SEQUENCE_NUMBER", self.positions[shard_id]) if room > 0 else []
        if records:
            records = records[:room]
            self.positions[shard_id] = int(records[-1]["dynamodb"]["SequenceNumber"]) + 1
            kept = [r for r in (self.record(raw) for raw in records) if filters.passes(self.patterns, r)]
            if kept and not pending:
                self.opened[shard_id] = time.monotonic()
            pending.extend(kept)
        if not pending:
            if records:
                self.activity += 1  # read and filtered out: progress all the same
            return bool(records)
        full = len(pending) >= self.batch_size
        closed = time.monotonic() - self.opened[shard_id] >= self.window
        quiet = self.draining.is_set() and not records
        if not (full or closed or quiet):
            return False  # gathering: poll again after the idle pause, as Lambda's poller waits
        batch, self.pending[shard_id] = pending[: self.batch_size], pending[self.batch_size :]
        if self.pending[shard_id]:
            self.opened[shard_id] = time.monotonic()
        self.in_flight = True
        try:
            self._deliver(shard_id, batch)
        finally:
            self.activity += 1
            self.in_flight = False
        return True

    def record(self, raw: dict) -> dict:
        rec = _lambda_json(raw)
        rec["eventVersion"] = "1.1"
        rec["eventSourceARN"] = self.stream_arn
        return rec

    # ---------------------------------------------------------------- delivering
    def _invoke(self, batch: list[dict]) -> tuple[int | None, bool]:
        """(index of the first record to retry or None when all succeeded, whether the function raised)."""
        try:
            result = self.invoke(self.function_id, {"Records": batch})
        except Exception:
            return 0, True
        if not self.report_failures:
            return None, False
        seqs = [r["dynamodb"]["SequenceNumber"] for r in batch]
        failed = _failed_ids(result, set(seqs))
        if failed is None:
            return 0, True
        if not failed:
            return None, False
        return min(seqs.index(s) for s in failed), False

    def _deliver(self, shard_id: str, batch: list[dict]) -> None:
        """Invoke until the batch succeeds; retry (from the first failed record), bisect on errors,
        then hand what is left to the on-failure destination."""
        attempts = 0
        while batch and not self.stop_event.is_set():
            first_failed, raised = self._invoke(batch)
            if first_failed is None:
                log.info("%s: %d stream records from %s", self.function_id, len(batch), self.table)
                return
            attempts += 1
            if first_failed:
                log.info(
                    "%s: %d stream records from %s, %d failed",
                    self.function_id,
                    len(batch),
                    self.table,
                    len(batch) - first_failed,
                )
                batch = batch[first_failed:]
            elif raised:
                log.info(
                    "%s: batch of %d stream records from %s failed", self.function_id, len(batch), self.table
                )
                if self.bisect and len(batch) > 1:
                    mid = len(batch) // 2
                    self._deliver(shard_id, batch[:mid])
                    self._deliver(shard_id, batch[mid:])
                    return
            if 0 <= self.max_retries < attempts:
                self._send_on_failure(shard_id, batch, attempts)
                return
            self._sleep(self.retry_seconds)

    def _send_on_failure(self, shard_id: str, batch: list[dict], attempts: int) -> None:
        first, last = batch[0], batch[-1]
        info = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "version": "1.0",
            "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": last["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first["dynamodb"].get("ApproximateCreationDateTime")),
                "approximateArrivalOfLastRecord": _iso(last["dynamodb"].get("ApproximateCreationDateTime")),
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
        }
        if self.on_failure_url:
            self.sqs.send_message(QueueUrl=self.on_failure_url, MessageBody=json.dumps(info))
            log.warning(
                "%s: gave up on %d stream records from %s after %d attempts; sent to the on-failure queue",
                self.function_id,
                len(batch),
                self.table,
                attempts,
            )
        else:
            log.warning(
                "%s: gave up on %d stream records from %s after %d attempts (no on-failure destination)",
                self.function_id,
                len(batch),
                self.table,
                attempts,
            )

    def idle(self, since: float) -> bool:
        if not self.thread.is_alive():  # could not open the stream (logged): nothing to wait for
            return True
        gathering = any(self.pending.values())
        return not self.in_flight and not gathering and self.idle_since >= since


def _iso(epoch: Any) -> str | None:
    if not isinstance(epoch, int | float):
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------- SNS notifications
class NotificationPoller(Poller):
    """Reads what a template topic published, through an internal SQS queue subscribed to it
    (the SNS envelope: Subject, Message, MessageAttributes), and hands each to `sink`."""

    def __init__(
        self,
        *,
        sqs: Any,
        topic_id: str,
        topic_arn: str,
        queue_url: str,
        sink: Callable[[dict], None],
        stop: threading.Event,
        pause: threading.Event,
    ):
        super().__init__(f"sns-{topic_id}", topic_id, lambda *_: None, stop, pause)
        self.sqs = sqs
        self.topic_id = topic_id
        self.topic_arn = topic_arn
        self.queue_url = queue_url
        self.sink = sink

    def run(self) -> None:
        while not self.stop_event.is_set():
            if self._parked():
                continue
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
            except Exception as exc:
                if self.stop_event.is_set():
                    break
                log.warning("notifications of %s: receive failed: %s", self.topic_id, exc)
                self._sleep(1)
                continue
            if not messages:
                continue
            if not self._claim_batch():
                break
            try:
                for message in messages:
                    try:
                        self.sink(self.notification(message))
                    except Exception:
                        log.exception("notifications of %s: cannot handle a message", self.topic_id)
                    self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            finally:
                self.activity += 1
                self.in_flight = False

    def notification(self, message: dict) -> dict:
        envelope = json.loads(message.get("Body") or "{}")
        attributes = {
            name: value.get("Value") for name, value in (envelope.get("MessageAttributes") or {}).items()
        }
        return {
            "topic": self.topic_id,
            "topic_arn": envelope.get("TopicArn", self.topic_arn),
            "message_id": envelope.get("MessageId"),
            "timestamp": envelope.get("Timestamp"),
            "subject": envelope.get("Subject"),
            "message": envelope.get("Message", ""),
            "message_attributes": attributes,
        }

    def idle(self) -> bool:
        if self.in_flight:
            return False
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return not self.in_flight and all(int(v) == 0 for v in attrs.values())


# ---------------------------------------------------------------------- all of them
class Pollers:
    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self.pause_event = threading.Event()
        self.draining = threading.Event()  # a drain is waiting (StreamPoller.draining)
        self.sqs: list[SqsPoller] = []
        self.streams: list[StreamPoller] = []
        self.notifications: list[NotificationPoller] = []  # template SNS topics (printed, kept)

    @property
    def all(self) -> list[Poller]:
        return [*self.sqs, *self.streams, *self.notifications]

    def start(self) -> None:
        for p in self.all:
            p.thread.start()
        for p in self.streams:
            p.ready.wait(5)

    def stop(self, timeout: float = 3.0) -> None:
        """Stop every poller; wait for the batches in flight and the stream readers. A queue poller
        blocked in a long poll (up to 1 s) is not waited for: it finds the stop flag when its
        receive returns and handles nothing more (_claim_batch)."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for p in self.all:
            if p.thread.is_alive() and (p in self.streams or p.in_flight):
                p.thread.join(max(0.0, deadline - time.monotonic()))

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until the queues with event sources are empty and the streams are caught up.

        Settled means: a full round in which no poller handled anything, every stream poller
        read its shards to the end, and every SQS queue (notification queues included) is empty.
        TimeoutError otherwise.
        """
        self.draining.set()
        try:
            self._drain(timeout)
        finally:
            self.draining.clear()

    def _drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            round_start = time.monotonic()
            marks = [p.activity for p in self.all]
            while time.monotonic() < deadline and not all(p.idle(round_start) for p in self.streams):
                time.sleep(0.02)
            if any(p.in_flight for p in self.all) or marks != [p.activity for p in self.all]:
                # busy: asking each queue for its counts now would only take the busy
                # function's turn (a long job would be slowed by a third)
                time.sleep(0.05)
                continue
            if (
                all(p.idle(round_start) for p in self.streams)
                and all(p.idle() for p in [*self.sqs, *self.notifications])
                and marks == [p.activity for p in self.all]
            ):
                return
            time.sleep(0.05)
        busy = [p.thread.name for p in self.streams if not p.idle(0)] + [
            p.thread.name for p in [*self.sqs, *self.notifications] if not p.idle()
        ]
        raise TimeoutError(f"not drained within {timeout}s; still busy: {', '.join(busy) or 'none'}")

    def pause(self, timeout: float = 5.0) -> None:
        """Stop handing records to functions (another LocalCloud takes over the process)."""
        self.pause_event.set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(p.parked or not p.thread.is_alive() for p in self.all):
            time.sleep(0.02)

    def resume(self) -> None:
        self.pause_event.clear()
