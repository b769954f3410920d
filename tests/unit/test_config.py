"""kernel/config: every environment variable is read there; a function that needs a state
machine ARN refuses to start without it instead of skipping the flow."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from orderhub.kernel import config

ROOT = Path(__file__).resolve().parents[2]
ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:orderhub-test-CancelOrderStateMachine"


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "orderhub-test-table")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("CANCEL_STATE_MACHINE_ARN", "MODIFY_STATE_MACHINE_ARN"):
        monkeypatch.delenv(name, raising=False)
    config.settings.cache_clear()
    yield monkeypatch
    config.settings.cache_clear()


def test_state_machine_arns_are_settings(env):
    env.setenv("CANCEL_STATE_MACHINE_ARN", ARN)
    config.settings.cache_clear()
    assert config.settings().cancel_state_machine_arn == ARN
    assert config.settings().modify_state_machine_arn == ""
    assert config.require("cancel_state_machine_arn").cancel_state_machine_arn == ARN


def test_require_names_the_missing_variables(env):
    with pytest.raises(config.MissingSetting, match="CANCEL_STATE_MACHINE_ARN, MODIFY_STATE_MACHINE_ARN"):
        config.require("cancel_state_machine_arn", "modify_state_machine_arn", why="flows")


@pytest.mark.parametrize("function", ["merchant_api", "ingest_processor"])
def test_a_handler_that_starts_flows_fails_at_import_without_the_arn(env, function):
    spec = importlib.util.spec_from_file_location(
        f"_config_{function}", ROOT / "functions" / function / "app.py"
    )
    module = importlib.util.module_from_spec(spec)
    env.setitem(sys.modules, spec.name, module)
    with pytest.raises(config.MissingSetting, match="CANCEL_STATE_MACHINE_ARN"):
        spec.loader.exec_module(module)
