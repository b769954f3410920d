"""localcloud/internals.py: every touch point on moto's and Powertools' internals is still
there with the shape it relies on (so an upgrade fails here, and at local-cloud start-up, in one
place), and moto's DynamoDB transactions as patched: all or nothing, cost per transaction
independent of the table size, and the table object (and its stream) kept."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud import LocalCloud, internals

ROOT = Path(__file__).resolve().parents[2]


def test_every_touch_point_is_supported_by_the_installed_libraries():
    assert internals.problems() == []
    internals.assert_supported()


def test_every_touch_point_is_a_documented_function_with_a_check():
    for name in internals.CHECKS:
        touch_point = getattr(internals, name)
        assert callable(touch_point), name
        assert (touch_point.__doc__ or "").strip(), f"{name} says what it relies on and why"


def test_the_pinned_versions_are_those_of_requirements_dev():
    def norm(name):
        return name.lower().replace("_", "-")

    pins = {}
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        if "==" in line:
            name, version = line.split("==", 1)
            pins[norm(name.strip())] = version.strip()
    assert {norm(p): v for p, v in internals.PINNED.items()} == {
        norm(p): pins.get(norm(p)) for p in internals.PINNED
    }


@pytest.fixture
def changed_internals(monkeypatch):
    """moto as if upgraded: two internals the local cloud relies on are gone or reshaped."""
    from moto.core import models
    from moto.dynamodb.responses import DynamoHandler

    monkeypatch.setattr(DynamoHandler, "call_action", lambda self, request: None)
    monkeypatch.delattr(models, "botocore_stubber")
    monkeypatch.setattr(internals, "_supported", False)


def test_a_changed_internal_fails_loudly_naming_it_and_the_pins(changed_internals):
    with pytest.raises(internals.UnsupportedInternals) as exc:
        internals.assert_supported()
    message = str(exc.value)
    assert "dynamodb_one_request_at_a_time: DynamoHandler.call_action" in message
    assert "mock_aws_active: moto.core.models has no botocore_stubber" in message
    assert "moto==5.2.5" in message and "aws-lambda-powertools==3.37.0" in message
    assert "stream_records" not in message  # the others are fine


def test_the_local_cloud_does_not_start_on_changed_internals(changed_internals, tmp_path):
    cloud = LocalCloud(
        template_path=ROOT / "tests/localcloud/fixtures/template.yaml", root=ROOT, state_dir=tmp_path
    )
    with pytest.raises(internals.UnsupportedInternals):
        cloud.start()
    assert cloud.moto_endpoint == ""  # failed before moto's server was started


@pytest.fixture
def ddb(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    internals.patch_moto()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        yield client


def put(pk, cond=None, **attrs):
    op = {"TableName": "t", "Item": {"pk": {"S": pk}, **{k: {"S": v} for k, v in attrs.items()}}}
    if cond:
        op["ConditionExpression"] = cond
    return {"Put": op}


def malformed_update() -> dict:
    """An Update that fails while it is applied (v does not exist on a new item), not before."""
    return {
        "Update": {
            "TableName": "t",
            "Key": {"pk": {"S": "y"}},
            "UpdateExpression": "SET v = v + :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def items(ddb):
    return sorted(i["pk"]["S"] for i in ddb.scan(TableName="t")["Items"])


def test_a_failed_condition_writes_nothing_and_names_the_operation(ddb):
    ddb.put_item(TableName="t", Item={"pk": {"S": "taken"}})
    table_before = internals.dynamodb_table("t")
    with pytest.raises(ClientError) as exc:
        ddb.transact_write_items(TransactItems=[put("a"), put("taken", "attribute_not_exists(pk)"), put("b")])
    reasons = [r["Code"] for r in exc.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed", "None"]
    assert items(ddb) == ["taken"]
    assert internals.dynamodb_table("t") is table_before


def test_all_conditions_hold_everything_is_written(ddb):
    ddb.transact_write_items(TransactItems=[put("a", "attribute_not_exists(pk)"), put("b")])
    assert items(ddb) == ["a", "b"]


def test_the_same_item_twice_is_refused(ddb):
    with pytest.raises(ClientError) as exc:
        ddb.transact_write_items(TransactItems=[put("a"), put("a")])
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert items(ddb) == []


def test_a_write_failing_half_way_is_undone(ddb):
    ddb.put_item(TableName="t", Item={"pk": {"S": "x"}, "v": {"S": "old"}})
    bad_update = malformed_update()
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=[put("x", v="new"), bad_update])
    assert ddb.get_item(TableName="t", Key={"pk": {"S": "x"}})["Item"]["v"]["S"] == "old"


def test_updates_and_deletes_before_a_failing_write_are_undone(ddb):
    ddb.put_item(TableName="t", Item={"pk": {"S": "x"}, "v": {"S": "old"}, "tags": {"SS": ["a"]}})
    ddb.put_item(TableName="t", Item={"pk": {"S": "z"}, "v": {"S": "kept"}})
    update_x = {
        "Update": {
            "TableName": "t",
            "Key": {"pk": {"S": "x"}},
            "UpdateExpression": "SET v = :new ADD tags :b",
            "ExpressionAttributeValues": {":new": {"S": "new"}, ":b": {"SS": ["b"]}},
        }
    }
    delete_z = {"Delete": {"TableName": "t", "Key": {"pk": {"S": "z"}}}}
    bad_update = malformed_update()
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=[update_x, delete_z, put("w"), bad_update])
    x = ddb.get_item(TableName="t", Key={"pk": {"S": "x"}})["Item"]
    assert (x["v"]["S"], x["tags"]["SS"]) == ("old", ["a"])
    assert ddb.get_item(TableName="t", Key={"pk": {"S": "z"}})["Item"]["v"]["S"] == "kept"
    assert items(ddb) == ["x", "z"]


def test_a_transaction_over_4_mb_writes_nothing(ddb):
    blob = "x" * (380 * 1024)  # each item under 400 KB; 12 of them over 4 MB
    items = [{"Put": {"TableName": "t", "Item": {"pk": {"S": f"k{n}"}, "v": {"S": blob}}}} for n in range(12)]
    with pytest.raises(ClientError) as exc:
        ddb.transact_write_items(TransactItems=items)
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert stored(ddb) == 0
    ddb.transact_write_items(TransactItems=items[:10])
    assert stored(ddb) == 10


def stored(ddb) -> int:
    return sum(page["Count"] for page in ddb.get_paginator("scan").paginate(TableName="t"))


def test_no_table_is_copied(ddb, monkeypatch):
    """Unpatched moto deep-copies the whole table once per operation of every transaction."""
    import copy

    table_type = type(internals.dynamodb_table("t"))
    copied = []
    real = copy.deepcopy

    def spy(obj, *args, **kwargs):
        if isinstance(obj, table_type):
            copied.append(obj.name)
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(copy, "deepcopy", spy)
    ddb.transact_write_items(TransactItems=[put(f"n{i}") for i in range(6)])
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=[put("n0", "attribute_not_exists(pk)")])
    assert copied == []


def test_an_item_is_measured_once_and_the_size_limit_holds(ddb, monkeypatch):
    from moto.dynamodb.models import dynamo_type

    measured = []
    real = dynamo_type.DynamoType.size
    monkeypatch.setattr(dynamo_type.DynamoType, "size", lambda self: measured.append(1) or real(self))
    many = {f"a{n:03d}": {"S": "x"} for n in range(200)}
    ddb.put_item(TableName="t", Item={"pk": {"S": "wide"}, **many})
    assert len(measured) <= 2 * 201  # moto measured 201 * 202 / 2 attributes
    assert len(ddb.get_item(TableName="t", Key={"pk": {"S": "wide"}})["Item"]) == 201

    ddb.put_item(TableName="t", Item={"pk": {"S": "big"}, "v": {"S": "x" * 399_000}})
    with pytest.raises(ClientError) as exc:
        ddb.put_item(TableName="t", Item={"pk": {"S": "too-big"}, "v": {"S": "x" * 406_000}})
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "size" in exc.value.response["Error"]["Message"]
    assert items(ddb) == ["big", "wide"]


# ---------------------------------------------------------------- moto's responses, served faster
RICH_ITEM = {
    "pk": {"S": "rich"},
    "s": {"S": "山田 太郎"},
    "empty": {"S": ""},
    "n": {"N": "-12.50"},
    "b": {"B": b"\x00\xffbytes"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"\x01", b"\x02"]},
    "yes": {"BOOL": True},
    "no": {"BOOL": False},
    "nothing": {"NULL": True},
    "m": {
        "M": {"l": {"L": [{"S": "x"}, {"N": "1"}, {"M": {"deep": {"B": b"z"}}}, {"L": []}]}, "e": {"M": {}}}
    },
    "l": {"L": [{"BOOL": False}, {"NULL": True}, {"SS": ["q"]}]},
}


def _answers(ddb):
    """What a client reads back through every response shape that carries attribute values."""
    ddb.put_item(TableName="t", Item=RICH_ITEM)
    key = {"pk": {"S": "rich"}}
    answers = [
        ddb.get_item(TableName="t", Key=key),
        ddb.scan(TableName="t", Limit=1),
        ddb.batch_get_item(RequestItems={"t": {"Keys": [key]}})["Responses"],
        ddb.update_item(
            TableName="t",
            Key=key,
            UpdateExpression="SET z = :z",
            ExpressionAttributeValues={":z": {"N": "1"}},
            ReturnValues="ALL_NEW",
        ),
        ddb.put_item(TableName="t", Item=RICH_ITEM, ReturnValues="ALL_OLD"),
    ]
    with pytest.raises(ClientError) as exc:
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": "t",
                        "Item": RICH_ITEM,
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            ]
        )
    answers.append(exc.value.response["CancellationReasons"])
    for answer in answers:
        if isinstance(answer, dict):
            answer.pop("ResponseMetadata", None)
    return answers


def test_attribute_values_are_served_as_moto_itself_serializes_them(ddb, monkeypatch):
    from moto.core.serialize import BaseJSONSerializer

    fast = _answers(ddb)
    assert fast[0]["Item"] == RICH_ITEM and fast[3]["Attributes"]["z"] == {"N": "1"}
    monkeypatch.setattr(
        BaseJSONSerializer,
        "_serialize_type_structure",
        internals._original(BaseJSONSerializer, "_serialize_type_structure"),
    )
    ddb.delete_item(TableName="t", Key={"pk": {"S": "rich"}})
    assert _answers(ddb) == fast


def ranged_table(ddb, range_type: str) -> None:
    """Table `ranged`: hash key `h` (S), range key `r` of `range_type`."""
    ddb.create_table(
        TableName="ranged",
        KeySchema=[{"AttributeName": "h", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "h", "AttributeType": "S"},
            {"AttributeName": "r", "AttributeType": range_type},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def test_items_are_listed_in_moto_s_own_order(ddb):
    from moto.dynamodb.models.table import Table

    ranged_table(ddb, "N")
    for h in ("b", "a", "B", "ä"):
        for r in ("10", "9", "-1", "100", "2.5"):
            ddb.put_item(TableName="ranged", Item={"h": {"S": h}, "r": {"N": r}})
    for n in ("z", "y", "10", "9"):
        ddb.put_item(TableName="t", Item={"pk": {"S": n}})
    original = internals._original(Table, "all_items")
    for name in ("ranged", "t"):
        table = internals.dynamodb_table(name)
        assert [id(i) for i in table.all_items()] == [id(i) for i in original(table)]
    ranged = [(i.hash_key.value, i.range_key.value) for i in internals.dynamodb_table("ranged").all_items()]
    assert ranged[:3] == [("B", "-1"), ("B", "2.5"), ("B", "9")]  # numbers as numbers
    resp = ddb.query(
        TableName="ranged",
        KeyConditionExpression="h = :h",
        ExpressionAttributeValues={":h": {"S": "a"}},
    )
    assert [i["r"]["N"] for i in resp["Items"]] == ["-1", "2.5", "9", "10", "100"]


def test_a_base_table_query_answers_as_moto_itself_does_reading_one_partition(ddb, monkeypatch):
    from moto.dynamodb.models.table import Table

    ranged_table(ddb, "S")
    for h in ("a", "b", "c"):
        for n in range(40):
            ddb.put_item(
                TableName="ranged",
                Item={"h": {"S": h}, "r": {"S": f"{'D' if n % 3 else 'H'}#{n:03d}"}, "n": {"N": str(n)}},
            )
    for n in ("z", "y", "10"):
        ddb.put_item(TableName="t", Item={"pk": {"S": n}, "v": {"S": n}})
    queries = [
        {
            "TableName": "ranged",
            "KeyConditionExpression": "h = :h",
            "ExpressionAttributeValues": {":h": {"S": "b"}},
        },
        {
            "TableName": "ranged",
            "KeyConditionExpression": "h = :h AND begins_with(r, :d)",
            "ExpressionAttributeValues": {":h": {"S": "a"}, ":d": {"S": "D#"}, ":n": {"N": "20"}},
            "FilterExpression": "n > :n",
            "ScanIndexForward": False,
            "Limit": 7,
        },
        {
            "TableName": "ranged",
            "KeyConditionExpression": "h = :h",
            "ExpressionAttributeValues": {":h": {"S": "x"}},
        },
        {
            "TableName": "t",
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "y"}},
        },
    ]

    def pages(query):
        out, start = [], None
        while True:
            resp = ddb.query(**query, **({"ExclusiveStartKey": start} if start else {}))
            out.append((resp["Items"], resp["Count"], resp["ScannedCount"], resp.get("LastEvaluatedKey")))
            start = resp.get("LastEvaluatedKey")
            if not start:
                return out

    listed: list[int] = []  # how many items each Query's all_items() listed
    real_all_items = Table.all_items

    def all_items(self):
        out = real_all_items(self)
        listed.append(len(out))
        return out

    monkeypatch.setattr(Table, "all_items", all_items)
    fast = [pages(q) for q in queries]
    assert set(listed) == {40, 0, 1}  # one partition each, never the 120 items of the table
    monkeypatch.setattr(Table, "query", internals._original(Table, "query"))
    assert [pages(q) for q in queries] == fast
    assert (
        fast[0][0][1] == 40 and fast[2][0][1] == 0 and fast[3][0][0] == [{"pk": {"S": "y"}, "v": {"S": "y"}}]
    )
    assert len(fast[1]) > 1  # paged


def test_attribute_values_of_other_services_keep_moto_s_own_serializer():
    """Other JSON services have a shape named AttributeValue with other members (Pricing's
    `Value`, AppConfig's `StringValue`...): only DynamoDB's take the direct path."""
    from moto.core.serialize import BaseJSONSerializer, XFormedAttributePicker, get_serializer_class
    from moto.core.utils import get_service_model

    internals.patch_moto()
    operation = get_service_model("pricing").operation_model("GetAttributeValues")

    def body(structure_method):
        serializer = get_serializer_class("pricing", "json")(
            operation_model=operation, pretty_print=False, value_picker=XFormedAttributePicker()
        )
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(BaseJSONSerializer, "_serialize_type_structure", structure_method)
            return serializer.serialize({"AttributeValues": [{"Value": "m5.large"}]})["body"]

    patched = BaseJSONSerializer._serialize_type_structure
    original = internals._original(BaseJSONSerializer, "_serialize_type_structure")
    assert body(patched) == body(original) == '{"AttributeValues": [{"Value": "m5.large"}]}'


def test_sessions_share_one_loader_and_each_still_makes_working_clients():
    """moto drops boto3's default session on every start: the next one reads no model again."""
    internals.patch_moto()
    loaders = []
    for _ in range(2):
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name="us-east-1")
            assert ddb.list_tables()["TableNames"] == []
            loaders.append(boto3.DEFAULT_SESSION._session.get_component("data_loader"))
    assert loaders[0] is loaders[1]


