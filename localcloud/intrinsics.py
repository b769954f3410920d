"""A small CloudFormation intrinsic-function resolver for the local cloud.

It knows the pseudo parameters of the local "account", the parameter defaults of the
template, how each supported resource type is named locally, and what `Ref` /
`Fn::GetAtt` return for it. Values only known once a resource exists in moto (a queue's URL
on the local endpoint, a table's stream ARN) are recorded with `set_attribute` by the
provisioner and take precedence over the computed ones.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "orderhub-local"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"
HTTP_API_ID = "local"

PSEUDO_PARAMETERS = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::StackName": STACK_NAME,
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
    "AWS::URLSuffix": URL_SUFFIX,
    "AWS::Partition": PARTITION,
    "AWS::NotificationARNs": [],
}


class IntrinsicError(ValueError):
    """The template uses something the local resolver cannot evaluate."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()

_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


def lambda_arn(function_name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"


def queue_arn(queue_name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue_name}"


def function_name_from_arn(name_or_arn: str) -> str:
    """`Foo`, `arn:aws:lambda:...:function:Foo` or `...:function:Foo:$LATEST` -> `Foo`."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        return parts[6] if len(parts) > 6 else parts[-1]
    return name_or_arn.split(":")[0]


class Resolver:
    """Evaluates intrinsic functions against one template's parameters and resources."""

    def __init__(
        self,
        resources: Mapping[str, dict],
        parameters: Mapping[str, Any],
        conditions: Mapping[str, Any] | None = None,
        mappings: Mapping[str, Any] | None = None,
    ):
        self.resources = resources
        self.parameters = dict(parameters)
        self.mappings = mappings or {}
        self._condition_defs = conditions or {}
        self._condition_values: dict[str, bool] = {}
        self._attributes: dict[tuple[str, str], Any] = {}

    # ------------------------------------------------------------------ runtime facts
    def set_attribute(self, logical_id: str, name: str, value: Any) -> None:
        """Record a value known only once the resource exists (`Ref` uses name "Ref")."""
        self._attributes[(logical_id, name)] = value

    # ------------------------------------------------------------------ conditions
    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            if name not in self._condition_defs:
                raise IntrinsicError(f"unknown condition {name!r}")
            self._condition_values[name] = bool(self.resolve(self._condition_defs[name]))
        return self._condition_values[name]

    def is_enabled(self, logical_id: str) -> bool:
        cond = self.resources[logical_id].get("Condition")
        return cond is None or self.condition(cond)

    # ------------------------------------------------------------------ resolution
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            fn = self._functions().get(key)
            if fn is not None:
                return fn(arg)
        out = {}
        for k, v in value.items():
            r = self.resolve(v)
            if r is not NO_VALUE:
                out[k] = r
        return out

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::If": self._if,
            "Fn::Equals": self._equals,
            "Fn::Not": lambda a: not self._bool(self.resolve(a)[0]),
            "Fn::And": lambda a: all(self._bool(x) for x in self.resolve(a)),
            "Fn::Or": lambda a: any(self._bool(x) for x in self.resolve(a)),
            "Condition": lambda a: self.condition(self.resolve(a)),
            "Fn::FindInMap": self._find_in_map,
            "Fn::Base64": lambda a: base64.b64encode(str(self.resolve(a)).encode()).decode(),
            "Fn::GetAZs": lambda a: [f"{REGION}{z}" for z in "abc"],
            "Fn::ToJsonString": lambda a: json.dumps(self.resolve(a), separators=(",", ":")),
            "Fn::Length": lambda a: len(self.resolve(a)),
            "Fn::ImportValue": self._unsupported("Fn::ImportValue"),
        }

    @staticmethod
    def _unsupported(name: str) -> Callable[[Any], Any]:
        def fail(arg: Any) -> Any:
            raise IntrinsicError(f"{name} is not supported locally ({arg!r})")

        return fail

    def _bool(self, value: Any) -> bool:
        if isinstance(value, str):
            return value.lower() == "true"
        return bool(value)

    def _ref(self, name: Any) -> Any:
        name = self.resolve(name)
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.attribute(name, "Ref")
        raise IntrinsicError(f"Ref to unknown parameter or resource {name!r}")

    def _get_att(self, arg: Any) -> Any:
        arg = self.resolve(arg)
        if isinstance(arg, str):
            logical_id, _, attr = arg.partition(".")
        else:
            logical_id, attr = arg[0], arg[1]
        if logical_id not in self.resources:
            raise IntrinsicError(f"Fn::GetAtt on unknown resource {logical_id!r}")
        return self.attribute(logical_id, attr)

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], self.resolve(arg[1])
        else:
            text, variables = arg, {}

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.resources:
                return str(self._get_att(name))
            return str(self._ref(name))

        return _SUB_VAR.sub(replace, text)

    def _join(self, arg: Any) -> str:
        sep, items = self.resolve(arg)
        return str(sep).join(str(i) for i in items)

    def _select(self, arg: Any) -> Any:
        index, items = self.resolve(arg)
        return items[int(index)]

    def _split(self, arg: Any) -> list[str]:
        sep, text = self.resolve(arg)
        return str(text).split(sep)

    def _if(self, arg: Any) -> Any:
        name, if_true, if_false = arg
        return self.resolve(if_true if self.condition(name) else if_false)

    def _equals(self, arg: Any) -> bool:
        a, b = self.resolve(arg)
        return str(a) == str(b) if not (isinstance(a, list | dict) or isinstance(b, list | dict)) else a == b

    def _find_in_map(self, arg: Any) -> Any:
        name, top, second = self.resolve(arg)
        try:
            return self.mappings[name][top][second]
        except KeyError as exc:
            raise IntrinsicError(f"Fn::FindInMap: no {name}/{top}/{second}") from exc

    # ------------------------------------------------------------------ resource identity
    def physical_name(self, logical_id: str) -> str:
        """The name a resource gets locally (its explicit name property, else a derived one)."""
        res = self.resources[logical_id]
        rtype = res.get("Type", "")
        props = res.get("Properties") or {}
        explicit = {
            "AWS::DynamoDB::Table": "TableName",
            "AWS::Serverless::SimpleTable": "TableName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::SNS::Topic": "TopicName",
            "AWS::Events::EventBus": "Name",
            "AWS::Events::Rule": "Name",
            "AWS::Serverless::Function": "FunctionName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::Serverless::StateMachine": "Name",
            "AWS::StepFunctions::StateMachine": "StateMachineName",
            "AWS::S3::Bucket": "BucketName",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::Cognito::UserPool": "UserPoolName",
            "AWS::Cognito::UserPoolClient": "ClientName",
            "AWS::IAM::Role": "RoleName",
            "AWS::Serverless::LayerVersion": "LayerName",
        }.get(rtype)
        if explicit and props.get(explicit) not in (None, ""):
            return str(self.resolve(props[explicit]))
        if rtype in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return logical_id
        name = f"{STACK_NAME}-{logical_id}"
        if rtype == "AWS::S3::Bucket":
            return name.lower()  # bucket names are lowercase (CloudFormation lowercases them too)
        if rtype == "AWS::SQS::Queue" and self._bool(self.resolve(props.get("FifoQueue", False))):
            name += ".fifo"
        return name

    def attribute(self, logical_id: str, attr: str) -> Any:
        """`Ref` (attr "Ref") or `Fn::GetAtt` of a resource."""
        if (logical_id, attr) in self._attributes:
            return self._attributes[(logical_id, attr)]
        rtype = self.resources[logical_id].get("Type", "")
        name = self.physical_name(logical_id)
        arn_prefix = f"arn:{PARTITION}"
        table_arn = f"{arn_prefix}:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
        known: dict[str, dict[str, Any]] = {
            "AWS::DynamoDB::Table": {
                "Ref": name,
                "Arn": table_arn,
                "StreamArn": f"{table_arn}/stream/local",
            },
            "AWS::SQS::Queue": {
                "Ref": f"https://sqs.{REGION}.{URL_SUFFIX}/{ACCOUNT_ID}/{name}",
                "QueueUrl": f"https://sqs.{REGION}.{URL_SUFFIX}/{ACCOUNT_ID}/{name}",
                "Arn": queue_arn(name),
                "QueueName": name,
            },
            "AWS::SNS::Topic": {
                "Ref": f"{arn_prefix}:sns:{REGION}:{ACCOUNT_ID}:{name}",
                "TopicArn": f"{arn_prefix}:sns:{REGION}:{ACCOUNT_ID}:{name}",
                "TopicName": name,
            },
            "AWS::Events::EventBus": {
                "Ref": name,
                "Name": name,
                "Arn": f"{arn_prefix}:events:{REGION}:{ACCOUNT_ID}:event-bus/{name}",
            },
            "AWS::Events::Rule": {
                "Ref": name,
                "Arn": f"{arn_prefix}:events:{REGION}:{ACCOUNT_ID}:rule/{name}",
            },
            "AWS::Serverless::Function": {"Ref": name, "Arn": lambda_arn(name)},
            "AWS::Serverless::StateMachine": {
                "Ref": f"{arn_prefix}:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}",
                "Arn": f"{arn_prefix}:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}",
                "Name": name,
            },
            "AWS::Serverless::HttpApi": {"Ref": HTTP_API_ID, "ApiId": HTTP_API_ID},
            "AWS::Serverless::LayerVersion": {
                "Ref": f"{arn_prefix}:lambda:{REGION}:{ACCOUNT_ID}:layer:{name}:1",
            },
            "AWS::IAM::Role": {"Ref": name, "Arn": f"{arn_prefix}:iam::{ACCOUNT_ID}:role/{name}"},
            "AWS::S3::Bucket": {"Ref": name, "Arn": f"{arn_prefix}:s3:::{name}"},
            "AWS::Cognito::UserPool": {
                "Ref": f"{REGION}_{logical_id}",
                "Arn": f"{arn_prefix}:cognito-idp:{REGION}:{ACCOUNT_ID}:userpool/{REGION}_{logical_id}",
            },
            "AWS::Cognito::UserPoolClient": {"Ref": f"local-client-{name.lower()}"},
            "AWS::KMS::Key": {  # the provisioner records moto's key id and ARN
                "Ref": f"local-{logical_id}",
                "KeyId": f"local-{logical_id}",
                "Arn": f"{arn_prefix}:kms:{REGION}:{ACCOUNT_ID}:key/local-{logical_id}",
            },
            # Not created locally; the local cloud's console origin sets its DomainName when it runs
            # (localcloud/console.py), this placeholder serves a template read without one.
            "AWS::CloudFront::Distribution": {
                "Ref": f"local-{logical_id}",
                "Id": f"local-{logical_id}",
                "DomainName": f"{logical_id.lower()}.cloudfront.local",
            },
            "AWS::Logs::LogGroup": {
                "Ref": name,
                "Arn": f"{arn_prefix}:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*",
            },
        }
        known["AWS::Serverless::SimpleTable"] = known["AWS::DynamoDB::Table"]
        known["AWS::Lambda::Function"] = known["AWS::Serverless::Function"]
        known["AWS::StepFunctions::StateMachine"] = known["AWS::Serverless::StateMachine"]
        attrs = known.get(rtype)
        if attrs is None:
            if attr == "Ref":
                return logical_id
            raise IntrinsicError(f"Fn::GetAtt {logical_id}.{attr}: type {rtype} is not supported locally")
        if attr not in attrs:
            raise IntrinsicError(f"Fn::GetAtt {logical_id}.{attr}: unknown attribute for {rtype}")
        return attrs[attr]
