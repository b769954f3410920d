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
from tests.localcloud.conftest import query_pages

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
    assert "moto==5.2.5" in message and "Werkzeug==3.1.9" in message
    assert "stream_records" not in message  # the others are fine


def test_the_local_cloud_does_not_start_on_changed_internals(changed_internals, tmp_path):
    cloud = LocalCloud(
        template_path=ROOT / "tests/localcloud/fixtures/template.yaml", root=ROOT, state_dir=tmp_path
    )
    with pytest.raises(internals.UnsupportedInternals):
        cloud.start()
    assert cloud.moto_endpoint == ""  # failed before moto's server was started


def _create_table(client, **extra) -> None:
    """Table `t`, keyed by `pk` alone, on demand (and `extra`: a stream, say)."""
    client.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )


@pytest.fixture
def ddb(moto_dynamodb):
    _create_table(
        moto_dynamodb, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    )
    return moto_dynamodb


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


def test_an_item_projected_on_top_level_names_is_what_moto_itself_projects(monkeypatch):
    """internals.project_top_level_once converts an item once for a projection of top-level
    names (an INCLUDE index, a ProjectionExpression of names): the same Item moto's own makes,
    and moto's own for nested paths and list elements."""
    from moto.dynamodb.models import dynamo_type

    internals.project_top_level_once()
    item = dynamo_type.Item(dynamo_type.DynamoType(RICH_ITEM["pk"]), None, RICH_ITEM)
    original = internals._original(dynamo_type.Item, "project")
    converted = []
    real = dynamo_type.Item.to_regular_json
    monkeypatch.setattr(dynamo_type.Item, "to_regular_json", lambda self: converted.append(1) or real(self))
    cases = [
        [[name] for name in RICH_ITEM],  # every attribute
        [["pk"], ["m"], ["absent"], ["s"], ["m"]],  # one missing, one twice
        [["ss"], ["ns"], ["bs"], ["b"], ["nothing"], ["yes"], ["no"], ["empty"]],
        [],
        [["m", "l"]],  # a nested path: moto's own
        [["pk"], ["m", "e"]],
        [["m.l[1]"]],
        [["l[0]"]],
    ]
    for expressions in cases:
        converted.clear()
        ours = item.project(expressions)
        ours_conversions = len(converted)
        converted.clear()
        theirs = original(item, expressions)
        assert ours.to_json() == theirs.to_json(), expressions
        assert (ours.hash_key, ours.range_key) == (theirs.hash_key, theirs.range_key)
        if expressions and all(len(e) == 1 and "[" not in e[0] for e in expressions):
            assert ours_conversions == 1 and len(converted) == len(expressions)


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


def test_a_base_table_query_answers_as_moto_itself_does_reading_one_partition(ddb, monkeypatch, listed):
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

    listed.clear()  # from here: how many items each Query's all_items() listed
    fast = [query_pages(ddb, q) for q in queries]
    assert set(listed) == {40, 0, 1}  # one partition each, never the 120 items of the table
    monkeypatch.setattr(Table, "query", internals._original(Table, "query"))
    assert [query_pages(ddb, q) for q in queries] == fast
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


def test_stream_records_read_as_copies_of_moto_s_records_or_as_them(ddb):
    import copy

    ddb.put_item(TableName="t", Item=RICH_ITEM)
    ddb.update_item(
        TableName="t",
        Key={"pk": {"S": "rich"}},
        UpdateExpression="SET z = :z",
        ExpressionAttributeValues={":z": {"N": "1"}},
    )
    ddb.delete_item(TableName="t", Key={"pk": {"S": "rich"}})
    shard = internals.dynamodb_table("t").stream_shard
    arn = f"arn:aws:dynamodb:us-east-1:{internals.ACCOUNT_ID}:table/t/stream/label"
    expected = copy.deepcopy([r.to_json() for r in shard.items])

    records = internals.stream_records(arn, shard.id, shard.starting_sequence_number, 10)
    assert records == expected and len(records) == 3
    assert records[1]["dynamodb"]["NewImage"]["z"] == {"N": "1"}
    records[0]["dynamodb"]["NewImage"]["s"]["S"] = "changed"
    records[1]["dynamodb"]["Keys"].clear()
    assert [r.to_json() for r in shard.items] == expected  # moto's records untouched

    shared = internals.stream_records(arn, shard.id, shard.starting_sequence_number + 1, 10, copied=False)
    assert shared == expected[1:] and shared[0] is shard.items[1].to_json()
    odd = {"set": {1, 2}, "list": [{"x": b"y"}]}
    copied = internals._copy_record(odd)
    assert copied == odd and copied["set"] is not odd["set"] and copied["list"][0] is not odd["list"][0]


