"""The reliability and security suite (docs/reliability.md): each module gets a fresh local cloud, so its
counters and tables hold only what that module made. The modules that call the services
in-process on moto (races of jobs and sweeps, faults, the stateful lifecycle) use `app_env`."""

from __future__ import annotations

import pytest

from orderhub.kernel import clock
from tests.support.cloud_fixtures import api, api2, cloud  # noqa: F401 (fixtures)
from tests.support.moto_env import moto_app


@pytest.fixture
def app_env():
    """moto in-process with the template's resources (as tests/integration's `app_env`; DynamoDB
    requests are served one at a time, see tests/support/moto_env.py). The clock is unfrozen
    afterwards."""
    try:
        with moto_app() as env:
            yield env
    finally:
        clock.freeze(None)
