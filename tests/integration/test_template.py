"""Checks on template.yaml that run in `make test`, without AWS credentials or Docker.

1. cfn-lint passes on the SAM template.
2. The template translated by aws-sam-translator (as `sam deploy` would have CloudFormation do)
   passes cfn-lint too. Only the translated template shows circular dependencies through the
   resources SAM generates (function roles, Lambda permissions, event source mappings).
3. Every function's Handler imports and is callable, and each function's code stays thin.
4. The structural choices a reviewer would otherwise check by eye (table, queues, API auth,
   least privilege, runtime and architecture, layer build).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shlex
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint, lint_file
from cfnlint.decode import decode
from samtranslator.policy_template_processor.processor import PolicyTemplatesProcessor

from localcloud import iam, sam
from scripts import publish_console

pytestmark = pytest.mark.slowest(14)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"
REGION = "us-east-1"
RUNTIME = "python3.11"
ARCHITECTURE = "arm64"
MAX_FUNCTION_CODE_LINES = 150  # business rules live in the layer; a handler only adapts events
INGEST_FUNCTION = "IngestProcessorFunction"
# (method, path) of the routes that deliberately skip the JWT authorizer.
PUBLIC_ROUTES = {
    ("POST", "/webhooks/{marketplace}/{merchant_id}"),
    ("GET", "/health"),
    ("OPTIONS", "/{proxy+}"),  # the console's CORS preflights: answered 204, nothing read
}
WEBHOOK_ROUTE = ("POST", "/webhooks/{marketplace}/{merchant_id}")
BATCH_EVENT_TYPES = ("SQS", "DynamoDB", "Kinesis")
LAMBDA_DEFAULT_TIMEOUT = 3


# ------------------------------------------------------------------ loading and translating
@cache
def _load_template() -> dict[str, Any]:
    """template.yaml as plain dicts; cfn-lint's decoder understands the short tags (!Ref...)."""
    data, matches = decode(str(TEMPLATE))
    assert not matches, "template.yaml does not parse:\n" + _describe(matches)
    return json.loads(json.dumps(data))


def _resources(template: dict, type_: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == type_}


def _functions() -> dict[str, dict]:
    return _resources(_load_template(), "AWS::Serverless::Function")


def _describe(matches, where: str = "line") -> str:
    return "\n".join(
        f"  {m.rule.id} {m.message} ({m.path_string or m.filename}, {where} {m.linenumber})" for m in matches
    )


def translate(sam_template: dict) -> dict:
    """The template after the SAM transform, with its parameters' defaults (localcloud/sam.py)."""
    return sam.translate(sam_template)


def lint_cfn(cfn_template: dict) -> list:
    """cfn-lint (errors and warnings, the CLI defaults) on a plain CloudFormation template."""
    return lint(json.dumps(cfn_template, indent=1), regions=[REGION])


@pytest.fixture(scope="module")
def template() -> dict:
    return copy.deepcopy(_load_template())


@pytest.fixture(scope="module")
def translated() -> dict:
    return translate(_load_template())


# ------------------------------------------------------------------ 1 and 2: lint
def test_sam_template_passes_cfn_lint():
    matches = lint_file(TEMPLATE)
    assert not matches, "cfn-lint on template.yaml:\n" + _describe(matches)


def test_translated_template_has_no_serverless_resources_left(translated):
    left = sorted(k for k, v in translated["Resources"].items() if v["Type"].startswith("AWS::Serverless::"))
    assert not left, f"the SAM transform left serverless resources behind: {left}"
    assert "Transform" not in translated


def test_translated_template_passes_cfn_lint(translated):
    matches = lint_cfn(translated)
    assert not matches, "cfn-lint on the template after the SAM transform:\n" + _describe(
        matches, "translated JSON line"
    )


def test_each_function_s_resource_policy_stays_small(translated):
    """Each Lambda permission adds a statement to the function's resource policy (20 KB at most,
    about 50 route permissions): the merchant API serves its routes through one greedy route."""
    per_function: dict[str, int] = {}
    for resource in translated["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Permission":
            target = resource["Properties"]["FunctionName"]
            name = target.get("Ref") or target.get("Fn::GetAtt", ["?"])[0]
            per_function[name] = per_function.get(name, 0) + 1
    assert per_function["MerchantApiFunction"] <= 3, per_function
    assert max(per_function.values()) <= 10, per_function


def test_stub_policy_loader_resolves_unbundled_managed_policy_names():
    """The translator asks the loader only for names not bundled with it; the stub answers them."""
    sam = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "s3://bucket/key.zip",
                    "Handler": "app.lambda_handler",
                    "Runtime": RUNTIME,
                    "Policies": ["NotAManagedPolicyTheTranslatorBundles"],
                },
            }
        },
    }
    arns = translate(sam)["Resources"]["FnRole"]["Properties"]["ManagedPolicyArns"]
    assert "arn:aws:iam::aws:policy/NotAManagedPolicyTheTranslatorBundles" in arns


