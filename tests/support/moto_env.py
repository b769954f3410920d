"""moto in-process with the resources of template.yaml (tables, queues, bus), for integration tests."""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import threading
from pathlib import Path

import boto3
from moto import mock_aws

from localcloud import moto_patches
from localcloud.resources import provision
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
def _dynamodb_one_request_at_a_time():
    """moto's DynamoDB backend is not safe under concurrent requests; DynamoDB applies each
    request atomically. Threads racing through the services then see what they would on AWS
    (the local cloud does the same for its server)."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    real = DynamoHandler.call_action

    def one_at_a_time(self):
        with lock:
            return real(self)

    DynamoHandler.call_action = one_at_a_time
    try:
        yield
    finally:
        DynamoHandler.call_action = real


@contextlib.contextmanager
def moto_app(merchant_integrations: dict | None = None):
    """Yield the resolved function environment with moto running and merchants seeded."""
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
    moto_patches.apply()
    try:
        with mock_aws(), _dynamodb_one_request_at_a_time():
            template = _template()
            clients = {
                s: boto3.client(s, region_name="us-east-1") for s in ("dynamodb", "sqs", "events", "sns")
            }
            provision(template, clients)
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
