"""The template loader and intrinsic resolver, on the real template.yaml and on small snippets."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from localcloud.intrinsics import IntrinsicError, function_name_from_arn
from localcloud.template import Template, TemplateError, load_yaml, merge_globals

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def real():
    return Template(ROOT / "template.yaml")


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(text))
    return path


# ---------------------------------------------------------------- the real template
def test_short_tags_become_intrinsic_functions(real):
    queue = real.data["Resources"]["IngestQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["IngestDLQ", "Arn"]}
    assert real.data["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }


def test_resources_of_the_real_template(real):
    tables = real.resources("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")
    assert "OrdersTable" in tables
    assert {"IngestQueue", "IngestDLQ", "StreamFailureQueue"} <= set(real.resources("AWS::SQS::Queue"))
    assert real.properties("OrderEventBus")["Name"] == "orderhub-local-orders"
    # The conditional subscription is off with the default (empty) AlarmEmail.
    assert "AlarmEmailSubscription" not in real.resources()


def test_queues_redrive_to_their_dead_letter_queue(real):
    policy = real.properties("IngestQueue")["RedrivePolicy"]
    assert policy["deadLetterTargetArn"] == "arn:aws:sqs:us-east-1:123456789012:orderhub-local-IngestDLQ"
    assert int(policy["maxReceiveCount"]) >= 1


def test_every_function_gets_the_shared_environment(real):
    functions = real.functions()
    assert functions
    for fn in functions.values():
        env = real.function_environment(fn)
        assert env["TABLE_NAME"] == "orderhub-local-OrdersTable", fn.logical_id
        assert env["EVENT_BUS_NAME"] == "orderhub-local-orders", fn.logical_id
        assert env["INGEST_QUEUE_URL"].endswith("/123456789012/orderhub-local-IngestQueue"), fn.logical_id
        assert fn.code_dir.parent == ROOT / "functions"
        assert fn.timeout > 0 and fn.memory_mb >= 128
    assert real.environment()["POWERTOOLS_SERVICE_NAME"] == "orderhub"


def test_event_sources_resolve(real):
    events = {(e.function_id, e.type): e.properties for fn in real.functions().values() for e in fn.events}
    sqs = events[("IngestProcessorFunction", "SQS")]
    assert sqs["Queue"] == "arn:aws:sqs:us-east-1:123456789012:orderhub-local-IngestQueue"
    stream = events[("StreamPublisherFunction", "DynamoDB")]
    table_arn = "arn:aws:dynamodb:us-east-1:123456789012:table/orderhub-local-OrdersTable"
    assert stream["Stream"].startswith(table_arn + "/stream/")
    on_failure = stream["DestinationConfig"]["OnFailure"]["Destination"]
    assert on_failure == "arn:aws:sqs:us-east-1:123456789012:orderhub-local-StreamFailureQueue"


def test_api_authorizer_is_the_user_pool_by_default_and_the_parameters_otherwise(real):
    auth = real.properties("HttpApi")["Auth"]
    jwt = auth["Authorizers"][auth["DefaultAuthorizer"]]["JwtConfiguration"]
    assert jwt["issuer"] == "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_UserPool"
    assert jwt["audience"] == [real.resolver.attribute("MerchantAppClient", "Ref")]
    own = Template(ROOT / "template.yaml", {"JwtIssuer": "https://idp.example/", "MerchantAudience": "shop"})
    auth = own.properties("HttpApi")["Auth"]
    jwt = auth["Authorizers"][auth["DefaultAuthorizer"]]["JwtConfiguration"]
    assert (jwt["issuer"], jwt["audience"]) == ("https://idp.example/", ["shop"])
    assert "UserPool" not in own.resources()


def test_outputs_resolve(real):
    outputs = {k: real.resolve(v["Value"]) for k, v in real.data["Outputs"].items()}
    assert outputs["ApiUrl"] == "https://local.execute-api.us-east-1.amazonaws.com"
    assert outputs["OrdersTableName"] == "orderhub-local-OrdersTable"


# ---------------------------------------------------------------- intrinsics
SNIPPET = """
Parameters:
  Env: {Type: String, Default: dev}
  Names: {Type: CommaDelimitedList, Default: "a,b,c"}
  Port: {Type: Number, Default: 8080}
Conditions:
  IsDev: !Equals [!Ref Env, dev]
  IsProd: !Not [!Condition IsDev]
  Both: !And [!Condition IsDev, !Not [!Condition IsProd]]
Mappings:
  Sizes:
    dev: {memory: 256}
Resources:
  Table:
    Type: AWS::Serverless::SimpleTable
  Bus:
    Type: AWS::Events::EventBus
    Properties: {Name: !Sub "${AWS::StackName}-${Env}-bus"}
  Queue:
    Type: AWS::SQS::Queue
    Properties: {QueueName: jobs.fifo, FifoQueue: true}
  ProdOnly:
    Type: AWS::SQS::Queue
    Condition: IsProd
