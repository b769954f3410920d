"""How clients reach moto: this process's boto3 clients (the functions', the pollers', the
tests') are answered by moto's app in the calling thread; a client of another session, like one
in another process, goes over HTTP to the same app and reads the same answers."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.intrinsics import REGION


@pytest.fixture
def http_client(cloud):
    """A client of its own session, as a client in another process would be: not routed."""

    def make(service):
        return boto3.session.Session().client(service, endpoint_url=cloud.moto_endpoint, region_name=REGION)

    return make


def over_http(response: dict) -> bool:
    """Whether an answer came through the HTTP server (which adds a Date header; moto's app
    does not) rather than from the app called in this thread."""
    return "date" in response["ResponseMetadata"]["HTTPHeaders"]


def test_this_process_and_http_clients_read_the_same_table(cloud, http_client):
    table = cloud.environment["LOG_TABLE"]
    local, remote = cloud.client("dynamodb"), http_client("dynamodb")
    schema = local.describe_table(TableName=table)["Table"]["KeySchema"]
    key = {a["AttributeName"]: {"S": "transport"} for a in schema}
    item = {**key, "payload": {"S": "山田 é"}, "n": {"N": "1.50"}, "b": {"B": b"\x00\xff"}}
    put = local.put_item(TableName=table, Item=item)

    through_http = remote.get_item(TableName=table, Key=key, ConsistentRead=True)
    in_process = local.get_item(TableName=table, Key=key, ConsistentRead=True)
    assert through_http["Item"] == in_process["Item"] == item
    assert not over_http(put) and not over_http(in_process)
    assert over_http(through_http)


def test_errors_read_the_same_both_ways(cloud, http_client):
    table = cloud.environment["LOG_TABLE"]
    local = cloud.client("dynamodb")
    keys = local.describe_table(TableName=table)["Table"]["KeySchema"]
    item = {a["AttributeName"]: {"S": "taken"} for a in keys}
    local.put_item(TableName=table, Item=item)
    answers = []
    for client in (local, http_client("dynamodb")):
        with pytest.raises(ClientError) as exc:
            client.put_item(
                TableName=table,
                Item=item,
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": keys[0]["AttributeName"]},
            )
        answers.append(
            (exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"])
        )
    assert answers[0] == answers[1] == ("ConditionalCheckFailedException", 400)


def test_queue_messages_cross_between_the_two(cloud, http_client):
    local = cloud.client("sqs")
    url = local.create_queue(QueueName="transport-check")["QueueUrl"]
    try:
        http_client("sqs").send_message(QueueUrl=url, MessageBody="über HTTP")
        got = local.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
        assert [m["Body"] for m in got] == ["über HTTP"]
    finally:
        local.delete_queue(QueueUrl=url)


def test_a_moto_failure_in_process_answers_500_and_logs_it(caplog):
    from botocore.awsrequest import AWSRequest

    from localcloud.moto_server import InProcessRoute

    def broken_app(environ, start_response):
        raise RuntimeError("moto broke")

    route = InProcessRoute(broken_app, "http://127.0.0.1:1")
    request = AWSRequest(method="POST", url="http://127.0.0.1:1/", data=b"{}").prepare()
    with caplog.at_level("ERROR", logger="localcloud.moto"):
        answer = route(request=request)
    assert answer.status_code == 500
    assert "moto broke" in caplog.text and "POST http://127.0.0.1:1/" in caplog.text
    elsewhere = AWSRequest(method="POST", url="http://127.0.0.1:10/", data=b"{}").prepare()
    assert route(request=elsewhere) is None  # another endpoint (port 10, not 1) goes its way