def _cycle_through_lambda_permission(sam: dict) -> tuple[str, str]:
    """A function whose environment names the Lambda permission SAM generates for its own route:
    the permission needs the function's ARN and the function needs the permission."""
    for fn, resource in _resources(sam, "AWS::Serverless::Function").items():
        for event_name, event in (resource["Properties"].get("Events") or {}).items():
            if event.get("Type") == "HttpApi":
                permission = f"{fn}{event_name}Permission"
                env = resource["Properties"].setdefault("Environment", {}).setdefault("Variables", {})
                env["ROUTE_PERMISSION"] = {"Ref": permission}
                return fn, permission
    raise AssertionError("no function with an HttpApi event to build the cycle from")


def _cycle_through_role(sam: dict) -> tuple[str, str]:
    """A KMS key whose key policy names a function's generated role, while that function's
    Policies grant kms:Decrypt on the key: the role needs the key's ARN and the key the role's."""
    fn = next(
        k for k, v in _resources(sam, "AWS::Serverless::Function").items() if "Role" not in v["Properties"]
    )
    role = f"{fn}Role"
    sam["Resources"]["CycleKey"] = {
        "Type": "AWS::KMS::Key",
        "Properties": {
            "KeyPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": {"Fn::GetAtt": [role, "Arn"]}},
                        "Action": "kms:Decrypt",
                        "Resource": "*",
                    }
                ],
            }
        },
    }
    policies = sam["Resources"][fn]["Properties"].setdefault("Policies", [])
    policies.append(
        {
            "Statement": [
                {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": {"Fn::GetAtt": ["CycleKey", "Arn"]}}
            ]
        }
    )
    return role, "CycleKey"


# The smallest SAM template with what the cycles are built from: an HTTP API and a function with
# a route and no explicit role (linting it takes a second; the whole template, ten).
_SMALL_SAM = {
    "Transform": "AWS::Serverless-2016-10-31",
    "Resources": {
        "HttpApi": {"Type": "AWS::Serverless::HttpApi"},
        "Fn": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": "functions/fn/",
                "Handler": "app.lambda_handler",
                "Runtime": RUNTIME,
                "Architectures": [ARCHITECTURE],
                "Events": {
                    "Get": {
                        "Type": "HttpApi",
                        "Properties": {"ApiId": {"Ref": "HttpApi"}, "Path": "/x", "Method": "GET"},
                    }
                },
            },
        },
    },
}


@pytest.mark.parametrize("inject", [_cycle_through_lambda_permission, _cycle_through_role])
def test_lint_of_translated_template_reports_circular_dependency(inject):
    """Guards test_translated_template_passes_cfn_lint: a cycle that exists only after the SAM
    transform must make the translated lint fail with E3004."""
    sam = copy.deepcopy(_SMALL_SAM)
    assert not [m for m in lint_cfn(translate(sam)) if m.rule.id == "E3004"]  # no cycle before
    a, b = inject(sam)
    matches = lint_cfn(translate(sam))
    cycles = [m for m in matches if m.rule.id == "E3004"]
    assert cycles, f"no E3004 for the injected {a} <-> {b} cycle; cfn-lint said:\n" + _describe(
        matches, "translated JSON line"
    )
    assert any(a in m.message and b in m.message for m in cycles), _describe(cycles)


# ------------------------------------------------------------------ 3: handlers
def _env_for(fn_props: dict, template: dict) -> dict[str, str]:
    """The function's environment with dummy values: literals as written, parameters at their
    default, resource references as made-up names."""
    params = template.get("Parameters") or {}
    global_vars = ((template.get("Globals") or {}).get("Function") or {}).get("Environment", {})
    variables = {**(global_vars.get("Variables") or {})}
    variables.update((fn_props.get("Environment") or {}).get("Variables") or {})
    env = {}
    for name, value in variables.items():
        if isinstance(value, str | int | float):
            env[name] = str(value)
        elif isinstance(value, dict) and value.get("Ref") in params and "Default" in params[value["Ref"]]:
            env[name] = str(params[value["Ref"]]["Default"])
        else:
            env[name] = f"dummy-{name.lower().replace('_', '-')}"
    return env


@pytest.mark.parametrize("logical_id", sorted(_functions()))
def test_function_handler_imports_and_is_callable(logical_id, template, monkeypatch):
    props = template["Resources"][logical_id]["Properties"]
    code_dir = ROOT / props["CodeUri"]
    assert code_dir.is_dir(), f"{logical_id}: CodeUri {props['CodeUri']} is not a directory"
    module_path, _, attr = props["Handler"].rpartition(".")
    source = code_dir / (module_path.replace(".", "/") + ".py")
    assert source.is_file(), f"{logical_id}: Handler {props['Handler']} needs {source.relative_to(ROOT)}"

    for name, value in _env_for(props, template).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.syspath_prepend(str(code_dir))  # Lambda puts the code directory on sys.path
    unique = f"_orderhub_handler_{logical_id}"
    spec = importlib.util.spec_from_file_location(unique, source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, unique, module)
    spec.loader.exec_module(module)

    handler = getattr(module, attr, None)
    assert callable(handler), f"{logical_id}: {source.relative_to(ROOT)} has no callable {attr!r}"


