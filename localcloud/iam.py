"""IAM on the local cloud: each AWS call a function's handler makes is checked against the
policies of that function's role, as deployed, and refused with AccessDenied as AWS would.

Where the policies come from: the template after the SAM transform (sam.py), so SAM policy
templates are expanded and the policies SAM adds (event sources, destinations, managed
policies) are there. `Ref`, `Fn::GetAtt` and `Fn::Sub` resolve through the local cloud's
resolver to the ARNs of the local resources.

How a call is judged (the identity-policy part of AWS's evaluation; the template attaches
no permission boundaries, session policies or resource policies that could deny):
- the call is made while a function's handler runs (`acting_as`, set by functions.py); calls of
  the local cloud itself (pollers, provisioning, seeding) and of tests are not checked;
- the call becomes one or more (action, resource ARN) requests (`requests`): a transaction asks
  for each item's action on its table, a Query on an index for the index's ARN, a batch for
  each table; actions that AWS authorizes only on `*` (Step Functions' SendTask*) ask for `*`;
- a request is allowed when an Allow statement matches it and no Deny does. Actions match
  case-insensitively with `*` and `?`; an ARN matches segment by segment (partition, service,
  region, account), the resource part as a whole, with `*` and `?` in each; `NotAction` and
  `NotResource` as AWS reads them. A statement with a `Condition` stops the local cloud at
  start: conditions are not evaluated locally, and guessing either way would lie.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlparse

from localcloud import internals
from localcloud.intrinsics import ACCOUNT_ID, PARTITION, REGION

log = logging.getLogger("localcloud.iam")


class IamError(ValueError):
    """The template's policies can't be read locally (an unknown managed policy, a condition)."""


# What AWS's managed policies that SAM attaches allow (their published documents, as far as
# the local services are concerned). An unknown managed policy stops the local cloud at start.
_LOGS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
MANAGED_POLICIES: dict[str, tuple[tuple[str, ...], ...]] = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": (_LOGS,),
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": (
        (
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "xray:GetSamplingRules",
            "xray:GetSamplingTargets",
            "xray:GetSamplingStatisticSummaries",
        ),
    ),
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole": (
        ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", *_LOGS),
    ),
    "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole": (
        (
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
            *_LOGS,
        ),
    ),
}


# ---------------------------------------------------------------------- statements
@cache
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    return _glob(pattern, True).fullmatch(action) is not None


def resource_matches(pattern: str, arn: str) -> bool:
    """`*` matches every resource; otherwise the first five ARN segments match one by one and
    the resource part (which may hold `:` and `/`) as a whole."""
    if pattern == "*":
        return True
    if arn == "*":
        return False  # an action authorized only on "*" needs a statement on "*"
    p_parts, a_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(p_parts) != 6 or len(a_parts) != 6:
        return _glob(pattern, False).fullmatch(arn) is not None
    return all(_glob(p, False).fullmatch(a) is not None for p, a in zip(p_parts, a_parts, strict=True))


def _strings(value: Any, what: str) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in values):
        raise IamError(f"{what} must resolve to strings, got {value!r}")
    return tuple(values)


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] | None = None
    source: str = ""

    @classmethod
    def parse(cls, raw: dict, source: str) -> Statement:
        if "Condition" in raw:
            raise IamError(f"{source}: statements with a Condition are not evaluated locally")
        effect = raw.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise IamError(f"{source}: Effect must be Allow or Deny, got {effect!r}")
        return cls(
            effect=effect,
            actions=_strings(raw["Action"], f"{source} Action") if "Action" in raw else (),
            not_actions=_strings(raw["NotAction"], f"{source} NotAction") if "NotAction" in raw else None,
            resources=_strings(raw["Resource"], f"{source} Resource") if "Resource" in raw else (),
            not_resources=(
                _strings(raw["NotResource"], f"{source} NotResource") if "NotResource" in raw else None
            ),
            source=source,
        )

    def matches(self, action: str, arn: str) -> bool:
        if self.not_actions is not None:
            if any(action_matches(p, action) for p in self.not_actions):
                return False
        elif not any(action_matches(p, action) for p in self.actions):
            return False
        if self.not_resources is not None:
            return not any(resource_matches(p, arn) for p in self.not_resources)
        return any(resource_matches(p, arn) for p in self.resources)


@dataclass
class Role:
    """A function's (or state machine's) execution role: its name and every statement it has."""

    name: str
    statements: list[Statement] = field(default_factory=list)
    _decided: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False, compare=False)

    def allows(self, action: str, arn: str) -> bool:
        decided = self._decided.get((action, arn))
        if decided is None:  # a role's statements do not change once read: decide each request once
            matching = [s for s in self.statements if s.matches(action, arn)]
            decided = self._decided[(action, arn)] = bool(matching) and all(
                s.effect == "Allow" for s in matching
            )
        return decided


# ---------------------------------------------------------------------- roles from the template
def roles(template: Any) -> dict[str, Role]:
    """logical id of each function and state machine -> its role, from the translated template.

    `template` is a localcloud.template.Template (its data and resolver).
    """
    from localcloud import sam

    translated = sam.translate(template.data, _translator_parameters(template))
    resources = translated.get("Resources") or {}
    out: dict[str, Role] = {}
    for logical_id, resource in resources.items():
        kind = resource.get("Type")
        if kind == "AWS::Lambda::Function":
            role_ref = (resource.get("Properties") or {}).get("Role")
        elif kind == "AWS::StepFunctions::StateMachine":
            role_ref = (resource.get("Properties") or {}).get("RoleArn")
        else:
            continue
        if logical_id not in template.resources_all or not template.resolver.is_enabled(logical_id):
            continue
        role_id = _role_logical_id(role_ref)
        if role_id is None or role_id not in resources:
            raise IamError(f"{logical_id}: its role {role_ref!r} is not a role of the template")
        out[logical_id] = _role(role_id, resources[role_id], template)
    return out


def _translator_parameters(template: Any) -> dict[str, Any]:
    return {
        name: ",".join(value) if isinstance(value, list) else value
        for name, value in template.parameters.items()
    }


def _role_logical_id(ref: Any) -> str | None:
    if isinstance(ref, dict) and "Fn::GetAtt" in ref:
        arg = ref["Fn::GetAtt"]
        return arg.split(".", 1)[0] if isinstance(arg, str) else arg[0]
    return None


def _role(role_id: str, resource: dict, template: Any) -> Role:
    props = resource.get("Properties") or {}
    role = Role(name=str(template.resolve(props.get("RoleName") or f"{role_id}")))
    for arn in template.resolve(props.get("ManagedPolicyArns") or []):
        if arn not in MANAGED_POLICIES:
            raise IamError(
                f"{role_id}: the managed policy {arn} is not modeled locally; "
                "add what it allows to localcloud/iam.py MANAGED_POLICIES"
            )
        for actions in MANAGED_POLICIES[arn]:
            role.statements.append(Statement("Allow", actions=actions, resources=("*",), source=arn))
    for policy in props.get("Policies") or []:
        name = policy.get("PolicyName", "?")
        document = template.resolve(policy.get("PolicyDocument") or {})
        raw = document.get("Statement") or []
        for n, statement in enumerate(raw if isinstance(raw, list) else [raw]):
            role.statements.append(Statement.parse(statement, f"{role_id}/{name}/Statement{n}"))
    return role


# ---------------------------------------------------------------------- calls -> requests
ANY = "*"
_TRANSACT_WRITE = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
_SQS_BATCH = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
# Actions IAM authorizes only on "*" (the Service Authorization Reference lists no resource
# type for them); a statement scoped to a resource never allows them.
ONLY_ON_EVERY_RESOURCE = frozenset(
    {
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "states:SendTaskHeartbeat",
        "states:ListStateMachines",
        "states:ListActivities",
    }
)
_STATES_EXECUTION = {"DescribeExecution", "StopExecution", "GetExecutionHistory", "RedriveExecution"}
_NOT_AUTHORIZED = {("sts", "GetCallerIdentity")}  # no permission is needed for these


def _arn(service: str, resource: str, region: str = REGION, account: str = ACCOUNT_ID) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


def _table_arn(name: str) -> str:
    return name if name.startswith("arn:") else _arn("dynamodb", f"table/{name}")


def _queue_arn(url: str) -> str:
    """`.../<account>/<name>` (any host: AWS's, moto's or the local endpoint) -> the queue's ARN."""
    parts = [p for p in urlparse(url).path.split("/") if p]
    if len(parts) >= 2:
        return _arn("sqs", parts[-1], account=parts[-2])
    return _arn("sqs", parts[-1] if parts else url)


