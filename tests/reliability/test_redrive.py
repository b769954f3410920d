"""Poison messages (docs/reliability.md): the redrive of docs/operations.md.

That an undecodable ingest message ends in IngestDLQ after maxReceiveCount (5) while its siblings
apply is shown on the local cloud by
tests/e2e/test_ingestion_e2e.py::test_poison_message_reaches_the_dlq_while_its_siblings_apply.
moto has no StartMessageMoveTask, so scripts/redrive.py moves the messages back; here, on moto
in-process with the template's queues: dead-lettered deliveries go back to IngestQueue (found from
its redrive policy), the good ones apply once, a replay of one already applied is a duplicate, and
the poison one fails again (back to the DLQ after its receives)."""

from __future__ import annotations

import json

import boto3
import pytest

from orderhub.domain.models import Envelope
from orderhub.orders import queries
from orderhub.webhooks import ingest
from scripts import redrive
from tests.reliability import invariants
from tests.support.factories import T0, change


def envelope(no: str, delivery_id: str) -> str:
    return Envelope(
        merchant_id="demo",
        adapter="generic",
        delivery_id=delivery_id,
        received_at=T0,
        change=change(no, marketplace="dlqmart", placed_at=T0),
    ).model_dump_json()


def drain(sqs, url: str) -> list[dict]:
    got = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        got.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)],
        )
    return got


def test_redrive_moves_dead_letters_back_and_replaying_is_safe(app_env):
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = app_env["INGEST_QUEUE_URL"]
    dlq = redrive.queue_url(sqs, queue.rsplit("/", 1)[1].replace("IngestQueue", "IngestDLQ"))
    assert redrive.source_of(sqs, dlq) == queue

    applied_before = envelope("DLQ-1", "dlq-1")
    assert ingest.process(applied_before) == "applied"  # e.g. it applied, then its delete was lost
    bodies = [applied_before, envelope("DLQ-2", "dlq-2"), "this is not an envelope"]
    for body in bodies:
        sqs.send_message(
            QueueUrl=dlq,
            MessageBody=body,
            MessageAttributes={"why": {"DataType": "String", "StringValue": "test"}},
        )

    assert redrive.redrive(sqs, dlq) == 3
    assert drain(sqs, dlq) == []
    moved = drain(sqs, queue)
    assert sorted(m["Body"] for m in moved) == sorted(bodies)
    assert all(m["MessageAttributes"]["why"]["StringValue"] == "test" for m in moved)

    outcomes = {}
    for m in moved:
        try:
            outcomes[m["Body"]] = ingest.process(m["Body"])
        except Exception as exc:  # the poison message fails again: SQS retries it, then the DLQ
            outcomes[m["Body"]] = type(exc).__name__
    assert outcomes[applied_before] == "duplicate"
    assert outcomes[bodies[1]] == "applied"
    assert outcomes["this is not an envelope"] in ("JSONDecodeError", "ValidationError")
    assert [
        o["marketplace_order_no"] for o in queries.list_orders("demo", {"marketplace": "dlqmart"})["orders"]
    ] in (
        ["DLQ-1", "DLQ-2"],
        ["DLQ-2", "DLQ-1"],
    )
    assert queries.get_delivery("demo", "generic", "dlq-1")["duplicates"] == 1
    invariants.check_all("demo")


def test_redrive_command_line(app_env, capsys):
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = app_env["INGEST_QUEUE_URL"]
    dlq_name = queue.rsplit("/", 1)[1].replace("IngestQueue", "IngestDLQ")
    for n in range(12):
        sqs.send_message(QueueUrl=redrive.queue_url(sqs, dlq_name), MessageBody=json.dumps({"n": n}))
    assert redrive.main([dlq_name, "--max", "5", "--region", "us-east-1"]) == 0
    assert capsys.readouterr().out.strip() == "5"
    assert redrive.main([dlq_name, "--to", queue, "--region", "us-east-1"]) == 0
    assert capsys.readouterr().out.strip() == "7"
    assert sorted(json.loads(m["Body"])["n"] for m in drain(sqs, queue)) == list(range(12))
    with pytest.raises(SystemExit):
        redrive.source_of(sqs, queue)  # no queue dead-letters into the ingest queue itself
