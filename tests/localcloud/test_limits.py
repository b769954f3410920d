"""AWS's size limits the local cloud enforces where moto does not (localcloud/limits.py): SQS
messages in bytes with their attributes, PutEvents' 256 KiB (a transaction's 4 MB:
tests/localcloud/test_internals.py)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud import internals, limits

JAPANESE = "注文"  # 3 bytes a character in UTF-8


@pytest.fixture
def aws(monkeypatch):
    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    internals.patch_moto()
    with mock_aws():  # it starts boto3's default session afresh: the hooks go on the new one
        limits.install()
        yield


def test_an_sqs_message_is_measured_in_bytes_with_its_attributes(aws):
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    under = "x" * (limits.SQS_MESSAGE_BYTES - 100)
    sqs.send_message(QueueUrl=url, MessageBody=under)
    # under the limit in characters (what moto counts), over it in bytes
    body = JAPANESE * (limits.SQS_MESSAGE_BYTES // 6 + 1)
    assert len(body) < limits.SQS_MESSAGE_BYTES < len(body.encode())
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValue"
    attribute = {"big": {"DataType": "String", "StringValue": "y" * 200}}
    with pytest.raises(ClientError):
        sqs.send_message(QueueUrl=url, MessageBody=under, MessageAttributes=attribute)
    entries = [{"Id": str(n), "MessageBody": under} for n in range(5)]  # 5 x 256 KiB > 1 MiB
    with pytest.raises(ClientError) as exc:
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert "BatchRequestTooLong" in exc.value.response["Error"]["Code"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [len(m["Body"]) for m in messages] == [len(under)]  # the refused ones left nothing


def test_put_events_over_256_kib_is_refused(aws):
    events = boto3.client("events", region_name="us-east-1")
    entry = {"Source": "orderhub", "DetailType": "order.changed"}
    room = limits.EVENTBRIDGE_REQUEST_BYTES - limits.eventbridge_entry_bytes(
        {**entry, "Detail": json.dumps({"a": ""})}
    )
    fits = {**entry, "Detail": json.dumps({"a": "x" * room})}
    assert limits.eventbridge_entry_bytes(fits) == limits.EVENTBRIDGE_REQUEST_BYTES
    assert events.put_events(Entries=[fits])["FailedEntryCount"] == 0
    over = {**entry, "Detail": json.dumps({"a": "x" * (room + 1)})}
    with pytest.raises(ClientError) as exc:
        events.put_events(Entries=[over])
    assert exc.value.response["Error"]["Code"] == "ValidationException"


def test_dynamodb_sizes_follow_the_documented_rules():
    assert limits.dynamodb_item_bytes({"pk": {"S": JAPANESE}}) == 2 + 6
    assert limits.dynamodb_value_bytes({"N": "12345"}) == 4
    assert limits.dynamodb_value_bytes({"M": {"a": {"BOOL": True}}}) == 3 + 1 + 1 + 1
    assert limits.dynamodb_value_bytes({"L": [{"S": "ab"}, {"NULL": True}]}) == 3 + (1 + 2) + (1 + 1)
