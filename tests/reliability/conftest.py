"""The reliability and security suite (issue #8): each module gets a fresh local cloud, so its
counters and tables hold only what that module made. The modules that call the services
in-process on moto (races of jobs and sweeps, faults, the stateful lifecycle) use `app_env`."""

from __future__ import annotations

import pytest

from localcloud import LocalCloud
from orderhub import clock
from tests.support.http import ROOT, Api
from tests.support.moto_env import moto_app


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    lc = LocalCloud(
        template_path=ROOT / "template.yaml",
        port=0,
        root=ROOT,
        state_dir=tmp_path_factory.mktemp("orderhub-state"),
    )
    lc.start()
    yield lc
    lc.stop()


@pytest.fixture(scope="module")
def api(cloud):
    return Api(cloud.config, "demo")


@pytest.fixture(scope="module")
def api2(cloud):
    return Api(cloud.config, "demo2")


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
