"""Creates the template's resources in moto: tables, queues, event buses, topics, rules, buckets.

Resource types the local cloud does not need (alarms, layers, APIs, roles...) are skipped
with a debug log. Values only known once a resource exists are recorded on the resolver.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from localcloud.intrinsics import queue_arn
from localcloud.stepfunctions import STATE_MACHINE_TYPES
from localcloud.template import FUNCTION_TYPES, Template

log = logging.getLogger("localcloud.resources")

TABLE_TYPES = ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")
_SIMPLE_TYPES = {"String": "S", "Number": "N", "Binary": "B"}
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)
_HANDLED_ELSEWHERE = (
    *FUNCTION_TYPES,
    *STATE_MACHINE_TYPES,
    "AWS::Serverless::HttpApi",
    "AWS::Serverless::LayerVersion",
)


@dataclass
class Provisioned:
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> queue URL
    queue_urls_by_arn: dict[str, str] = field(default_factory=dict)
    buses: dict[str, str] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)
    rules: dict[str, tuple[str, str, list[str]]] = field(default_factory=dict)  # name, bus, target ids
    buckets: dict[str, str] = field(default_factory=dict)  # logical id -> bucket name
    keys: dict[str, str] = field(default_factory=dict)  # logical id -> KMS key id


def _table_args(template: Template, logical_id: str) -> dict[str, Any]:
    res_type = template.resources_all[logical_id]["Type"]
    props = template.properties(logical_id)
    name = template.resolver.physical_name(logical_id)
    if res_type == "AWS::Serverless::SimpleTable":
        pk = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
        args: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": [
                {"AttributeName": pk["Name"], "AttributeType": _SIMPLE_TYPES[pk["Type"]]}
            ],
            "KeySchema": [{"AttributeName": pk["Name"], "KeyType": "HASH"}],
        }
    else:
        args = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
        }
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(key):
                args[key] = [
                    {
                        k: v
                        for k, v in index.items()
                        if k in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
                    }
                    for index in props[key]
                ]
        stream = props.get("StreamSpecification")
        if stream and stream.get("StreamViewType"):
            args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    if props.get("ProvisionedThroughput"):
        args["ProvisionedThroughput"] = {k: int(v) for k, v in props["ProvisionedThroughput"].items()}
        args["BillingMode"] = "PROVISIONED"
    else:
        args["BillingMode"] = "PAY_PER_REQUEST"
    return args


def create_tables(template: Template, ddb: Any, out: Provisioned) -> None:
    for lid in template.resources(*TABLE_TYPES):
        args = _table_args(template, lid)
        desc = ddb.create_table(**args)["TableDescription"]
        name = args["TableName"]
        out.tables[lid] = name
        template.resolver.set_attribute(lid, "Arn", desc["TableArn"])
        if desc.get("LatestStreamArn"):
            template.resolver.set_attribute(lid, "StreamArn", desc["LatestStreamArn"])
        ttl = template.properties(lid).get("TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled")).lower() == "true":
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        log.debug("table %s created (%s)", lid, name)


def create_queues(template: Template, sqs: Any, out: Provisioned) -> None:
    queues = template.resources("AWS::SQS::Queue")
    # A dead-letter queue must exist before the queue that redrives to it.
    ordered = sorted(queues, key=lambda lid: "RedrivePolicy" in (queues[lid].get("Properties") or {}))
    for lid in ordered:
        props = template.properties(lid)
        name = template.resolver.physical_name(lid)
        attributes = {k: _attr_str(props[k]) for k in _QUEUE_ATTRIBUTES if k in props}
        if props.get("RedrivePolicy"):
            policy = props["RedrivePolicy"]
            attributes["RedrivePolicy"] = policy if isinstance(policy, str) else json.dumps(policy)
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        out.queues[lid] = url
        out.queue_urls_by_arn[queue_arn(name)] = url
        template.resolver.set_attribute(lid, "Ref", url)
        template.resolver.set_attribute(lid, "QueueUrl", url)
        log.debug("queue %s created (%s)", lid, url)


def create_buckets(template: Template, s3: Any, out: Provisioned) -> None:
    """S3 buckets by name (their lifecycle, encryption and access settings are AWS's to apply)."""
    for lid in template.resources("AWS::S3::Bucket"):
        name = template.resolver.physical_name(lid)
        s3.create_bucket(Bucket=name)
        out.buckets[lid] = name
        log.debug("bucket %s created (%s)", lid, name)


def create_keys(template: Template, kms: Any, out: Provisioned) -> None:
    """KMS keys (their key policies are AWS's to apply; the functions' own policies are checked)."""
    for lid in template.resources("AWS::KMS::Key"):
        props = template.properties(lid)
        meta = kms.create_key(
            Description=f"{lid} (local)",
            KeySpec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),  # an HMAC key signs list cursors
            KeyUsage=props.get("KeyUsage", "ENCRYPT_DECRYPT"),
        )["KeyMetadata"]
        out.keys[lid] = meta["KeyId"]
        template.resolver.set_attribute(lid, "Ref", meta["KeyId"])
        template.resolver.set_attribute(lid, "Arn", meta["Arn"])
        template.resolver.set_attribute(lid, "KeyId", meta["KeyId"])
        log.debug("key %s created (%s)", lid, meta["KeyId"])