def _conditional_answers(ddb) -> list:
    """Writes, a transaction and a scan with conditions and filters, each made twice (the
    second time from the parsed expression kept), and the expressions DynamoDB refuses."""

    def attempt(call, **kwargs):
        try:
            resp = call(**kwargs)
        except ClientError as exc:
            err = exc.response
            return err["Error"]["Code"], err["Error"]["Message"], err.get("CancellationReasons")
        except (ValueError, KeyError) as exc:  # moto on a malformed expression (its server: a 500)
            return type(exc).__name__, str(exc)
        resp.pop("ResponseMetadata", None)
        return resp

    names_v = {"ExpressionAttributeNames": {"#v": "v"}}
    out = []
    for n in range(2):
        out += [
            attempt(
                ddb.put_item,
                TableName="t",
                Item={"pk": {"S": f"c{n}"}, "v": {"N": "1"}},
                ConditionExpression="attribute_not_exists(pk)",
            ),
            attempt(  # c0 is there: refused both times
                ddb.put_item,
                TableName="t",
                Item={"pk": {"S": "c0"}, "v": {"N": "2"}},
                ConditionExpression="attribute_not_exists(pk)",
            ),
            attempt(  # holds the first time, not the second (v is 2 then)
                ddb.update_item,
                TableName="t",
                Key={"pk": {"S": "c0"}},
                UpdateExpression="SET #v = #v + :one",
                ConditionExpression="#v = :v",
                ExpressionAttributeValues={":v": {"N": "1"}, ":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
                **names_v,
            ),
            attempt(
                ddb.transact_write_items,
                TransactItems=[
                    put(f"t{n}", "attribute_not_exists(pk)"),
                    {
                        "ConditionCheck": {
                            "TableName": "t",
                            "Key": {"pk": {"S": "c0"}},
                            "ConditionExpression": "#v BETWEEN :lo AND :hi AND attribute_type(#v, :n)",
                            "ExpressionAttributeValues": {
                                ":lo": {"N": "2"},
                                ":hi": {"N": "5"},
                                ":n": {"S": "N"},
                            },
                            **names_v,
                        }
                    },
                ],
            ),
            attempt(
                ddb.scan,
                TableName="t",
                FilterExpression="begins_with(pk, :p) OR #v IN (:a, :b)",
                ExpressionAttributeValues={":p": {"S": "t"}, ":a": {"N": "2"}, ":b": {"N": "3"}},
                **names_v,
            ),
            attempt(
                ddb.delete_item,
                TableName="t",
                Key={"pk": {"S": "c1"}},
                ConditionExpression="#v = :x",
                ExpressionAttributeValues={":x": {"N": "9"}},
                **names_v,
            ),
            attempt(ddb.transact_write_items, TransactItems=[put("bad", "size(pk")]),
            attempt(ddb.transact_write_items, TransactItems=[put("bad", "v = :missing")]),
        ]
    return out


def test_conditions_parsed_once_answer_as_moto_parsing_each_time(monkeypatch):
    """A condition or filter expression is parsed once and its parsed tree used again: the
    same writes, the same failed conditions and the same refusals as moto's own parser."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    internals.patch_moto()

    def scenario():
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            _create_table(client)
            return _conditional_answers(client)

    internals._parsed_conditions.clear()
    parses: list[str] = []
    patched = ConditionExpressionParser.parse

    def counted(self):
        parses.append(self.condition_expression)
        return patched(self)

    monkeypatch.setattr(ConditionExpressionParser, "parse", counted)
    cached = scenario()
    parsed = set(internals._parsed_conditions)
    assert len(parses) > 2 * len(parsed) > 0  # each checked and evaluated, each round alike
    failed = "ConditionalCheckFailedException"
    assert cached[0] == cached[8] == {}  # the first write of c0, of c1
    assert [cached[i][0] for i in (1, 5, 9, 10, 13)] == [failed] * 5
    assert cached[2]["Attributes"]["v"] == {"N": "2"} and cached[12]["Count"] == 3
    assert cached[6][0] == cached[14][0] == "ValueError" and cached[7] == cached[15]  # refused twice
    assert not any("size(pk" in key[0] for key in parsed)  # a refused expression is not kept
    monkeypatch.setattr(
        ConditionExpressionParser, "parse", internals._original(ConditionExpressionParser, "parse")
    )
    assert scenario() == cached


# answer parts that differ from one request to the next whoever answers
_VOLATILE_HEADERS = {"x-amzn-requestid", "x-amz-crc32"}
_VOLATILE_FIELDS = {"MessageId", "ReceiptHandle", "CreationDateTime", "LatestStreamLabel", "LatestStreamArn"}


def _steady(value):
    if isinstance(value, dict):
        return {k: "*" if k in _VOLATILE_FIELDS else _steady(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_steady(v) for v in value]
    return value


def _moto_answers(app, endpoint: str) -> list:
    """The raw answers (status, headers, body) of DynamoDB, SQS and STS requests through `app`,
    from moto's backends reset first."""
    import json
    import re

    from localcloud.moto_server import InProcessRoute, call_app

    call_app(app, "POST", "/moto-api/reset", [], b"", server=("127.0.0.1", 1))
    answers: list = []

    def recorded(environ, start_response):
        got: dict = {}

        def start(status, headers, exc_info=None):
            got.update(status=status, headers=headers)
            return lambda data: None

        body = b"".join(app(environ, start))
        # Content-Length is checked against the body here, not compared: a volatile field masked
        # below (a creation time's float) can be a digit longer in one answer than in the other.
        length = [v for k, v in got["headers"] if k.lower() == "content-length"]
        assert length in ([], [str(len(body))]), (length, len(body))
        headers = [
            (k, v) for k, v in got["headers"] if k.lower() not in _VOLATILE_HEADERS | {"content-length"}
        ]
        text = re.sub(r"<RequestId>[^<]*</RequestId>", "<RequestId>*</RequestId>", body.decode())
        answers.append((got["status"], headers, _steady(json.loads(text)) if text.startswith("{") else text))
        start_response(got["status"], got["headers"])
        return [body]

    session = boto3.session.Session()
    session.events.register("before-send", InProcessRoute(recorded, endpoint))
    ddb = session.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    sqs = session.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    sts = session.client("sts", endpoint_url=endpoint, region_name="us-east-1")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="t", Item=RICH_ITEM)
    ddb.get_item(TableName="t", Key={"pk": {"S": "rich"}})
    ddb.query(
        TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "rich"}}
    )
    refused = [
        lambda: ddb.put_item(TableName="t", Item=RICH_ITEM, ConditionExpression="attribute_not_exists(pk)"),
        lambda: ddb.transact_write_items(TransactItems=[put("rich", "attribute_not_exists(pk)")]),
        lambda: ddb.describe_table(TableName="missing"),
        lambda: ddb.put_item(TableName="t", Item={"pk": {"S": ""}}),
        lambda: sqs.get_queue_url(QueueName="missing"),
    ]
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(
        QueueUrl=url, MessageBody="über", MessageAttributes={"a": {"DataType": "String", "StringValue": "1"}}
    )
    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    sts.get_caller_identity()  # not DynamoDB or SQS: moto's app answers
    for call in refused:
        with pytest.raises(ClientError):
            call()
    return answers


def test_dynamodb_and_sqs_answer_without_flask_as_moto_s_app_answers(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    internals.patch_moto()
    moto_app = internals.moto_wsgi_app()
    through_flask: list[str] = []

    def flask(environ, start_response):
        through_flask.append(environ.get("HTTP_X_AMZ_TARGET") or environ["PATH_INFO"])
        return moto_app(environ, start_response)

    endpoint = "http://127.0.0.1:1"  # never opened: every request is answered in this thread
    direct = _moto_answers(internals.dispatch_without_flask(flask), endpoint)
    assert through_flask == ["/moto-api/reset", "/"]  # the reset and STS alone
    assert [status for status, _, _ in direct].count("400 BAD REQUEST") == 5
    assert _moto_answers(moto_app, endpoint) == direct
