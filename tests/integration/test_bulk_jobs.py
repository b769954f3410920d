"""Merchant actions on every order a filter shows, as background jobs (orders/bulk.py; docs/orders.md
"Actions on a whole search"): the orders are fixed when the job first runs, so a job that pauses
and continues acts on each order once, although the action moves orders out of its filter."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest

from orderhub.jobs import runner
from orderhub.kernel import clock
from orderhub.kernel.errors import ValidationFailed
from orderhub.orders import bulk, mappings, queries
from orderhub.orders.mapping_jobs import map_order_items
from orderhub.store import db, keys
from tests.integration.test_fulfillment import released as released_on

ON = datetime(2026, 11, 2, 3, tzinfo=UTC)


@pytest.fixture(autouse=True)
def unfreeze():
    yield
    clock.freeze(None)


def released(order_no: str, sku: str = "SKU-1") -> dict:
    """An order released (status new) through the webhook and the hold sweep, on ON."""
    return released_on(order_no, ON, sku=sku)


def take_message(env) -> str:
    sqs = boto3.client("sqs", region_name="us-east-1")
    [msg] = sqs.receive_message(QueueUrl=env["JOBS_QUEUE_URL"], MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message(QueueUrl=env["JOBS_QUEUE_URL"], ReceiptHandle=msg["ReceiptHandle"])
    return msg["Body"]


def run_with_a_pause(env, after_rows: int) -> dict:
    """The queued job run until it pauses after `after_rows` rows, then its continuation."""
    budget = iter([500] * (after_rows - 1) + [60])
    out = runner.run(take_message(env), time_left=lambda: next(budget, 500))
    assert out.get("paused") and out["processed"] == after_rows, out
    return runner.run(take_message(env), time_left=lambda: 800)


def test_confirm_every_new_order_pauses_and_continues_confirming_each_once(app_env):
    orders = [released(f"B{i}") for i in range(7)]
    job = bulk.start("demo", "confirm", {"status": "new"})
    assert (job["kind"], job["state"]) == ("confirm", "queued")
    run_with_a_pause(app_env, 3)
    final = runner.get("demo", job["job_id"])
    assert (final["state"], final["total"], final["succeeded"], final["failed"]) == ("done", 7, 7, 0)
    assert sorted(r["order_no"] for r in final["results"]) == sorted(
        o["marketplace_order_no"] for o in orders
    )
    assert all(db.get_order("demo", o["order_id"])["status"] == "processing" for o in orders)
    # each order confirmed once: one `confirmed` history entry each
    for o in orders:
        history = queries.get_order_with_history("demo", o["order_id"])["history"]
        assert [h["action"] for h in history].count("confirmed") == 1


def test_apply_mappings_over_unmapped_orders_maps_every_one_across_a_pause(app_env):
    orders = [released(f"M{i}", sku=f"SKU-{i}") for i in range(6)]
    mappings.put(
        "demo", [{"marketplace": "shopify", "sku": f"SKU-{i}", "item_code": f"IC-{i}"} for i in range(6)]
    )
    job = runner.create("demo", "apply_mappings", {"filter": {"mapping": "fail"}})
    run_with_a_pause(app_env, 2)
    final = runner.get("demo", job["job_id"])
    assert (final["total"], final["succeeded"]) == (6, 6), final
    assert all(db.get_order("demo", o["order_id"])["mapping"] == "ok" for o in orders)


def test_ship_requests_for_a_filter_report_each_order_with_its_packing_number(app_env):
    mapped = [released(f"S{i}") for i in range(3)]
    mappings.put("demo", [{"marketplace": "shopify", "sku": "SKU-1", "item_code": "IC-1"}])
    unmapped = released("S9", sku="SKU-X")
    bulk.start("demo", "confirm", {"status": "new"})
    runner.run(take_message(app_env))
    for o in [*mapped, unmapped]:
        map_order_items("demo", o["order_id"])
    job = bulk.start("demo", "ship_request", {"status": "processing"})
    runner.run(take_message(app_env))
    final = runner.get("demo", job["job_id"])
    assert (final["succeeded"], final["failed"]) == (3, 1)
    by_no = {r["order_no"]: r for r in final["results"]}
    assert all(by_no[o["marketplace_order_no"]]["packing_no"] for o in mapped)
    assert (by_no["S9"]["error"]["rule"], by_no["S9"]["error"]["field"]) == ("mapping_incomplete", "mapping")
    assert db.get_order("demo", unmapped["order_id"])["shipment_stage"] == "none"


@pytest.mark.parametrize(("flt", "field"), [({"status": "nope"}, "filter.status"), ("status=new", "filter")])
def test_a_bad_filter_is_a_400_before_any_job(app_env, flt, field):
    with pytest.raises(ValidationFailed) as err:
        bulk.start("demo", "confirm", flt)
    assert err.value.field == field
    sqs = boto3.client("sqs", region_name="us-east-1")
    assert "Messages" not in sqs.receive_message(QueueUrl=app_env["JOBS_QUEUE_URL"])


def test_the_orders_of_a_filter_job_are_stored_with_the_job_before_any_row_runs(app_env):
    order = released("R1")
    job = bulk.start("demo", "confirm", {"status": "new"})
    runner.run(take_message(app_env))
    stored = boto3.resource("dynamodb", region_name="us-east-1").Table(app_env["TABLE_NAME"])
    pk = keys.job_key("demo", job["job_id"])["pk"]
    data = stored.get_item(Key={"pk": pk, "sk": keys.job_data_sk(0)})["Item"]
    assert json.loads(data["rows"]) == [
        {
            "order_id": order["order_id"],
            "order_no": "R1",
            "marketplace": "shopify",
            "origin": "api",
            "status": "new",  # as the filter showed it when the job first ran
        }
    ]
    assert runner.get("demo", job["job_id"])["total"] == 1