def _function_arn(name: str) -> str:
    if name.startswith("arn:"):
        return name
    return _arn("lambda", f"function:{name}")


def requests(prefix: str, operation: str, params: dict) -> list[tuple[str, str]]:
    """(IAM action, resource ARN) pairs a call asks for; `*` for actions AWS authorizes only on
    every resource. An operation not listed here asks for `prefix:operation` on `*`: stricter
    than AWS for a resource-level action, so a new call fails until it is described here."""
    if (prefix, operation) in _NOT_AUTHORIZED:
        return []
    action = f"{prefix}:{operation}"
    if prefix == "dynamodb":
        if operation == "TransactWriteItems":
            out = []
            for item in params.get("TransactItems") or []:
                for kind, op in item.items():
                    out.append(
                        (f"dynamodb:{_TRANSACT_WRITE.get(kind, kind)}", _table_arn(op.get("TableName", "")))
                    )
            return out
        if operation == "TransactGetItems":
            return [
                ("dynamodb:GetItem", _table_arn(op.get("TableName", "")))
                for item in params.get("TransactItems") or []
                for op in item.values()
            ]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [(action, _table_arn(name)) for name in params.get("RequestItems") or {}]
        if "StreamArn" in params:
            return [(action, params["StreamArn"])]
        if "TableName" in params:
            arn = _table_arn(params["TableName"])
            if params.get("IndexName"):
                arn = f"{arn}/index/{params['IndexName']}"
            return [(action, arn)]
        return [(action, ANY)]
    if prefix == "sqs":
        action = f"sqs:{_SQS_BATCH.get(operation, operation)}"
        if "QueueUrl" in params:
            return [(action, _queue_arn(params["QueueUrl"]))]
        if operation == "GetQueueUrl" and "QueueName" in params:
            return [
                (
                    action,
                    _arn(
                        "sqs", params["QueueName"], account=params.get("QueueOwnerAWSAccountId", ACCOUNT_ID)
                    ),
                )
            ]
        return [(action, ANY)]
    if prefix == "events" and operation == "PutEvents":
        buses = {entry.get("EventBusName") or "default" for entry in params.get("Entries") or []}
        return [
            (action, b if b.startswith("arn:") else _arn("events", f"event-bus/{b}")) for b in sorted(buses)
        ]
    if prefix == "states":
        if action in ONLY_ON_EVERY_RESOURCE:
            return [(action, ANY)]
        if operation in _STATES_EXECUTION and "executionArn" in params:
            return [(action, params["executionArn"])]
        if "stateMachineArn" in params:
            return [(action, params["stateMachineArn"])]
        return [(action, ANY)]
    if prefix == "lambda" and operation in ("Invoke", "InvokeAsync", "InvokeWithResponseStream"):
        return [("lambda:InvokeFunction", _function_arn(params.get("FunctionName", "")))]
    if prefix == "kms" and str(params.get("KeyId", "")).startswith("arn:"):
        return [(action, params["KeyId"])]
    if prefix == "sns" and "TopicArn" in params:
        return [(action, params["TopicArn"])]
    if prefix == "sns" and str(params.get("SubscriptionArn", "")).startswith("arn:"):
        # a subscription's calls (Unsubscribe, Get/SetSubscriptionAttributes) are authorized on the
        # subscription's ARN, <topic ARN>:<id> (a policy grants "<topic ARN>:*")
        return [(action, params["SubscriptionArn"])]
    if prefix == "s3" and "Bucket" in params:
        bucket = params["Bucket"]
        if operation in ("ListObjects", "ListObjectsV2"):
            return [("s3:ListBucket", f"arn:{PARTITION}:s3:::{bucket}")]
        s3_action = {"HeadObject": "s3:GetObject", "CopyObject": "s3:PutObject"}.get(operation, action)
        if "Key" in params:
            return [(s3_action, f"arn:{PARTITION}:s3:::{bucket}/{params['Key']}")]
        return [(s3_action, f"arn:{PARTITION}:s3:::{bucket}")]
    return [(action, ANY)]