@pytest.mark.parametrize("logical_id", sorted(_functions()))
def test_function_code_stays_thin(logical_id, template):
    code_dir = ROOT / template["Resources"][logical_id]["Properties"]["CodeUri"]
    assert code_dir.is_dir(), f"{logical_id}: CodeUri {code_dir} is not a directory"
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
        for p in sorted(code_dir.rglob("*.py"))
    }
    assert sum(sizes.values()) <= MAX_FUNCTION_CODE_LINES, (
        f"{logical_id} has {sum(sizes.values())} lines of Python ({sizes}); the limit is "
        f"{MAX_FUNCTION_CODE_LINES}. Move business rules into the layer (layers/shared/orderhub)."
    )


# ------------------------------------------------------------------ 4: structure
def _getatt(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        if isinstance(target, str):
            target = target.split(".", 1)
        return target[0], target[1]
    return None


def _function_timeout(template: dict, logical_id: str) -> int:
    props = template["Resources"][logical_id]["Properties"]
    global_fn = (template.get("Globals") or {}).get("Function") or {}
    return int(props.get("Timeout", global_fn.get("Timeout", LAMBDA_DEFAULT_TIMEOUT)))


def _events(template: dict, *types: str):
    for fn, resource in _resources(template, "AWS::Serverless::Function").items():
        for name, event in (resource["Properties"].get("Events") or {}).items():
            if event.get("Type") in types:
                yield fn, name, event.get("Properties") or {}


def _ingest_queue(template: dict) -> str:
    sources = [
        _getatt(props.get("Queue")) for fn, _, props in _events(template, "SQS") if fn == INGEST_FUNCTION
    ]
    assert len(sources) == 1 and sources[0], (
        f"{INGEST_FUNCTION} should have one SQS event (Queue: !GetAtt X.Arn)"
    )
    return sources[0][0]


def test_orders_table_settings(template):
    tables = _resources(template, "AWS::DynamoDB::Table")
    assert len(tables) == 1, f"expected the single orders table, found {sorted(tables)}"
    [(name, table)] = tables.items()
    props = table["Properties"]
    assert props.get("BillingMode") == "PAY_PER_REQUEST", f"{name}: BillingMode should be PAY_PER_REQUEST"
    assert (props.get("StreamSpecification") or {}).get("StreamViewType") == "NEW_AND_OLD_IMAGES", (
        f"{name}: the stream publisher needs StreamViewType NEW_AND_OLD_IMAGES"
    )
    pitr = props.get("PointInTimeRecoverySpecification") or {}
    assert pitr.get("PointInTimeRecoveryEnabled") is True, f"{name}: point-in-time recovery must be on"
    ttl = props.get("TimeToLiveSpecification") or {}
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}, (
        f"{name}: TTL must be enabled on attribute expires_at (delivery records expire), got {ttl}"
    )


def test_ingest_queue_visibility_timeout_covers_six_processor_timeouts(template):
    queue = _ingest_queue(template)
    visibility = int(template["Resources"][queue]["Properties"].get("VisibilityTimeout", 30))
    timeout = _function_timeout(template, INGEST_FUNCTION)
    assert visibility >= 6 * timeout, (
        f"{queue} VisibilityTimeout {visibility}s is below 6 x {INGEST_FUNCTION} Timeout ({timeout}s); "
        "Lambda recommends at least six times the function timeout for SQS event sources"
    )


def test_ingest_queue_dead_letters_to_an_alarmed_queue(template):
    resources = template["Resources"]
    queue = _ingest_queue(template)
    redrive = resources[queue]["Properties"].get("RedrivePolicy") or {}
    target = _getatt(redrive.get("deadLetterTargetArn"))
    assert target and target[1] == "Arn", (
        f"{queue} needs RedrivePolicy.deadLetterTargetArn: !GetAtt <DLQ>.Arn"
    )
    dlq = target[0]
    assert resources.get(dlq, {}).get("Type") == "AWS::SQS::Queue", f"{dlq} is not an SQS queue"
    assert int(redrive.get("maxReceiveCount", 0)) >= 1, f"{queue}: RedrivePolicy needs maxReceiveCount"
    from orderhub.webhooks import ingest  # counts a delivery failing its last receive as dead-lettered

    assert int(redrive["maxReceiveCount"]) == ingest.MAX_RECEIVES
    retention = {
        q: int(resources[q]["Properties"].get("MessageRetentionPeriod", 345600)) for q in (queue, dlq)
    }
    assert retention[dlq] >= retention[queue], f"the DLQ should keep messages at least as long as {queue}"

    alarms = [
        name
        for name, alarm in _resources(template, "AWS::CloudWatch::Alarm").items()
        if alarm["Properties"].get("Namespace") == "AWS/SQS"
        and alarm["Properties"].get("AlarmActions")
        and any(
            d.get("Name") == "QueueName" and _getatt(d.get("Value")) == (dlq, "QueueName")
            for d in alarm["Properties"].get("Dimensions") or []
        )
    ]
    assert alarms, f"no CloudWatch alarm with AlarmActions watches the dead-letter queue {dlq}"


