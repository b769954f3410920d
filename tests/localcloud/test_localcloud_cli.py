"""`python -m localcloud` as a subprocess: serves /health on $ORDERHUB_PORT, exits 0 on SIGINT/SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.ports import local_cloud_env

pytestmark = pytest.mark.slowest(17)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
REAL_HEALTH_HANDLER = ROOT / "functions" / "merchant_api" / "app.py"


def wait_for_health(url: str, proc: subprocess.Popen, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the local cloud exited early"
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                return {"status": resp.status, "body": json.loads(resp.read())}
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"{url}/health did not answer within {timeout}s")


@pytest.mark.parametrize(
    ("template", "sig"),
    [
        pytest.param(None, signal.SIGINT, id="real-template-sigint"),
        pytest.param(FIXTURES / "template.yaml", signal.SIGTERM, id="fixture-template-sigterm"),
    ],
)
def test_python_m_localcloud_serves_and_stops_cleanly(template, sig, tmp_path):
    if template is None and not REAL_HEALTH_HANDLER.exists():
        pytest.skip("functions/merchant_api/app.py (GET /health) is not there yet")
    env, port = local_cloud_env(tmp_path / "state")
    env.pop("ORDERHUB_TEMPLATE", None)
    if template is not None:
        env["ORDERHUB_TEMPLATE"] = str(template)
    log_path = tmp_path / "localcloud.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "localcloud"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            started = time.monotonic()
            health = wait_for_health(f"http://127.0.0.1:{port}", proc)
            assert health["status"] == 200
            assert time.monotonic() - started < 20

            config = json.loads((tmp_path / "state" / "local.json").read_text())
            assert config["api_url"] == f"http://127.0.0.1:{port}"
            assert [m["merchant_id"] for m in config["merchants"]] == ["demo", "demo2"]
            assert all(set(m) == {"merchant_id", "token", "webhook_secrets"} for m in config["merchants"])
            assert config["warehouse_token"]

            proc.send_signal(sig)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    output = log_path.read_text()
    assert f"http://127.0.0.1:{port}" in output  # the banner
    assert "GET /health 200" in output  # one line per request
    assert "Traceback" not in output, output