def test_kms_makes_a_key_pair_only_for_a_key_that_signs(monkeypatch):
    from moto.kms import models

    internals.patch_moto()
    made = []
    lazy = models.generate_private_key
    monkeypatch.setattr(
        models, "generate_private_key", lambda spec: made.append(spec) or lazy(spec), raising=True
    )
    with mock_aws():
        kms = boto3.client("kms", region_name="us-east-1")
        sym = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=sym, Plaintext=b"secret")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
        hmac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
        mac = kms.generate_mac(KeyId=hmac, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
        assert kms.verify_mac(KeyId=hmac, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"]
        keys = internals._kms_backend().keys
        assert all(keys[k].private_key._key is None for k in (sym, hmac))  # no pair was made

        signer = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        sig = kms.sign(KeyId=signer, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
        assert kms.verify(KeyId=signer, Message=b"m", Signature=sig, SigningAlgorithm="RSASSA_PSS_SHA_256")[
            "SignatureValid"
        ]
        assert kms.get_public_key(KeyId=signer)["PublicKey"]
    assert made == ["SYMMETRIC_DEFAULT", "HMAC_256", "RSA_2048"]


def _queue_view(sqs, url):
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    counts = {k: v for k, v in attrs.items() if k.startswith("ApproximateNumberOfMessages")}
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    return counts, sorted(m["Body"] for m in got)


def test_queues_count_and_hand_out_messages_as_moto_itself_does(monkeypatch):
    """The queue reads the clock once per look, not once per message: the same counts of
    waiting, in-flight and delayed messages, the same messages received, and a message past
    the queue's retention period is still not handed out."""
    from moto.sqs import models

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    internals.patch_moto()

    def scenario():
        with mock_aws():
            sqs = boto3.client("sqs", region_name="us-east-1")
            url = sqs.create_queue(QueueName="q")["QueueUrl"]
            for n in range(5):
                sqs.send_message(QueueUrl=url, MessageBody=f"now-{n}")
            sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
            first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=60)
            assert len(first["Messages"]) == 2
            views = [_queue_view(sqs, url)]
            short = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})[
                "QueueUrl"
            ]
            sqs.send_message(QueueUrl=short, MessageBody="old")
            queue = models.sqs_backends["123456789012"]["us-east-1"].queues["short"]
            queue._messages[0].sent_timestamp -= 61_000  # sent 61 s ago, kept 60 s
            views.append(_queue_view(sqs, short))
            return views

    patched = scenario()
    assert patched[0] == (
        {
            "ApproximateNumberOfMessages": "3",
            "ApproximateNumberOfMessagesDelayed": "1",
            "ApproximateNumberOfMessagesNotVisible": "2",
        },
        ["now-2", "now-3", "now-4"],
    )
    assert patched[1][1] == []  # past its retention period
    for name in internals._QUEUE_PROPERTIES:
        monkeypatch.setattr(models.Queue, name, internals._original(models.Queue, name))
    name = "is_message_valid_based_on_retention_period"
    monkeypatch.setattr(models.SQSBackend, name, internals._original(models.SQSBackend, name))
    assert scenario() == patched