def test_batch_event_sources_report_batch_item_failures(template):
    sources = list(_events(template, *BATCH_EVENT_TYPES))
    assert any(True for _ in _events(template, "SQS")), "expected at least one SQS event source"
    missing = [
        f"{fn}.{name}"
        for fn, name, props in sources
        if "ReportBatchItemFailures" not in (props.get("FunctionResponseTypes") or [])
    ]
    assert not missing, (
        f"event sources without FunctionResponseTypes [ReportBatchItemFailures]: {missing}; the handlers "
        "return partial batch responses, which Lambda ignores without it (one bad message fails the batch)"
    )


def test_runtime_and_architecture(template):
    global_fn = (template.get("Globals") or {}).get("Function") or {}
    assert global_fn.get("Runtime") == RUNTIME, f"Globals.Function.Runtime should be {RUNTIME}"
    assert global_fn.get("Architectures") == [ARCHITECTURE], (
        f"Globals.Function.Architectures should be [{ARCHITECTURE}]"
    )
    overrides = {
        fn: {k: props[k] for k in ("Runtime", "Architectures") if k in props}
        for fn, props in ((k, v["Properties"]) for k, v in _functions().items())
    }
    odd = {
        fn: o
        for fn, o in overrides.items()
        if o.get("Runtime", RUNTIME) != RUNTIME or o.get("Architectures", [ARCHITECTURE]) != [ARCHITECTURE]
    }
    assert not odd, f"functions that override the runtime or architecture: {odd}"