# ---------------------------------------------------------------------- who is calling
class Enforcer:
    """Judges the calls of a local cloud's functions against their roles."""

    def __init__(self, roles_by_id: dict[str, Role], function_names: dict[str, str] | None = None):
        self.roles = roles_by_id
        self.function_names = function_names or {}
        self.denied: list[tuple[str, str, str]] = []  # (function, action, resource), newest last

    def denial(self, logical_id: str, prefix: str, operation: str, params: dict) -> tuple[str, str] | None:
        """None when allowed, else (action, message) for the first request no statement allows."""
        role = self.roles.get(logical_id)
        for action, arn in requests(prefix, operation, params):
            if role is not None and role.allows(action, arn):
                continue
            self.denied.append((logical_id, action, arn))
            role_name = role.name if role else f"{logical_id}Role"
            session = self.function_names.get(logical_id, logical_id)
            who = f"arn:{PARTITION}:sts::{ACCOUNT_ID}:assumed-role/{role_name}/{session}"
            return action, (
                f"User: {who} is not authorized to perform: {action} on resource: {arn} "
                f"because no identity-based policy allows the {action} action"
            )
        return None


_acting: contextvars.ContextVar[tuple[Enforcer, str] | None] = contextvars.ContextVar(
    "localcloud_iam_acting", default=None
)


@contextlib.contextmanager
def acting_as(enforcer: Enforcer | None, logical_id: str) -> Iterator[None]:
    """The AWS calls made inside are the function's, judged by `enforcer` (functions.py wraps
    each handler call; None: not judged)."""
    token = _acting.set((enforcer, logical_id) if enforcer is not None else None)
    try:
        yield
    finally:
        _acting.reset(token)


def install() -> None:
    """Judge the calls of boto3 clients made from now on (idempotent). Inert outside `acting_as`."""
    internals.keep_call_params()
    internals.on_default_session("before-call", _before_call, "localcloud-iam-check")


def _before_call(model: Any, context: dict, **_: Any) -> Any:
    acting = _acting.get()
    if acting is None:
        return None
    enforcer, logical_id = acting
    service = model.service_model
    prefix = service.signing_name or service.endpoint_prefix
    refused = enforcer.denial(logical_id, prefix, model.name, internals.call_params(context))
    if refused is None:
        return None
    log.warning("IAM: %s", refused[1])
    code = "AccessDenied" if service.service_name in ("s3", "sqs", "sns", "sts") else "AccessDeniedException"
    return internals.client_error(code, refused[1])
