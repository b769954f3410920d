"""What a cold start of the functions whose first request imports more loads, in a fresh
interpreter as Lambda starts one (docs/architecture.md, "Cold start"): the handler imports
without the garbage collector, freezes what its import loaded out of the collector's full
collections and turns the collector back on, and a first request imports only what it serves.
No timing here: bench/imports.py measures it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    "TABLE_NAME": "orders",
    "INGEST_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/ingest",
    "JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs",
    "CANCEL_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:cancel",
    "MODIFY_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:modify",
    "CURSOR_KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/cursor",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _cold(function: str, first_use: str) -> dict:
    """Import functions/<function>/app.py in a fresh interpreter, then run `first_use` (what the
    first request does before any AWS call); what was frozen and what got imported."""
    code = (
        "import gc, json, sys\n"
        "import app\n"
        "frozen = gc.get_freeze_count()\n"
        "collecting = gc.isenabled()\n"
        "before = set(sys.modules)\n"
        f"{first_use}\n"
        "print(json.dumps({'frozen': frozen, 'collecting': collecting,"
        " 'loaded': sorted(before), 'first_use': sorted(set(sys.modules) - before)}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYDANTIC_"))}
    env.update(ENV, PYTHONPATH=str(ROOT / "layers" / "shared"))
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT / "functions" / function,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _packages(modules: list[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_the_csv_import_job_does_not_import_the_upload_parser():
    cold = _cold("job_worker", "from orderhub.jobs import runner; runner.runner_for('import_csv')")
    assert cold["frozen"] > 0
    assert cold["collecting"]
    assert "orderhub.orders.csv_import" in cold["first_use"]
    # the email package reads an upload's multipart form, in the API; the job reads stored rows
    assert "email" not in _packages(cold["first_use"])


def test_the_csv_import_job_builds_only_the_models_of_an_orders_parts():
    """A registration validates Item, Recipient and Payment (domain/parts.py): the job does not
    build the models of a marketplace change, nor import the order list's queries or the
    merchant's actions on an order."""
    cold = _cold("job_worker", "from orderhub.jobs import runner; runner.runner_for('import_csv')")
    assert "orderhub.domain.parts" in cold["first_use"]
    unused = ("orderhub.domain.models", "orderhub.orders.queries", "orderhub.domain.actions")
    assert [m for m in cold["first_use"] + cold["loaded"] if m in unused] == []


def test_a_shopify_webhook_imports_only_the_shopify_adapter():
    cold = _cold(
        "webhook_receiver",
        "from orderhub.marketplaces import registry; registry.get_adapter('shopify')",
    )
    assert cold["frozen"] > 0
    assert cold["collecting"]
    assert "orderhub.marketplaces.shopify.webhook" in cold["first_use"]
    others = [m for m in cold["first_use"] if m.startswith("orderhub.marketplaces.") and "shopify" not in m]
    assert others == ["orderhub.marketplaces.common"]


def test_the_webhook_receiver_does_not_import_the_processing_side():
    """Receiving verifies, validates and enqueues (webhooks/receiver.py); applying a change
    (webhooks/ingest.py: the domain rules, the flows, the sync history) is the ingest processor's."""
    cold = _cold("webhook_receiver", "pass")
    processing = ("orderhub.webhooks.ingest", "orderhub.domain.ingest", "orderhub.sync.flows")
    assert [m for m in cold["loaded"] if m in processing] == []


def test_the_ingest_processor_freezes_its_cold_start():
    cold = _cold("ingest_processor", "from orderhub.domain import models")
    assert cold["frozen"] > 0
    assert cold["collecting"]
    assert "pydantic" in _packages(cold["first_use"])  # imported by the first message, not at start


def _gc_after(block: str) -> dict:
    code = (
        "import gc, json\n"
        "from orderhub.kernel import coldstart\n"
        f"{block}\n"
        "print(json.dumps({'frozen': gc.get_freeze_count(), 'collecting': gc.isenabled()}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT / "layers" / "shared")},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_coldstart_loading_collects_nothing_inside_and_freezes_what_it_loaded():
    inside = _gc_after("with coldstart.loading():\n    assert not gc.isenabled()\n    import decimal")
    assert inside["frozen"] > 0
    assert inside["collecting"]


def test_coldstart_loading_that_fails_turns_the_collector_back_on_without_freezing():
    failed = _gc_after(
        "try:\n    with coldstart.loading():\n        raise ImportError('x')\nexcept ImportError:\n    pass"
    )
    assert failed == {"frozen": 0, "collecting": True}


def test_coldstart_loading_leaves_a_collector_turned_off_off():
    assert _gc_after("gc.disable()\nwith coldstart.loading():\n    pass")["collecting"] is False


HEAVY_AT_IMPORT = (
    "aws_lambda_powertools.event_handler",  # every resolver, so asyncio and every event data class
    "aws_lambda_powertools.utilities.batch",  # asyncio and the data classes, for a short loop
    "aws_lambda_powertools.utilities.data_classes",
    "asyncio",
)


def test_every_handler_imports_without_the_heavy_packages_and_freezes_its_cold_start():
    """The APIs route with orderhub/api/routing.py and the SQS consumers answer their batch with
    orderhub/kernel/batch.py: Powertools' event handler and batch utility cost the merchant API
    and the ingest processor about a third of what they import beyond boto3. Every handler
    imports inside coldstart.loading(): what it loaded is frozen and the collector is back on."""
    code = (
        "import gc, json, sys\n"
        "import app\n"
        f"heavy = sorted(m for m in sys.modules if m.startswith({HEAVY_AT_IMPORT!r}))\n"
        "print(json.dumps({'heavy': heavy, 'frozen': gc.get_freeze_count() > 0, 'on': gc.isenabled()}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYDANTIC_"))}
    env.update(ENV, PYTHONPATH=str(ROOT / "layers" / "shared"))
    loaded = {}
    for handler in sorted((ROOT / "functions").glob("*/app.py")):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=handler.parent,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        cold = json.loads(out.stdout.strip().splitlines()[-1])
        if cold["heavy"] or not (cold["frozen"] and cold["on"]):
            loaded[handler.parent.name] = {**cold, "heavy": cold["heavy"][:3]}
    assert loaded == {}
