"""Event sources on the fixture template: SQS with partial batch failures and a DLQ, the table
stream with a filter and an on-failure queue, schedules, a state machine, and nesting."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
import types
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest

from localcloud import LocalCloud, LocalCloudError
from localcloud.pollers import StreamPoller
from localcloud.schedules import Cron, rate_seconds

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def wait_for(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not within {timeout}s (last: {value!r})")


def post(url, admin_token=None):
    """A POST to a /_local/* route, with the admin token of local.json when given."""
    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
    req = urllib.request.Request(url, data=b"", method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def get_status(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


# ---------------------------------------------------------------- SQS
def test_partial_batch_failure_retries_only_the_failed_message_then_dead_letters_it(cloud, notes):
    sqs = cloud.client("sqs")
    queue = cloud.environment["WORK_QUEUE_URL"]
    dlq = sqs.get_queue_url(QueueName=cloud.physical_name("WorkDLQ"))["QueueUrl"]
    bodies = ["ok-1", "ok-2", "fail-1", "ok-3"]
    sqs.send_message_batch(
        QueueUrl=queue,
        Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)],
    )

    def dead_lettered():
        msgs = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
        return [m["Body"] for m in msgs]

    assert wait_for(dead_lettered) == ["fail-1"]
    cloud.drain(timeout=10)
    seen = notes("worker")
    assert sorted(b for b in seen if b.startswith("ok")) == ["ok-1", "ok-2", "ok-3"]  # each exactly once
    assert seen.count("fail-1") == 2  # maxReceiveCount
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_sqs_event_records_look_like_lambdas(cloud):
    poller = next(p for p in cloud._pollers.sqs if p.function_id == "WorkerFunction")
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": "hi",
        "MD5OfBody": "49f68a5c8493ec2c0bf489821c21fc3b",
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
        "MessageAttributes": {"a": {"DataType": "String", "StringValue": "v"}},
    }
    record = poller.record(message)
    assert record == {
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": "hi",
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
        "messageAttributes": {
            "a": {
                "stringValue": "v",
                "binaryValue": None,
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            }
        },
        "md5OfBody": "49f68a5c8493ec2c0bf489821c21fc3b",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orderhub-local-WorkQueue",
        "awsRegion": "us-east-1",
    }


# ---------------------------------------------------------------- DynamoDB stream
def test_stream_records_reach_the_handler_in_order_and_filtered(cloud, notes):
    ddb = cloud.client("dynamodb")
    table = cloud.environment["TABLE_NAME"]
    key = {"pk": {"S": "ORDER#s1"}, "sk": {"S": "#ORDER"}}
    ddb.put_item(TableName=table, Item={**key, "status": {"S": "new"}})
    ddb.put_item(TableName=table, Item={**key, "status": {"S": "shipped"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "ORDER#s1"}, "sk": {"S": "#NOTE"}})  # filtered out
    ddb.delete_item(TableName=table, Key=key)
    cloud.drain(timeout=10)

    records = [json.loads(n) for n in notes("stream")]
    mine = [r for r in records if r["dynamodb"]["Keys"]["pk"]["S"] == "ORDER#s1"]
    assert [r["eventName"] for r in mine] == ["INSERT", "MODIFY", "REMOVE"]
    assert all(r["dynamodb"]["Keys"]["sk"]["S"] == "#ORDER" for r in records)  # seeds and #NOTE filtered
    insert, modify, remove = mine
    stream_arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    assert insert["eventSourceARN"] == stream_arn
    assert insert["eventSource"] == "aws:dynamodb" and insert["awsRegion"] == "us-east-1"
    assert insert["dynamodb"]["NewImage"]["status"] == {"S": "new"} and "OldImage" not in insert["dynamodb"]
    assert modify["dynamodb"]["OldImage"]["status"] == {"S": "new"}
    assert modify["dynamodb"]["NewImage"]["status"] == {"S": "shipped"}
    assert remove["dynamodb"]["OldImage"]["status"] == {"S": "shipped"}
    assert "NewImage" not in remove["dynamodb"]
    assert insert["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert int(insert["dynamodb"]["SequenceNumber"]) < int(modify["dynamodb"]["SequenceNumber"])
    assert isinstance(insert["dynamodb"]["ApproximateCreationDateTime"], int)


def test_stream_survives_a_cancelled_transaction(cloud, notes):
    """moto swaps the table (and its stream shard) for a copy when it rolls a transaction back."""
    ddb = cloud.client("dynamodb")
    table = cloud.environment["TABLE_NAME"]
    key = {"pk": {"S": "ORDER#tx"}, "sk": {"S": "#ORDER"}}
    ddb.put_item(TableName=table, Item=key)
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": key, "ConditionExpression": "attribute_not_exists(pk)"}}
            ]
        )
    ddb.put_item(TableName=table, Item={**key, "after": {"S": "rollback"}})
    cloud.drain(timeout=10)
    mine = [json.loads(n) for n in notes("stream") if "ORDER#tx" in n]
    assert [r["eventName"] for r in mine] == ["INSERT", "MODIFY"]


def test_a_failing_stream_record_goes_to_the_on_failure_queue(cloud, notes):
    ddb = cloud.client("dynamodb")
    sqs = cloud.client("sqs")
    table = cloud.environment["TABLE_NAME"]
    for name, poison in (("ORDER#a", False), ("ORDER#poison", True), ("ORDER#b", False)):
        item = {"pk": {"S": name}, "sk": {"S": "#ORDER"}, "poison": {"BOOL": poison}}
        ddb.put_item(TableName=table, Item=item)
    cloud.drain(timeout=10)

    failure_queue = sqs.get_queue_url(QueueName=cloud.physical_name("StreamFailureQueue"))["QueueUrl"]
    msgs = sqs.receive_message(QueueUrl=failure_queue, MaxNumberOfMessages=10).get("Messages", [])
    assert len(msgs) == 1
    info = json.loads(msgs[0]["Body"])
    assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["requestContext"]["functionArn"].endswith(":function:StreamFunction")
    batch = info["DDBStreamBatchInfo"]
    assert batch["batchSize"] == 1  # bisected down to the poison record
    assert batch["streamArn"] == ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    seen = {json.loads(n)["dynamodb"]["Keys"]["pk"]["S"] for n in notes("stream")}
    assert {"ORDER#a", "ORDER#b"} <= seen and "ORDER#poison" not in seen


def test_stream_poller_starting_at_latest_skips_older_records(cloud):
    ddb = cloud.client("dynamodb")
    table = cloud.environment["TABLE_NAME"]
    ddb.put_item(TableName=table, Item={"pk": {"S": "ORDER#old"}, "sk": {"S": "#ORDER"}})
    seen = []
    poller = StreamPoller(
        streams=cloud.client("dynamodbstreams"),
        sqs=cloud.client("sqs"),
        function_id="Probe",
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:Probe",
        event_name="Latest",
        stream_arn=ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"],
        batch_size=10,
        starting_position="LATEST",
        max_retries=0,
        bisect=False,
        report_failures=False,
        patterns=[],
        on_failure_url=None,
        retry_seconds=0,
        invoke=lambda _fn, event: seen.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]),
        stop=threading.Event(),
        pause=threading.Event(),
    )
    poller._open_shards()
    (shard_id,) = poller.positions
    assert poller._poll_shard(shard_id) is False
    ddb.put_item(TableName=table, Item={"pk": {"S": "ORDER#new"}, "sk": {"S": "#ORDER"}})
    assert poller._poll_shard(shard_id) is True
    assert seen == ["ORDER#new"]


def probe_poller(cloud, seen: list, **over) -> StreamPoller:
    ddb = cloud.client("dynamodb")
    args = {
        "streams": cloud.client("dynamodbstreams"),
        "sqs": cloud.client("sqs"),
        "function_id": "Probe",
        "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:Probe",
        "event_name": "Window",
        "stream_arn": ddb.describe_table(TableName=cloud.environment["TABLE_NAME"])["Table"][
            "LatestStreamArn"
        ],
        "batch_size": 3,
        "starting_position": "LATEST",
        "max_retries": 0,
        "bisect": False,
        "report_failures": False,
        "patterns": [],
        "on_failure_url": None,
        "retry_seconds": 0,
        "invoke": lambda _fn, event: seen.append(
            [r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]]
        ),
        "stop": threading.Event(),
        "pause": threading.Event(),
    }
    return StreamPoller(**{**args, **over})


def test_a_batching_window_gathers_records_until_it_closes_or_the_batch_is_full(cloud):
    """MaximumBatchingWindowInSeconds: records wait up to the window, or until BatchSize of them
    are there, and then go in one invocation; a drain closes a window once its shard is quiet."""
    ddb = cloud.client("dynamodb")
    table = cloud.environment["TABLE_NAME"]
    seen: list[list[str]] = []
    draining = threading.Event()
    poller = probe_poller(cloud, seen, window=0.3, draining=draining)
    poller._open_shards()
    (shard_id,) = poller.positions

    def put(n):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"W#{n}"}, "sk": {"S": "#ORDER"}})

    put(1)
    assert poller._poll_shard(shard_id) is False and seen == []  # gathering
    put(2)
    assert poller._poll_shard(shard_id) is False and seen == []
    poller.thread = types.SimpleNamespace(is_alive=lambda: True)  # as if it ran
    assert not poller.idle(0)  # records waiting: a drain must wait for them
    time.sleep(0.35)
    assert poller._poll_shard(shard_id) is True and seen == [["W#1", "W#2"]]  # the window closed
    for n in (3, 4, 5, 6):
        put(n)
    assert poller._poll_shard(shard_id) is True and seen[-1] == ["W#3", "W#4", "W#5"]  # a full batch
    assert poller._poll_shard(shard_id) is False and seen[-1] == ["W#3", "W#4", "W#5"]  # W#6 waits
    draining.set()
    assert poller._poll_shard(shard_id) is True and seen[-1] == ["W#6"]  # quiet while draining
    assert poller.pending[shard_id] == []


def test_without_a_window_each_poll_delivers_what_it_read(cloud):
    ddb = cloud.client("dynamodb")
    seen: list[list[str]] = []
    poller = probe_poller(cloud, seen)
    poller._open_shards()
    (shard_id,) = poller.positions
    ddb.put_item(TableName=cloud.environment["TABLE_NAME"], Item={"pk": {"S": "N#1"}, "sk": {"S": "#ORDER"}})
    assert poller._poll_shard(shard_id) is True and seen == [["N#1"]]


# ---------------------------------------------------------------- schedules
def test_fire_now_in_process(cloud, notes):
    result = cloud.fire("SweepFunction")
    assert result == {"swept": True, "source": "aws.events", "table": cloud.environment["TABLE_NAME"]}
    event = json.loads(notes("sweep")[-1])
    assert event["detail-type"] == "Scheduled Event" and event["detail"] == {}
    rule = "arn:aws:events:us-east-1:123456789012:rule/orderhub-local-SweepFunction-Daily"
    assert event["resources"] == [rule]


def test_a_scheduled_run_that_keeps_failing_goes_to_its_on_failure_queue(cloud, notes, monkeypatch):
    """SweepFunction's EventInvokeConfig: 1 retry, then its on-failure queue gets Lambda's record."""
    before = len(notes("sweep"))
    assert cloud.run_schedule("SweepFunction") is True
    monkeypatch.setenv("SWEEP_FAILS", "1")
    assert cloud.run_schedule("SweepFunction") is False
    assert len(notes("sweep")) == before + 1 + 2  # the good run, then the failing run and its retry
    sqs = boto3.client("sqs", endpoint_url=cloud.endpoint_url, region_name="us-east-1")
    url = sqs.get_queue_url(QueueName=cloud.physical_name("SweepFailureQueue"))["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestContext"]["functionArn"].endswith(":function:SweepFunction:$LATEST")
    assert record["responsePayload"]["errorMessage"] == "the sweep failed"
    assert record["requestPayload"]["detail-type"] == "Scheduled Event"


def test_fire_now_over_http_and_from_the_cli(cloud):
    assert post(cloud.api_url + "/_local/schedules/SweepFunction", cloud.admin_token) == (
        200,
        {"swept": True, "source": "aws.events", "table": cloud.environment["TABLE_NAME"]},
    )
    status, body = post(cloud.api_url + "/_local/schedules/EchoFunction", cloud.admin_token)
    assert status == 404 and body["error"]["code"] == "not_found"
    env = {**os.environ, "ORDERHUB_STATE_DIR": str(cloud.state_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "localcloud", "fire", "SweepFunction"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["swept"] is True


def test_drain_over_http(cloud):
    assert post(cloud.api_url + "/_local/drain?timeout=5", cloud.admin_token) == (200, {"drained": True})


def test_schedule_expressions():
    assert rate_seconds("rate(5 minutes)") == 300
    assert rate_seconds("rate(1 hour)") == 3600
    assert rate_seconds("rate(2 days)") == 172800
    assert rate_seconds("cron(0 12 * * ? *)") is None
    now = dt.datetime(2024, 1, 1, 11, 59, 30, tzinfo=dt.UTC)  # a Monday
    assert Cron("cron(0 12 * * ? *)").next_after(now) == now.replace(hour=12, minute=0, second=0)
    assert Cron("cron(0/15 * * * ? *)").next_after(now) == now.replace(hour=12, minute=0, second=0)
    assert Cron("cron(30 9 ? * FRI *)").next_after(now) == dt.datetime(2024, 1, 5, 9, 30, tzinfo=dt.UTC)
    assert Cron("cron(0 0 1 JAN-MAR ? *)").next_after(now) == dt.datetime(2024, 2, 1, tzinfo=dt.UTC)


# ---------------------------------------------------------------- Step Functions
def run_execution(cloud, payload):
    sfn = cloud.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=cloud.state_machines["DoublingMachine"], input=json.dumps(payload)
    )["executionArn"]
    desc = wait_for(
        lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d, timeout=15
    )
    return desc


def test_state_machine_runs_lambda_tasks_in_process(cloud):
    desc = run_execution(cloud, {"n": 3})
    assert desc["status"] == "SUCCEEDED", desc
    assert json.loads(desc["output"])["n"] == 12  # a Task with the function ARN, then lambda:invoke


def test_state_machine_catches_a_handler_error_by_its_type(cloud):
    desc = run_execution(cloud, {"n": -1})
    assert desc["status"] == "SUCCEEDED", desc
    output = json.loads(desc["output"])
    assert output["outcome"] == "rejected"
    assert output["error"]["Error"] == "NegativeNumber"


# ---------------------------------------------------------------- one process, two clouds
def test_a_second_cloud_pauses_the_first_until_it_stops(cloud, tmp_path):
    assert get_status(cloud.api_url + "/health") == 200
    with LocalCloud(template_path=FIXTURES / "other.yaml", root=ROOT, state_dir=tmp_path) as inner:
        assert get_status(inner.api_url + "/health") == 200
        assert get_status(cloud.api_url + "/health") == 503
        assert "TABLE_NAME" not in os.environ  # the paused cloud's variables are hidden
        assert os.environ["OTHER_TABLE"] == inner.environment["OTHER_TABLE"]
        inner_table = inner.environment["OTHER_TABLE"]
    assert get_status(cloud.api_url + "/health") == 200
    assert os.environ["TABLE_NAME"] == cloud.environment["TABLE_NAME"]
    assert os.environ["AWS_ENDPOINT_URL"] == cloud.endpoint_url
    tables = cloud.client("dynamodb").list_tables()["TableNames"]
    assert inner_table not in tables and cloud.environment["TABLE_NAME"] in tables
    assert cloud.fire("SweepFunction")["swept"] is True  # the outer's handlers still work


def test_a_second_cloud_may_not_reuse_the_first_ones_resources(cloud, tmp_path):
    twin = LocalCloud(template_path=FIXTURES / "template.yaml", root=ROOT, state_dir=tmp_path)
    with pytest.raises(ValueError, match="already exists"):
        twin.start()
    assert get_status(cloud.api_url + "/health") == 200
    with pytest.raises(LocalCloudError):
        twin.invoke("EchoFunction", {})