def _attr_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def create_buses(template: Template, events: Any, out: Provisioned) -> None:
    for lid in template.resources("AWS::Events::EventBus"):
        name = template.resolver.physical_name(lid)
        if name != "default":
            events.create_event_bus(Name=name)
        out.buses[lid] = name


def create_topics(template: Template, sns: Any, out: Provisioned) -> None:
    for lid in template.resources("AWS::SNS::Topic"):
        props = template.properties(lid)
        attributes = {"FifoTopic": "true"} if str(props.get("FifoTopic")).lower() == "true" else {}
        arn = sns.create_topic(Name=template.resolver.physical_name(lid), Attributes=attributes)["TopicArn"]
        out.topics[lid] = arn
        template.resolver.set_attribute(lid, "Ref", arn)


def create_rules(template: Template, events: Any, out: Provisioned) -> None:
    """EventBridge rules with SQS or event-bus targets (moto delivers to those itself)."""
    for lid in template.resources("AWS::Events::Rule"):
        props = template.properties(lid)
        name = template.resolver.physical_name(lid)
        kwargs: dict[str, Any] = {"Name": name, "State": props.get("State", "ENABLED")}
        for key in ("EventBusName", "ScheduleExpression", "Description"):
            if props.get(key):
                kwargs[key] = props[key]
        if props.get("EventPattern"):
            pattern = props["EventPattern"]
            kwargs["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        events.put_rule(**kwargs)
        targets = []
        for target in props.get("Targets") or []:
            service = str(target.get("Arn", "")).split(":")[2:3]
            if service in (["sqs"], ["events"]):
                targets.append(
                    {
                        k: v
                        for k, v in target.items()
                        if k in ("Id", "Arn", "Input", "InputPath", "SqsParameters")
                    }
                )
            else:
                log.warning("rule %s: target %s is not delivered locally", lid, target.get("Arn"))
        bus = kwargs.get("EventBusName", "default")
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        out.rules[lid] = (name, bus, [t["Id"] for t in targets])
        log.debug("rule %s created", lid)


def _check_free(template: Template, clients: dict[str, Any]) -> None:
    """With another LocalCloud paused in this process, refuse to share its tables or queues."""
    existing_tables = set(clients["dynamodb"].list_tables().get("TableNames", []))
    existing_queues = {u.rsplit("/", 1)[-1] for u in clients["sqs"].list_queues().get("QueueUrls", [])}
    for lid in template.resources(*TABLE_TYPES, "AWS::SQS::Queue"):
        name = template.resolver.physical_name(lid)
        if name in existing_tables or name in existing_queues:
            raise ValueError(f"{lid}: {name} already exists (used by the paused local cloud in this process)")


def provision(template: Template, clients: dict[str, Any], *, exclusive: bool = False) -> Provisioned:
    if exclusive:
        _check_free(template, clients)
    out = Provisioned()
    create_keys(template, clients["kms"], out)
    create_tables(template, clients["dynamodb"], out)
    create_queues(template, clients["sqs"], out)
    create_buses(template, clients["events"], out)
    create_topics(template, clients["sns"], out)
    create_rules(template, clients["events"], out)
    create_buckets(template, clients["s3"], out)
    handled = (
        "AWS::S3::Bucket",
        "AWS::KMS::Key",
        *TABLE_TYPES,
        "AWS::SQS::Queue",
        "AWS::Events::EventBus",
        "AWS::SNS::Topic",
        "AWS::Events::Rule",
    )
    for lid, res in template.resources().items():
        if res.get("Type") not in handled and res.get("Type") not in _HANDLED_ELSEWHERE:
            log.debug("skipping %s (%s): not needed locally", lid, res.get("Type"))
    return out


def teardown(out: Provisioned, state_machines: dict[str, str], clients: dict[str, Any]) -> None:
    """Delete what provision() created (when moto's state must outlive this LocalCloud)."""
    for arn in state_machines.values():
        clients["stepfunctions"].delete_state_machine(stateMachineArn=arn)
    for name, bus, target_ids in out.rules.values():
        if target_ids:
            clients["events"].remove_targets(Rule=name, EventBusName=bus, Ids=target_ids)
        clients["events"].delete_rule(Name=name, EventBusName=bus)
    for name in out.buses.values():
        if name != "default":
            clients["events"].delete_event_bus(Name=name)
    for arn in out.topics.values():
        clients["sns"].delete_topic(TopicArn=arn)
    for url in out.queues.values():
        clients["sqs"].delete_queue(QueueUrl=url)
    for name in out.tables.values():
        clients["dynamodb"].delete_table(TableName=name)
    for name in out.buckets.values():
        for page in clients["s3"].get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                clients["s3"].delete_object(Bucket=name, Key=obj["Key"])
        clients["s3"].delete_bucket(Bucket=name)
    for key_id in out.keys.values():
        clients["kms"].schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
