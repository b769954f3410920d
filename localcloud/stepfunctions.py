"""State machines on moto's Step Functions interpreter, with Lambda tasks run in-process.

moto 5.2.5 ships an ASL interpreter (moto.stepfunctions.parser) that it only uses when its
config says `{"stepfunctions": {"execute_state_machine": true}}`; the server takes that
config at `POST /moto-api/config`. For a Lambda task the interpreter calls `lambda:Invoke`
with boto3 on `http://localhost:$MOTO_PORT`, which lands in moto's Lambda backend; we hook it
(internals.hook_lambda_invoke): a function name or ARN of one of the template's functions
runs our handler with the task input as the event; anything else falls through to moto.

moto's interpreter also names an execution started without a name "None" (so the second
one fails with ExecutionAlreadyExists); while the bridge is installed it gets a UUID, as on AWS
(internals.name_unnamed_executions).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import traceback
import urllib.request
from typing import Any

from localcloud import internals, limits
from localcloud.functions import Functions
from localcloud.intrinsics import ACCOUNT_ID
from localcloud.template import Template

log = logging.getLogger("localcloud.stepfunctions")

STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")


def enable_executor(endpoint: str, port: int) -> None:
    """Turn on moto's ASL interpreter (before any state machine is created: the interpreter
    keeps its state machines in a backend of its own)."""
    body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
    req = urllib.request.Request(
        f"{endpoint}/moto-api/config", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()
    os.environ["MOTO_PORT"] = str(port)  # where the interpreter's boto3 clients call moto


# ---------------------------------------------------------------------- Lambda bridge
_bridge_lock = threading.Lock()
_bridged: list[Functions] = []  # one per running LocalCloud; the last one is live
_active_functions: Functions | None = None


class DataLimitExceeded(RuntimeError):
    """A Lambda task's input or output is over Step Functions' 256 KiB of state data."""

    error_type = "States.DataLimitExceeded"


def _invoke(function_name: str, body: Any, headers: Any, response_headers: Any) -> bytes | None:
    """moto's Lambda invoke of one of the template's functions runs our handler (None: not ours)."""
    functions = _active_functions
    fn = functions.find(function_name) if functions is not None else None
    if fn is None:
        return None
    event = json.loads(body) if body else {}
    invocation_type = next(
        (v for k, v in (headers or {}).items() if k.lower() == "x-amz-invocation-type"), "RequestResponse"
    )

    def run() -> bytes:
        try:
            if len(body or b"") > limits.STATES_PAYLOAD_BYTES:
                raise DataLimitExceeded(f"the state's input is over {limits.STATES_PAYLOAD_BYTES} bytes")
            result = functions.invoke(fn.logical_id, event)
            payload = json.dumps(result).encode()
            if len(payload) > limits.STATES_PAYLOAD_BYTES:
                raise DataLimitExceeded(f"the task's output is over {limits.STATES_PAYLOAD_BYTES} bytes")
            return payload
        except Exception as exc:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {
                    "errorMessage": str(exc),
                    "errorType": getattr(exc, "error_type", type(exc).__name__),
                    "stackTrace": traceback.format_tb(exc.__traceback__),
                }
            ).encode()

    if invocation_type == "Event":
        threading.Thread(target=run, name=f"async-{fn.logical_id}", daemon=True).start()
        payload = b""
    else:
        payload = run()
    response_headers["Content-Length"] = str(len(payload))
    return payload


def install_lambda_bridge(functions: Functions) -> None:
    """Route moto Lambda invocations of the template's functions to our handlers."""
    global _active_functions

    with _bridge_lock:
        if not _bridged:
            internals.hook_lambda_invoke(_invoke)
            internals.name_unnamed_executions()
        _bridged.append(functions)
        _active_functions = functions


def uninstall_lambda_bridge(functions: Functions) -> None:
    global _active_functions

    with _bridge_lock:
        if functions in _bridged:
            _bridged.remove(functions)
        _active_functions = _bridged[-1] if _bridged else None
        if not _bridged:
            internals.unhook_lambda_invoke()
            internals.name_unnamed_executions(on=False)


# ---------------------------------------------------------------------- state machines
def definition_of(template: Template, logical_id: str) -> str:
    """The ASL text with DefinitionSubstitutions applied."""
    res = template.resources_all[logical_id]
    props = res.get("Properties") or {}
    if res["Type"] == "AWS::StepFunctions::StateMachine":
        definition = props.get("DefinitionString") or props.get("Definition")
        uri = props.get("DefinitionS3Location")
        subs = template.resolve(props.get("DefinitionSubstitutions") or {})
    else:
        definition = props.get("Definition")
        uri = props.get("DefinitionUri")
        subs = template.resolve(props.get("DefinitionSubstitutions") or {})
    if definition is not None:
        definition = template.resolve(definition)
        text = definition if isinstance(definition, str) else json.dumps(definition)
    elif isinstance(uri, str):
        path = (template.dir / uri).resolve()
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yaml", ".yml"):
            import yaml

            text = json.dumps(yaml.safe_load(text))
    else:
        raise ValueError(f"{logical_id}: needs Definition or a local DefinitionUri")
    for key, value in subs.items():
        text = text.replace("${" + key + "}", str(value))
    json.loads(text)  # fail early on a broken definition
    return text


def create_state_machines(template: Template, sfn: Any) -> dict[str, str]:
    """Create each state machine in moto; returns logical id -> ARN."""
    arns: dict[str, str] = {}
    for lid, res in template.resources(*STATE_MACHINE_TYPES).items():
        props = template.properties(lid)
        name = template.resolver.physical_name(lid)
        kwargs: dict[str, Any] = {
            "name": name,
            "definition": definition_of(template, lid),
            "roleArn": props.get("Role")
            or props.get("RoleArn")
            or f"arn:aws:iam::{ACCOUNT_ID}:role/{name}-role",
        }
        if props.get("Type") in ("STANDARD", "EXPRESS"):
            kwargs["type"] = props["Type"]
        elif props.get("StateMachineType") in ("STANDARD", "EXPRESS"):
            kwargs["type"] = props["StateMachineType"]
        arn = sfn.create_state_machine(**kwargs)["stateMachineArn"]
        template.resolver.set_attribute(lid, "Ref", arn)
        template.resolver.set_attribute(lid, "Arn", arn)
        arns[lid] = arn
        log.info("state machine %s created (%s)", lid, name)
        for event_name, event in (res.get("Properties") or {}).get("Events", {}).items():
            log.warning("%s: event %s (%s) is not run locally", lid, event_name, event.get("Type"))
    return arns