Outputs:
  Sub: {Value: !Sub "${Table}|${Bus.Arn}|${Queue.QueueName}|${AWS::Region}|${!Literal}"}
  SubVars: {Value: !Sub ["${x}-${Env}", {x: !Ref Port}]}
  Join: {Value: !Join [",", [!Ref AWS::AccountId, !Ref AWS::Partition, !Ref AWS::URLSuffix]]}
  Select: {Value: !Select [1, !Ref Names]}
  Split: {Value: !Split ["-", "x-y"]}
  If: {Value: !If [IsDev, "yes", "no"]}
  IfNoValue: {Value: [a, !If [IsProd, b, !Ref AWS::NoValue]]}
  Both: {Value: !If [Both, "on", "off"]}
  Find: {Value: !FindInMap [Sizes, !Ref Env, memory]}
  QueueUrl: {Value: !Ref Queue}
  TableArn: {Value: !GetAtt Table.Arn}
"""


def test_intrinsic_functions(tmp_path):
    t = Template(write(tmp_path, SNIPPET))
    out = {k: t.resolve(v["Value"]) for k, v in t.data["Outputs"].items()}
    assert out["Sub"] == (
        "orderhub-local-Table|arn:aws:events:us-east-1:123456789012:event-bus/orderhub-local-dev-bus"
        "|jobs.fifo|us-east-1|${Literal}"
    )
    assert out["SubVars"] == "8080-dev"
    assert out["Join"] == "123456789012,aws,amazonaws.com"
    assert out["Select"] == "b"
    assert out["Split"] == ["x", "y"]
    assert out["If"] == "yes"
    assert out["IfNoValue"] == ["a"]
    assert out["Both"] == "on"
    assert out["Find"] == 256
    assert out["QueueUrl"] == "https://sqs.us-east-1.amazonaws.com/123456789012/jobs.fifo"
    assert out["TableArn"] == "arn:aws:dynamodb:us-east-1:123456789012:table/orderhub-local-Table"
    assert "ProdOnly" not in t.resources()


def test_parameter_overrides_and_runtime_attributes(tmp_path):
    t = Template(write(tmp_path, SNIPPET), parameter_overrides={"Env": "prod"})
    assert t.resolve({"Fn::If": ["IsDev", "yes", "no"]}) == "no"
    assert "ProdOnly" in t.resources()
    t.resolver.set_attribute("Queue", "Ref", "http://127.0.0.1:1/123456789012/jobs.fifo")
    assert t.resolve({"Ref": "Queue"}) == "http://127.0.0.1:1/123456789012/jobs.fifo"
    with pytest.raises(TemplateError, match="unknown parameters"):
        Template(write(tmp_path, SNIPPET), parameter_overrides={"Nope": "x"})


def test_unknown_references_fail_clearly(tmp_path):
    t = Template(write(tmp_path, SNIPPET))
    with pytest.raises(IntrinsicError, match="Missing"):
        t.resolve({"Ref": "Missing"})
    with pytest.raises(IntrinsicError, match="Table.Nope"):
        t.resolve({"Fn::GetAtt": ["Table", "Nope"]})


def test_globals_merge_maps_and_lists_function_wins():
    merged = merge_globals(
        {"Timeout": 30, "Layers": ["g"], "Environment": {"Variables": {"A": "global", "B": "global"}}},
        {"Timeout": 10, "Layers": ["f"], "Environment": {"Variables": {"B": "function", "C": "function"}}},
    )
    assert merged == {
        "Timeout": 10,
        "Layers": ["g", "f"],
        "Environment": {"Variables": {"A": "global", "B": "function", "C": "function"}},
    }


def test_conflicting_environment_values_are_an_error(tmp_path):
    path = write(
        tmp_path,
        """
        Resources:
          One:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: one/, Handler: app.h, Environment: {Variables: {MODE: fast}}}
          Two:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: two/, Handler: app.h, Environment: {Variables: {MODE: slow}}}
        """,
    )
    with pytest.raises(TemplateError, match="MODE differs between functions"):
        Template(path).environment()


def test_yaml_loader_handles_all_tag_shapes(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("a: !GetAtt [X, Arn]\nb: !Base64 {Ref: Y}\nc: !Ref Z\n")
    assert load_yaml(path) == {
        "a": {"Fn::GetAtt": ["X", "Arn"]},
        "b": {"Fn::Base64": {"Ref": "Y"}},
        "c": {"Ref": "Z"},
    }


def test_function_names_from_arns():
    assert function_name_from_arn("arn:aws:lambda:us-east-1:123456789012:function:Foo") == "Foo"
    assert function_name_from_arn("arn:aws:lambda:us-east-1:123456789012:function:Foo:$LATEST") == "Foo"
    assert function_name_from_arn("Foo") == "Foo"
