"""The SAM transform, as `sam deploy` has CloudFormation apply it, without AWS credentials.

aws-sam-translator turns the template's `AWS::Serverless::*` resources into plain
CloudFormation: each function's IAM role with its SAM policy templates expanded, the managed
policies and the inline policies SAM adds for event sources and destinations, the Lambda
permissions, the event source mappings. The local cloud reads the roles from here (iam.py) and
tests/integration/test_template.py lints the result.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
from typing import Any
from unittest import mock

REGION = "us-east-1"
ARTIFACT_BUCKET = "orderhub-artifacts-placeholder"

_cache: dict[str, dict] = {}
_cache_lock = threading.Lock()


def _managed_policy_loader() -> Any:
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader

    class _AnyManagedPolicy(dict):
        """A managed policy map that knows every name: `name` -> an AWS managed policy ARN.

        The translator first looks names up in the map bundled with it; only names it does not
        know (which sam-cli would look up in IAM with credentials) reach this map.
        """

        def get(self, name, default=None):
            return f"arn:aws:iam::aws:policy/{name}"

        def __getitem__(self, name):
            return self.get(name)

        def __contains__(self, name) -> bool:
            return True

        def __bool__(self) -> bool:  # the translator skips an empty (falsy) map
            return True

    class StubManagedPolicyLoader(ManagedPolicyLoader):
        """ManagedPolicyLoader without IAM: no credentials, no network."""

        def __init__(self) -> None:
            super().__init__(iam_client=None)

        def load(self) -> dict[str, str]:
            return _AnyManagedPolicy()

    return StubManagedPolicyLoader()


def packaged(sam_template: dict) -> dict:
    """What `sam package` hands CloudFormation: local code paths replaced by S3 URIs."""
    out = copy.deepcopy(sam_template)
    places = [
        (logical_id, resource.get("Properties") or {})
        for logical_id, resource in out.get("Resources", {}).items()
    ]
    places += [(f"Globals{section}", props or {}) for section, props in (out.get("Globals") or {}).items()]
    for name, props in places:
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            value = props.get(key)
            if isinstance(value, str) and not value.startswith("s3://"):
                props[key] = f"s3://{ARTIFACT_BUCKET}/{name}/{key.lower()}.zip"
    return out


def translate(sam_template: dict, parameters: dict[str, Any] | None = None) -> dict:
    """The SAM template as the AWS::Serverless-2016-10-31 transform turns it into CloudFormation.

    Parameter values are the template's defaults unless given (the translator also fills in
    pseudo parameters, which is why AWS_DEFAULT_REGION is pinned while it runs). The result is
    cached per template and parameters for the life of the process (a second each otherwise);
    each caller gets its own copy.
    """
    from samtranslator.translator.transform import transform

    if parameters is None:
        parameters = {
            name: p["Default"] for name, p in (sam_template.get("Parameters") or {}).items() if "Default" in p
        }
    key = hashlib.sha256(
        json.dumps([sam_template, parameters], sort_keys=True, default=str).encode()
    ).hexdigest()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is None:
            with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": REGION}):
                hit = transform(packaged(sam_template), parameters, _managed_policy_loader())
            _cache[key] = hit
    return copy.deepcopy(hit)
