"""The local cloud's IAM (localcloud/iam.py): how a call becomes requests, how statements match
them, and the roles read from the template after the SAM transform."""

from __future__ import annotations

import pytest

from localcloud import iam
from localcloud.template import Template
from tests.support.moto_env import ROOT

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:cancel"


def role(*statements: dict) -> iam.Role:
    return iam.Role("r", [iam.Statement.parse(s, f"s{n}") for n, s in enumerate(statements)])


def allow(action, resource) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def asks(prefix, operation, **params) -> list[tuple[str, str]]:
    return iam.requests(prefix, operation, params)


def test_a_query_on_an_index_asks_for_the_index_and_the_table_grant_does_not_cover_it():
    r = role(allow(["dynamodb:Query"], TABLE))
    (request,) = asks("dynamodb", "Query", TableName="orders", IndexName="by_due")
    assert request == ("dynamodb:Query", f"{TABLE}/index/by_due")
    assert not r.allows(*request)
    assert r.allows(*asks("dynamodb", "Query", TableName="orders")[0])
    assert role(allow("dynamodb:Query", f"{TABLE}/index/*")).allows(*request)


def test_a_transaction_asks_for_each_item_s_own_action():
    requested = asks(
        "dynamodb",
        "TransactWriteItems",
        TransactItems=[
            {"Put": {"TableName": "orders"}},
            {"Update": {"TableName": "orders"}},
            {"ConditionCheck": {"TableName": "orders"}},
            {"Delete": {"TableName": "orders"}},
        ],
    )
    assert [a for a, _ in requested] == [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DeleteItem",
    ]
    r = role(allow(["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"], TABLE))
    assert [r.allows(*q) for q in requested] == [True, True, True, False]


def test_send_task_success_is_authorized_only_on_every_resource():
    (request,) = asks("states", "SendTaskSuccess", taskToken="t", output="{}")
    assert request == ("states:SendTaskSuccess", "*")
    assert not role(allow("states:SendTaskSuccess", MACHINE)).allows(*request)
    assert not role(allow("states:SendTask*", "arn:aws:states:*:*:*")).allows(*request)
    assert role(allow("states:SendTask*", "*")).allows(*request)


def test_actions_match_without_case_and_with_wildcards():
    r = role(allow("SQS:sendmessage*", "arn:aws:sqs:us-east-1:123456789012:ingest"))
    url = "http://127.0.0.1:5000/123456789012/ingest"
    assert r.allows(*asks("sqs", "SendMessage", QueueUrl=url, MessageBody="x")[0])
    assert asks("sqs", "SendMessageBatch", QueueUrl=url, Entries=[])[0][0] == "sqs:SendMessage"
    assert not r.allows(*asks("sqs", "DeleteMessage", QueueUrl=url, ReceiptHandle="h")[0])
    assert not r.allows("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:ingest-dlq")


def test_a_wildcard_does_not_cross_the_arn_s_segments():
    r = role(allow("dynamodb:GetItem", "arn:aws:dynamodb:us-*:123456789012:table/orders"))
    assert r.allows("dynamodb:GetItem", TABLE)
    assert not r.allows("dynamodb:GetItem", "arn:aws:dynamodb:eu-west-1:123456789012:table/orders")
    assert role(allow("dynamodb:GetItem", "arn:aws:dynamodb:*:*:table/*")).allows("dynamodb:GetItem", TABLE)


def test_a_deny_wins_and_not_action_allows_the_rest():
    r = role(allow("dynamodb:*", TABLE), {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"})
    assert r.allows("dynamodb:PutItem", TABLE)
    assert not r.allows("dynamodb:DeleteItem", TABLE)
    r = role({"Effect": "Allow", "NotAction": "dynamodb:DeleteItem", "Resource": TABLE})
    assert r.allows("dynamodb:PutItem", TABLE) and not r.allows("dynamodb:DeleteItem", TABLE)


def test_events_go_to_the_buses_they_name():
    requested = asks("events", "PutEvents", Entries=[{"EventBusName": "orders"}, {"Detail": "{}"}])
    assert requested == [
        ("events:PutEvents", "arn:aws:events:us-east-1:123456789012:event-bus/default"),
        ("events:PutEvents", "arn:aws:events:us-east-1:123456789012:event-bus/orders"),
    ]


def test_an_operation_not_described_asks_for_every_resource():
    assert asks("kinesis", "PutRecord", StreamName="s") == [("kinesis:PutRecord", "*")]
    assert asks("sts", "GetCallerIdentity") == []


def test_a_condition_or_an_unknown_managed_policy_stops_the_reading(tmp_path):
    with pytest.raises(iam.IamError, match="Condition"):
        iam.Statement.parse(
            {**allow("s3:GetObject", "*"), "Condition": {"Bool": {"aws:SecureTransport": "true"}}}, "x"
        )
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: fn/, Handler: app.handler, Runtime: python3.11,\n"
        "                 Policies: [AmazonS3FullAccess]}\n"
    )
    with pytest.raises(iam.IamError, match="AmazonS3FullAccess is not modeled locally"):
        iam.roles(Template(tmp_path / "template.yaml"))


def test_the_denial_names_the_role_the_action_and_the_resource():
    enforcer = iam.Enforcer({"Fn": role(allow("dynamodb:GetItem", TABLE))}, {"Fn": "orderhub-fn"})
    assert enforcer.denial("Fn", "dynamodb", "GetItem", {"TableName": "orders"}) is None
    action, message = enforcer.denial("Fn", "dynamodb", "Query", {"TableName": "orders"})
    assert action == "dynamodb:Query"
    assert "assumed-role/r/orderhub-fn is not authorized to perform: dynamodb:Query" in message
    assert TABLE in message
    assert enforcer.denied == [("Fn", "dynamodb:Query", TABLE)]


# ---------------------------------------------------------------------- the template's roles
@pytest.fixture(scope="module")
def roles() -> dict[str, iam.Role]:
    return iam.roles(Template(ROOT / "template.yaml"))


def test_every_function_and_state_machine_has_its_role(roles):
    template = Template(ROOT / "template.yaml")
    expected = set(template.resources("AWS::Serverless::Function", "AWS::Serverless::StateMachine"))
    assert set(roles) == expected


def test_sam_policy_templates_are_expanded(roles):
    """SQSSendMessagePolicy (WebhookReceiverFunction) becomes sqs:SendMessage* on the queue's ARN."""
    template = Template(ROOT / "template.yaml")
    queue = template.resolver.attribute("IngestQueue", "Arn")
    assert roles["WebhookReceiverFunction"].allows("sqs:SendMessage", queue)
    assert not roles["WebhookReceiverFunction"].allows("sqs:DeleteMessage", queue)
