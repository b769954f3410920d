"""moto in-process with the resources of template.yaml (tables, queues, bus), for integration tests.
The environment has the template's state machine ARNs; the machines themselves are created on
request (`state_machines=True`) for a test that starts flows: moto does not run them
(tests/e2e/test_sync_flows_e2e.py runs the flows on the local cloud)."""

from __future__ import annotations

import contextlib
import copy
import functools
import os
from pathlib import Path

import boto3
from moto import mock_aws

from localcloud import internals, limits
from localcloud.resources import provision
from localcloud.stepfunctions import create_state_machines
from localcloud.template import Template
from orderhub.kernel import caches

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "demo": {"shopify": "shp-secret-demo", "generic": "gen-secret-demo", "wish": "wish-secret-demo"},
    "demo2": {"shopify": "shp-secret-demo2", "generic": "gen-secret-demo2", "wish": "wish-secret-demo2"},
}


@functools.cache
def _parsed_template() -> Template:
    return Template(ROOT / "template.yaml")


def _template() -> Template:
    """template.yaml, parsed once per process (half a second of YAML); each app gets its own copy,
    since provisioning records the resources' attributes on it."""
    return copy.deepcopy(_parsed_template())


@contextlib.contextmanager
def moto_app(
    merchant_integrations: dict | None = None, state_machines: bool = False, parameters: dict | None = None
):
    """Yield the resolved function environment with moto running and merchants seeded; the
    template's `parameters` as a deploy would override them (its defaults when None)."""
    saved = dict(os.environ)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(var, None)
    internals.patch_moto()
    try:
        with mock_aws(), internals.dynamodb_one_request_at_a_time():
            limits.install()  # AWS's limits moto does not check (on the session mock_aws starts)
            template = Template(ROOT / "template.yaml", parameters) if parameters else _template()
            clients = {
                s: boto3.client(s, region_name="us-east-1")
                for s in ("dynamodb", "sqs", "events", "sns", "s3", "kms")
            }
            provision(template, clients)
            if state_machines:
                create_state_machines(template, boto3.client("stepfunctions", region_name="us-east-1"))
            env = template.environment()
            os.environ.update(env)
            caches.reset()
            from orderhub.merchants import profiles

            for mid, secrets in SECRETS.items():
                profiles.put_profile(mid, secrets, integrations=(merchant_integrations or {}).get(mid))
            yield env
    finally:
        os.environ.clear()
        os.environ.update(saved)
        caches.reset()