@pytest.mark.parametrize(
    "name,client,audience",
    [
        ("MerchantAuthorizer", "MerchantAppClient", "MerchantAudience"),
        ("WarehouseAuthorizer", "WarehouseAppClient", "WarehouseAudience"),
    ],
)
def test_jwt_issuer_is_the_stack_s_user_pool_or_the_parameters(template, name, client, audience):
    """Without a JwtIssuer the stack's Cognito user pool issues the tokens (each credential its
    own app client); with one, the parameters name the issuer and the audience."""
    [(api, resource)] = _resources(template, "AWS::Serverless::HttpApi").items()
    auth = resource["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == "MerchantAuthorizer"
    authorizer = auth["Authorizers"][name]
    assert authorizer["IdentitySource"] == "$request.header.Authorization"
    jwt = authorizer["JwtConfiguration"]
    condition, pool_issuer, own_issuer = jwt["issuer"]["Fn::If"]
    assert condition == "CreateUserPool" and own_issuer == {"Ref": "JwtIssuer"}
    assert pool_issuer == {"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"}
    [aud] = jwt["audience"]
    assert aud["Fn::If"] == ["CreateUserPool", {"Ref": client}, {"Ref": audience}]
    assert template["Conditions"]["CreateUserPool"] == {"Fn::Equals": [{"Ref": "JwtIssuer"}, ""]}
    assert template["Parameters"]["JwtIssuer"]["Default"] == ""


def test_users_can_t_write_the_claims_that_name_their_merchant_or_role(template):
    pool = template["Resources"]["UserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    for client in ("MerchantAppClient", "WarehouseAppClient"):
        writable = template["Resources"][client]["Properties"]["WriteAttributes"]
        assert not [a for a in writable if a.startswith("custom:")], client


def test_only_the_webhook_and_health_routes_skip_the_authorizer(template):
    [api] = _resources(template, "AWS::Serverless::HttpApi")
    routes = {}
    for fn, name, props in _events(template, "HttpApi"):
        assert props.get("ApiId") == {"Ref": api}, (
            f"{fn}.{name} has no ApiId: !Ref {api}; it would create an implicit API without the authorizer"
        )
        routes[(props.get("Method", "").upper(), props.get("Path"))] = (
            f"{fn}.{name}",
            (props.get("Auth") or {}).get("Authorizer"),
        )
    assert WEBHOOK_ROUTE in routes, f"no HttpApi event for {WEBHOOK_ROUTE}"
    assert routes[WEBHOOK_ROUTE][1] == "NONE", (
        "the webhook route must have Auth.Authorizer NONE (marketplaces sign bodies; they send no JWT)"
    )
    public = {route: event for route, (event, authorizer) in routes.items() if authorizer == "NONE"}
    unexpected = {route: event for route, event in public.items() if route not in PUBLIC_ROUTES}
    assert not unexpected, f"routes that skip the JWT authorizer but should not: {unexpected}"


def _wildcard_resource(statement: dict) -> bool:
    resource = statement.get("Resource")
    return resource == "*" or (isinstance(resource, list) and "*" in resource)


def test_function_policies_are_least_privilege(template):
    """Inline statements name their resources, except for actions IAM authorizes only on "*"
    (iam.ONLY_ON_EVERY_RESOURCE). SAM policy templates (SQSSendMessagePolicy...) are
    AWS-maintained and scoped by their parameters, so they are trusted as they are."""
    sam_templates = set(PolicyTemplatesProcessor.get_default_policy_templates_json()["Templates"])
    problems = []
    for fn, resource in _functions().items():
        policies = resource["Properties"].get("Policies") or []
        for i, policy in enumerate(policies if isinstance(policies, list) else [policies]):
            if isinstance(policy, str):
                continue  # an AWS managed policy name or ARN, not a statement
            if "Statement" not in policy:
                unknown = [k for k in policy if k not in sam_templates]
                if unknown:
                    problems.append(f"{fn}.Policies[{i}]: {unknown} is not a SAM policy template")
                continue
            statements = policy["Statement"]
            for j, statement in enumerate(statements if isinstance(statements, list) else [statements]):
                actions = statement.get("Action")
                if set(actions if isinstance(actions, list) else [actions]) <= iam.ONLY_ON_EVERY_RESOURCE:
                    continue  # IAM authorizes these only on "*" (Step Functions' SendTask*)
                if statement.get("Effect") == "Allow" and _wildcard_resource(statement):
                    problems.append(
                        f"{fn}.Policies[{i}].Statement[{j}] allows {statement.get('Action')} on *"
                    )
    assert not problems, "function policies that are not least privilege:\n  " + "\n  ".join(problems)


def test_layers_build_for_the_function_runtime_and_architecture(template):
    layers = _resources(template, "AWS::Serverless::LayerVersion")
    assert layers, "expected the shared layer"
    for name, layer in layers.items():
        meta = layer.get("Metadata") or {}
        props = layer["Properties"]
        assert meta.get("BuildMethod") == RUNTIME, f"{name}: Metadata.BuildMethod should be {RUNTIME}"
        assert meta.get("BuildArchitecture") == ARCHITECTURE, (
            f"{name}: Metadata.BuildArchitecture should be {ARCHITECTURE}, or compiled wheels "
            "(pydantic-core) are built for the wrong CPU"
        )
        assert RUNTIME in (props.get("CompatibleRuntimes") or []), f"{name}: CompatibleRuntimes"
        assert ARCHITECTURE in (props.get("CompatibleArchitectures") or []), (
            f"{name}: CompatibleArchitectures"
        )
    global_layers = ((template.get("Globals") or {}).get("Function") or {}).get("Layers") or []
    for fn, resource in _functions().items():
        refs = global_layers + (resource["Properties"].get("Layers") or [])
        assert any(ref == {"Ref": name} for ref in refs for name in layers), (
            f"{fn} does not get the shared layer"
        )


# ------------------------------------------------------------------ samconfig.toml
def _overrides(deploy: dict) -> dict[str, str]:
    overrides = deploy.get("parameter_overrides", "")
    overrides = " ".join(overrides) if isinstance(overrides, list) else overrides
    return dict(item.split("=", 1) for item in shlex.split(overrides) if "=" in item)


@pytest.mark.parametrize("env", ["default", "dev", "prod"])
def test_samconfig_matches_template(template, env):
    config = tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))[env]
    stack = config["global"]["parameters"]["stack_name"]
    assert stack == ("orderhub-prod" if env == "prod" else "orderhub-dev")
    deploy = config["deploy"]["parameters"]
    assert set(deploy["capabilities"].split()) == {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}
    names = _overrides(deploy)
    unknown = set(names) - set(template.get("Parameters") or {})
    assert not unknown, f"samconfig.toml overrides parameters template.yaml does not declare: {unknown}"
    assert {"JwtIssuer", "MerchantAudience", "AlarmEmail"} <= set(names), (
        "each environment names its alarm address"
    )
    retention = template["Parameters"]["LogRetentionDays"]["AllowedValues"]
    assert int(names.get("LogRetentionDays", 30)) in retention


def test_sam_sync_is_never_aimed_at_prod():
    """`sam sync` skips CloudFormation's change sets: only dev's stack has a sync section."""
    config = tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))
    assert "sync" not in config["prod"]
    prod_stack = config["prod"]["global"]["parameters"]["stack_name"]
    for env, sections in config.items():
        if isinstance(sections, dict) and "sync" in sections:
            stack = (
                sections["sync"]["parameters"].get("stack_name")
                or sections["global"]["parameters"]["stack_name"]
            )
            assert stack != prod_stack, f"[{env}.sync] aims at the prod stack"


# ------------------------------------------------------------------ 5: operations
LOG_GROUP = "AWS::Logs::LogGroup"


