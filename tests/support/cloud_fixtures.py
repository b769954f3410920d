"""Module-scoped fixtures for tests that drive the whole app on the local cloud over HTTP: a
fresh LocalCloud on template.yaml per test module, and the demo merchants' API clients. A
conftest imports them (`from tests.support.cloud_fixtures import api, api2, cloud`)."""

from __future__ import annotations

import pytest

from localcloud import LocalCloud
from tests.support.http import ROOT, Api


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