def test_every_function_and_state_machine_logs_to_a_group_with_retention(template):
    groups = _resources(template, LOG_GROUP)
    for lid in groups:
        assert groups[lid]["Properties"].get("RetentionInDays") == {"Ref": "LogRetentionDays"}, lid
    for fn, resource in _functions().items():
        ref = (resource["Properties"].get("LoggingConfig") or {}).get("LogGroup")
        assert isinstance(ref, dict) and ref.get("Ref") in groups, f"{fn} has no log group of the stack"
    for sm, resource in _resources(template, "AWS::Serverless::StateMachine").items():
        logging = resource["Properties"].get("Logging") or {}
        assert logging.get("Level") in ("ERROR", "ALL") and logging.get("IncludeExecutionData") is False, sm
        [destination] = logging["Destinations"]
        assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0] in groups
    api = _resources(template, "AWS::Serverless::HttpApi")["HttpApi"]["Properties"]
    assert api["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0] in groups


def test_every_function_and_state_machine_is_alarmed(template):
    alarmed = set()
    for alarm in _resources(template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        dims = [
            d
            for m in props.get("Metrics", [])
            for d in (m.get("MetricStat") or {}).get("Metric", {}).get("Dimensions", [])
        ]
        dims += props.get("Dimensions", [])
        names = {
            m["MetricStat"]["Metric"]["MetricName"] for m in props.get("Metrics", []) if "MetricStat" in m
        }
        names.add(props.get("MetricName"))
        for dim in dims:
            value = dim["Value"]
            if isinstance(value, dict) and "Ref" in value:
                alarmed.add((value["Ref"], frozenset(names - {None})))
    for fn in _functions():
        assert (fn, frozenset({"Errors", "Throttles"})) in alarmed, f"{fn}: no alarm on errors and throttles"
    for sm in _resources(template, "AWS::Serverless::StateMachine"):
        expected = frozenset({"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"})
        assert (sm, expected) in alarmed, f"{sm}: no alarm on failed or timed-out executions"
    assert ("StreamPublisherFunction", frozenset({"IteratorAge"})) in alarmed
    assert ("HttpApi", frozenset({"5xx"})) in alarmed


def test_the_dashboard_shows_every_alarm_and_every_metric_of_the_stack_s_namespace(template):
    from orderhub.kernel import metrics

    (dashboard,) = _resources(template, "AWS::CloudWatch::Dashboard").values()
    body_text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([A-Za-z0-9:]+)(?:\.Arn)?\}", body_text))
    assert names <= set(template["Resources"]) | {"AWS::StackName", "AWS::Region"}, names
    body = json.loads(re.sub(r"\$\{[^}]+\}", "x", body_text))  # valid JSON once substituted
    shown_alarms = set(re.findall(r'"\$\{(\w+)\.Arn\}"', body_text))
    assert shown_alarms == set(_resources(template, "AWS::CloudWatch::Alarm"))
    searches = [
        m[0]["expression"]
        for w in body["widgets"]
        if w["type"] == "metric"
        for m in w["properties"]["metrics"]
    ]
    charted = {re.search(r'MetricName="(\w+)"', e).group(1) for e in searches}
    assert charted == set(metrics.METRICS)
    # each SEARCH names the stack's namespace (the functions' POWERTOOLS_METRICS_NAMESPACE) and
    # exactly the metric's dimensions, or it finds nothing
    namespace = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert namespace == {"Fn::Sub": "orderhub/${AWS::StackName}"}
    for e in searches:
        name = re.search(r'MetricName="(\w+)"', e).group(1)
        schema = re.search(r"SEARCH\('(\{[^}]*\})", e).group(1)  # the stack's name reads "x" here
        dims = sorted((*metrics.METRICS[name].dimensions, "service"))
        assert schema == "{orderhub/x," + ",".join(dims) + "}", e


def test_scheduled_functions_record_their_failures(template):
    for fn, resource in _functions().items():
        events = resource["Properties"].get("Events") or {}
        if not any(e["Type"] in ("Schedule", "ScheduleV2") for e in events.values()):
            continue
        config = resource["Properties"].get("EventInvokeConfig") or {}
        destination = config["DestinationConfig"]["OnFailure"]
        assert destination["Type"] == "SQS" and destination["Destination"] == {
            "Fn::GetAtt": ["ScheduleFailureQueue", "Arn"]
        }, fn


# Buckets that hold no data, only files a script puts back (the console's: scripts/publish_console.py)
REPUBLISHED_BUCKETS = {"ConsoleBucket"}


def test_stored_data_survives_a_stack_deletion_or_replacement(template):
    kept = ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::S3::Bucket")
    for lid, resource in template["Resources"].items():
        if resource["Type"] in kept and lid not in REPUBLISHED_BUCKETS:
            assert (
                resource.get("DeletionPolicy") == "Retain" and resource.get("UpdateReplacePolicy") == "Retain"
            ), lid
    assert template["Resources"]["OrdersTable"]["Properties"]["DeletionProtectionEnabled"] is True


def test_the_public_webhook_route_cannot_use_up_the_account(template):
    api = _resources(template, "AWS::Serverless::HttpApi")["HttpApi"]["Properties"]
    route = api["RouteSettings"]["POST /webhooks/{marketplace}/{merchant_id}"]
    assert route["ThrottlingRateLimit"] <= api["DefaultRouteSettings"]["ThrottlingRateLimit"]
    ingest = _functions()[INGEST_FUNCTION]["Properties"]["Events"]["Ingest"]["Properties"]
    assert ingest["ScalingConfig"]["MaximumConcurrency"] <= 50


# ------------------------------------------------------------------ 6: the merchant console
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CONSOLE_ORIGIN = {"Fn::Sub": "https://${ConsoleDistribution.DomainName}"}
CONSOLE_URL = {"Fn::Sub": "https://${ConsoleDistribution.DomainName}/"}
COGNITO_ORIGIN = {"Fn::Sub": "https://${ConsoleAuthDomain}.auth.${AWS::Region}.amazoncognito.com"}
_SUB_NAME = re.compile(r"\$\{([^!}][^}]*)\}")


def _refs(value: Any, resources: dict) -> set[str]:
    """The resources a value names (Ref, Fn::GetAtt, Fn::Sub), whatever the conditions say."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _refs(item, resources)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and arg in resources:
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg.split(".", 1)[0] if isinstance(arg, str) else arg[0])
            elif key == "Fn::Sub":
                text, variables = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
                names = {n.split(".", 1)[0] for n in _SUB_NAME.findall(text)}
                found |= {n for n in names if n in resources and n not in variables}
                found |= _refs(variables, resources)
            else:
                found |= _refs(arg, resources)
    return found


def _needs(template: dict, logical_id: str) -> set[str]:
    """Every resource that must exist before this one (its references, transitively)."""
    resources = template["Resources"]
    seen: set[str] = set()
    todo = [logical_id]
    while todo:
        resource = resources[todo.pop()]
        depends = resource.get("DependsOn") or []
        found = _refs(resource.get("Properties") or {}, resources)
        found |= {depends} if isinstance(depends, str) else set(depends)
        todo.extend(found - seen)
        seen |= found
    return seen


def test_the_console_s_hosting_does_not_depend_on_the_api(template):
    """The API's CORS and the app client's callback URL name the distribution, and the API's
    authorizer names the app client: the distribution naming the API would be a cycle."""
    for lid in ("ConsoleDistribution", "ConsoleSecurityHeaders", "ConsoleBucketPolicy"):
        needs = _needs(template, lid)
        assert not needs & {"HttpApi", "MerchantAppClient"}, (lid, sorted(needs))
    assert "ConsoleDistribution" in _needs(template, "HttpApi")  # the check sees through the chain
    assert "MerchantAppClient" in _needs(template, "HttpApi")
    for lid in template["Resources"]:
        assert lid not in _needs(template, lid), f"{lid} depends on itself"


def test_the_console_bucket_is_private_and_read_by_the_distribution_only(template):
    resources = template["Resources"]
    bucket = resources["ConsoleBucket"]
    # No data in it: the publish script puts every file back (docs/operations.md)
    assert bucket["DeletionPolicy"] == "Delete" and bucket["UpdateReplacePolicy"] == "Delete"
    props = bucket["Properties"]
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert "WebsiteConfiguration" not in props

    policy = resources["ConsoleBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "ConsoleBucket"}
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "s3:GetObject"
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert statement["Resource"] == {"Fn::Sub": "${ConsoleBucket.Arn}/*"}
    arn = "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${ConsoleDistribution}"
    assert statement["Condition"] == {"StringEquals": {"AWS:SourceArn": {"Fn::Sub": arn}}}

    oac = resources["ConsoleOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"], oac["SigningProtocol"]) == (
        "s3",
        "always",
        "sigv4",
    )
    config = resources["ConsoleDistribution"]["Properties"]["DistributionConfig"]
    [origin] = config["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": ["ConsoleBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["ConsoleOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}


def test_the_distribution_serves_https_only_and_caches_all_but_the_page_and_its_config(template):
    config = template["Resources"]["ConsoleDistribution"]["Properties"]["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    assert config["HttpVersion"] == "http2and3" and config["PriceClass"] == "PriceClass_100"
    default = config["DefaultCacheBehavior"]
    assert default["CachePolicyId"] == CACHING_OPTIMIZED
    behaviors = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    # the files the publish script sends with Cache-Control no-cache
    assert set(behaviors) == {"/" + key for key in publish_console.NO_CACHE_KEYS}
    for behavior in [default, *behaviors.values()]:
        assert behavior["TargetOriginId"] == config["Origins"][0]["Id"]
        assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
        assert behavior["AllowedMethods"] == ["GET", "HEAD"]
        assert behavior["ResponseHeadersPolicyId"] == {"Ref": "ConsoleSecurityHeaders"}
    assert {b["CachePolicyId"] for b in behaviors.values()} == {CACHING_DISABLED}


def _security_headers(template: dict) -> dict:
    policy = template["Resources"]["ConsoleSecurityHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]
    return policy["SecurityHeadersConfig"]


def _csp(template: dict) -> tuple[dict[str, list[str]], dict]:
    text, variables = _security_headers(template)["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    directives = {}
    for directive in text.split(";"):
        name, *sources = directive.split()
        assert name not in directives, f"{name} twice"
        directives[name] = sources
    return directives, variables


def test_the_console_s_content_security_policy(template):
    directives, variables = _csp(template)
    for name in ("default-src", "script-src", "style-src", "base-uri"):
        assert directives[name] == ["'self'"], name
    assert directives["img-src"] == ["'self'", "data:"]
    assert directives["frame-ancestors"] == ["'none'"]
    # The API by its region's wildcard (naming HttpApi would be a cycle), and the sign-in's origin
    assert directives["connect-src"] == [
        "'self'",
        "https://*.execute-api.${AWS::Region}.${AWS::URLSuffix}",
        "${AuthOrigin}",
    ]
    assert directives["form-action"] == ["'self'", "${AuthOrigin}"]
    assert not [s for sources in directives.values() for s in sources if "unsafe" in s or s == "*"]
    assert variables == {
        "AuthOrigin": {"Fn::If": ["CreateUserPool", COGNITO_ORIGIN, {"Ref": "ConsoleAuthOrigin"}]}
    }
    # where the console signs in is what the stack tells the publish script
    assert template["Outputs"]["ConsoleAuthUrl"] == {
        "Condition": "CreateUserPool",
        "Description": template["Outputs"]["ConsoleAuthUrl"]["Description"],
        "Value": COGNITO_ORIGIN,
    }

    headers = _security_headers(template)
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert headers["ContentTypeOptions"]["Override"] is True  # nosniff: a module must be JavaScript
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"
    assert all(h["Override"] is True for h in headers.values())


def test_the_console_signs_merchants_in_with_the_code_grant_and_pkce(template):
    resources = template["Resources"]
    client = resources["MerchantAppClient"]["Properties"]
    assert client["GenerateSecret"] is False  # a browser keeps no secret: PKCE instead
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["AllowedOAuthFlows"] == ["code"]
    assert "openid" in client["AllowedOAuthScopes"]
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert client["CallbackURLs"] == [CONSOLE_URL] and client["LogoutURLs"] == [CONSOLE_URL]
    assert "custom:merchant_id" in client["ReadAttributes"]  # the ID token carries it
    assert client["IdTokenValidity"] == 60 and client["TokenValidityUnits"]["IdToken"] == "minutes"
    assert client["EnableTokenRevocation"] is True
    domain = resources["ConsoleAuthDomain"]
    assert domain["Condition"] == "CreateUserPool"
    assert domain["Properties"]["UserPoolId"] == {"Ref": "UserPool"}
    assert template["Parameters"]["AuthDomainPrefix"]["Default"] == ""


def _merchant_methods() -> set[str]:
    doc = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    return {
        method.upper()
        for path, operations in doc["paths"].items()
        if not path.startswith(("/warehouse/", "/webhooks/"))
        for method in operations
    }


def test_the_api_lets_the_console_s_origin_call_it_and_no_other(template):
    cors = _resources(template, "AWS::Serverless::HttpApi")["HttpApi"]["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == [CONSOLE_ORIGIN]
    assert cors["AllowCredentials"] is False  # the token travels in Authorization, not in cookies
    assert {"authorization", "content-type"} <= set(cors["AllowHeaders"])
    assert _merchant_methods() <= set(cors["AllowMethods"]), "a merchant route's method is not allowed"
    assert 0 < cors["MaxAge"] <= 7200  # browsers keep a preflight 2 hours at most


def test_a_preflight_reaches_no_authorizer(template):
    """API Gateway answers a CORS preflight itself only when the route the OPTIONS request
    matches has no authorizer. ANY /{proxy+} matches OPTIONS, and a browser sends no
    Authorization with a preflight: an OPTIONS route on the same path without authorizer has to
    take it (a route with a method outranks ANY)."""
    routes = {
        (props.get("Method", "ANY").upper(), props["Path"]): (props.get("Auth") or {}).get("Authorizer")
        for _, _, props in _events(template, "HttpApi")
    }
    for (method, path), authorizer in routes.items():
        if method == "ANY" and authorizer != "NONE":
            assert routes.get(("OPTIONS", path)) == "NONE", f"OPTIONS {path} would reach the authorizer"


def test_the_console_s_outputs(template):
    outputs = template["Outputs"]
    assert outputs["ConsoleUrl"]["Value"] == CONSOLE_URL
    assert outputs["ConsoleBucketName"]["Value"] == {"Ref": "ConsoleBucket"}
    assert outputs["ConsoleDistributionId"]["Value"] == {"Ref": "ConsoleDistribution"}
    assert set(publish_console.OUTPUTS) <= set(outputs)
    # with your own issuer there is no user pool: the script takes the sign-in from its flags
    for name in (publish_console.CLIENT_OUTPUT, publish_console.AUTH_OUTPUT):
        assert outputs[name]["Condition"] == "CreateUserPool"
    for name in publish_console.REQUIRED_OUTPUTS:
        assert "Condition" not in outputs[name]
