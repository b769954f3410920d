"""Reflecting merchant cancels and refreshing orders, on moto with the fake marketplace."""

from __future__ import annotations

import copy
import itertools
import json
import uuid
from datetime import UTC, datetime

import boto3
import pytest

from localcloud.fake_marketplace import FakeMarketplace
from orderhub.domain import actions
from orderhub.domain.actions import Outcome, RuleRefused
from orderhub.domain.models import Envelope
from orderhub.jobs import runner
from orderhub.kernel import clock
from orderhub.kernel.errors import Unprocessable, ValidationFailed
from orderhub.marketplaces import client as mc
from orderhub.marketplaces.generic import webhook as generic
from orderhub.marketplaces.shopify import webhook as shopify
from orderhub.merchants import profiles
from orderhub.orders import lifecycle, queries, refresh
from orderhub.sync import history as sync_history
from orderhub.sync import reflect
from orderhub.webhooks import ingest
from tests.support.http import load_event
from tests.support.moto_env import SECRETS, moto_app
from tests.support.outbound import allowing

pytestmark = pytest.mark.slowest(12)

NOW = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
_numbers = itertools.count(2001)


@pytest.fixture(scope="module")
def fake():
    with FakeMarketplace() as f, allowing(f.url):
        yield f


@pytest.fixture(autouse=True)
def setup(fake, monkeypatch):
    fake.reset()
    clock.freeze(NOW)
    monkeypatch.setattr(mc, "sleep", lambda s: None)
    monkeypatch.setattr(mc, "TIMEOUT_SECONDS", 1.0)
    yield
    clock.freeze(None)


def integrate(fake, merchant="demo", **settings):
    """Point the merchant's shopify and rakuten integrations at the fake."""
    integrations = {
        mp: {"api_base_url": fake.base_url(mp), "api_token": f"tok-{mp}", **settings}
        for mp in ("shopify", "rakuten")
    }
    profiles.put_profile(merchant, SECRETS[merchant], integrations=integrations)


def shopify_object(**overrides) -> dict:
    order = copy.deepcopy(load_event("shopify/orders_create.json"))
    n = next(_numbers)
    order.update({"id": 5712345670000 + n, "order_number": n, "name": f"#{n}"})
    order.update(overrides)
    return order


def ingested(obj: dict, merchant="demo", fake=None) -> dict:
    """The order created by an orders/create webhook with this object (and the same object at
    the fake marketplace when given)."""
    change = shopify.normalize_order(json.loads(json.dumps(obj)), "created")
    env = Envelope(
        merchant_id=merchant, adapter="shopify", delivery_id=str(uuid.uuid4()), received_at=NOW, change=change
    )
    assert ingest.process(env.model_dump_json()) == "applied"
    if fake is not None:
        fake.put_order("shopify", obj)
    [order] = queries.list_orders(merchant, {"q": change.marketplace_order_no})["orders"]
    return order


def history(order: dict) -> list[dict]:
    return queries.get_order_with_history(order["merchant_id"], order["order_id"])["history"]


def cancel(order: dict) -> dict:
    new, outcome = lifecycle.apply(
        order["merchant_id"],
        order["order_id"],
        lambda o, now: actions.cancel(o, "buyer asked", now),
        actor="merchant",
    )
    assert outcome.action == "cancelled"
    return new


def deliveries(env) -> int:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    return sum(
        1
        for p in ddb.get_paginator("scan").paginate(TableName=env["TABLE_NAME"])
        for i in p["Items"]
        if i["sk"]["S"] == "#DELIVERY"
    )


# ---------------------------------------------------------------------- reflect
def test_reflected_cancel_is_sent_and_recorded(app_env, fake):
    integrate(fake, reflect_cancel_to_marketplace=True)
    order = ingested(shopify_object(), fake=fake)
    cancelled = cancel(order)

    latest = reflect.after_merchant_cancel(cancelled)

    assert latest == cancelled and latest["tags"] == []
    [sent] = fake.cancels("shopify")
    assert sent["order_no"] == order["marketplace_order_no"]
    assert {c["token"] for c in fake.calls("shopify")} == {"tok-shopify"}
    last = history(order)[-1]
    assert (last["actor"], last["action"], last["marketplace"]) == ("system", "reflected", "shopify")
    assert lifecycle.load("demo", order["order_id"])["version"] == cancelled["version"]


def test_failed_reflect_tags_the_order_and_the_cancel_stands(app_env, fake):
    integrate(fake, reflect_cancel_to_marketplace=True)
    order = ingested(shopify_object(), fake=fake)
    other = ingested(shopify_object(), fake=fake)
    fake.fail("shopify", "error", count=-1)

    latest = reflect.after_merchant_cancel(cancel(order))

    assert latest["status"] == "cancelled" and latest["tags"] == ["mall_reflect_error"]
    assert len(fake.calls("shopify")) == 3 and fake.cancels("shopify") == []
    last = history(order)[-1]
    assert (last["actor"], last["action"]) == ("system", "reflect_failed")
    assert last["error"]["kind"] == "unavailable" and last["error"]["status"] == 500
    assert last["changes"] == {"tags": [[], ["mall_reflect_error"]]}
    tagged = queries.list_orders("demo", {"tag": "mall_reflect_error"})["orders"]
    assert [o["order_id"] for o in tagged] == [order["order_id"]]
    assert other["order_id"] not in [o["order_id"] for o in tagged]
    assert queries.counts("demo")["cancelled"] == 1


def test_reflect_off_or_no_api_sends_nothing(app_env, fake):
    integrate(fake, reflect_cancel_to_marketplace=False)
    order = ingested(shopify_object(), fake=fake)
    cancelled = cancel(order)
    assert reflect.after_merchant_cancel(cancelled) == cancelled
    profiles.put_profile(
        "demo", SECRETS["demo"], integrations={"shopify": {"reflect_cancel_to_marketplace": True}}
    )
    assert reflect.after_merchant_cancel(cancelled) == cancelled
    assert fake.calls() == []
    assert [h["action"] for h in history(order)] == ["created", "cancelled"]


# ---------------------------------------------------------------------- refresh one
def test_refresh_applies_an_address_changed_at_the_marketplace(app_env, fake):
    integrate(fake)
    obj = shopify_object(updated_at="2026-01-05T10:15:32+09:00")
    order = ingested(obj, fake=fake)
    before = deliveries(app_env)
    moved = dict(obj["shipping_address"], address1="大手町1-1-1", city="千代田区", zip="100-0004")
    fake.update_order(
        "shopify",
        order["marketplace_order_no"],
        shipping_address=moved,
        updated_at="2026-01-05T12:00:00+09:00",
    )

    new = refresh.refresh_order("demo", order["order_id"])

    assert new["recipient"]["address1"] == "大手町1-1-1" and new["recipient"]["postal_code"] == "100-0004"
    assert new["version"] == order["version"] + 1
    assert new["marketplace_updated_at"] == "2026-01-05T03:00:00.000Z"
    stored = lifecycle.load("demo", order["order_id"])
    assert stored["recipient"] == new["recipient"] and stored["status"] == order["status"]
    last = history(order)[-1]
    assert (last["actor"], last["action"], last["via"]) == ("marketplace", "refreshed", "refresh")
    assert set(last["changes"]) == {"recipient"}
    # the refresh's delivery record: the order and the marketplace state it saw
    assert last["delivery_id"] == f"refresh:{order['order_id']}:2026-01-05T03:00:00.000Z"
    assert deliveries(app_env) == before + 1
    assert refresh.refresh_order("demo", order["order_id"]) == stored  # the same state again: nothing
    assert deliveries(app_env) == before + 1 and history(order)[-1] == last


def test_refresh_with_nothing_new_changes_nothing(app_env, fake):
    integrate(fake)
    order = ingested(shopify_object(), fake=fake)
    assert refresh.refresh_order("demo", order["order_id"]) == lifecycle.load("demo", order["order_id"])
    assert lifecycle.load("demo", order["order_id"])["version"] == order["version"]
    assert [h["action"] for h in history(order)] == ["created"]


def test_stale_marketplace_data_is_ignored(app_env, fake):
    integrate(fake)
    obj = shopify_object(updated_at="2026-01-05T10:15:32+09:00")
    order = ingested(obj, fake=fake)
    moved = dict(obj["shipping_address"], address1="Somewhere older")
    fake.update_order(
        "shopify",
        order["marketplace_order_no"],
        shipping_address=moved,
        updated_at="2026-01-05T09:00:00+09:00",
    )

    same = refresh.refresh_order("demo", order["order_id"])

    assert same == lifecycle.load("demo", order["order_id"]) and same["version"] == order["version"]
    assert same["recipient"] == order["recipient"]
    last = history(order)[-1]
    assert (last["action"], last["reason"], last["via"]) == ("ignored", "stale", "refresh")


def test_marketplace_error_is_422_and_changes_nothing(app_env, fake):
    integrate(fake)
    obj = shopify_object()
    order = ingested(obj, fake=fake)
    fake.update_order(
        "shopify",
        order["marketplace_order_no"],
        updated_at="2026-01-05T12:00:00+09:00",
        email="x@example.com",
    )
    fake.fail("shopify", "error", count=-1, status=503)
    before = lifecycle.load("demo", order["order_id"])

    with pytest.raises(Unprocessable) as err:
        refresh.refresh_order("demo", order["order_id"])

    body = err.value.to_body()["error"]
    assert err.value.status == 422 and body["code"] == "marketplace_error"
    assert (
        body["kind"] == "unavailable" and body["marketplace_status"] == 503 and body["field"] == "marketplace"
    )
    assert lifecycle.load("demo", order["order_id"]) == before
    assert [h["action"] for h in history(order)] == ["created"]


def test_unknown_at_the_marketplace_is_422_not_found(app_env, fake):
    integrate(fake)
    order = ingested(shopify_object())  # not at the fake
    with pytest.raises(Unprocessable) as err:
        refresh.refresh_order("demo", order["order_id"])
    assert err.value.to_body()["error"]["kind"] == "not_found"


def test_no_marketplace_api_is_409(app_env, fake):
    order = ingested(shopify_object(), fake=fake)  # the profile has no api_base_url
    with pytest.raises(RuleRefused) as err:
        refresh.refresh_order("demo", order["order_id"])
    body = err.value.to_body()["error"]
    assert err.value.status == 409 and body["rule"] == "no_marketplace_api"
    assert fake.calls() == []


def test_cancelled_orders_are_not_changed_nor_fetched(app_env, fake):
    integrate(fake)
    order = ingested(shopify_object(), fake=fake)
    cancelled = cancel(order)
    assert refresh.refresh_order("demo", order["order_id"]) == cancelled
    assert fake.calls() == []
    last = history(order)[-1]
    assert (last["action"], last["reason"]) == ("ignored", "cancelled_number")


def cancel_at_marketplace(fake, marketplace: str, order: dict) -> None:
    """The marketplace cancels the order at 13:00 on 5 Jan (Tokyo), after everything the tests set up."""
    at = "2026-01-05T13:00:00+09:00"
    fake.update_order(marketplace, order["marketplace_order_no"], cancelled_at=at, updated_at=at)


def test_a_cancel_seen_at_the_marketplace_cancels_by_the_stage_rules(app_env, fake):
    integrate(fake)
    order = ingested(shopify_object(), fake=fake)
    cancel_at_marketplace(fake, "shopify", order)
    new = refresh.refresh_order("demo", order["order_id"])
    assert new["status"] == "cancelled" and new["cancel_reason"] == "marketplace_cancelled"
    assert history(order)[-1]["action"] == "cancelled"


# ------------------------------------------- refresh follows the sync rules (seed 001, docs/sync-flows.md)
@pytest.fixture
def flows_env():
    with moto_app(state_machines=True) as env:
        yield env


def base_object(**overrides) -> dict:
    """A BASE order object in the generic format (what BASE's connector posts and serves)."""
    order = copy.deepcopy(load_event("generic/order_created.json")["order"])
    order.update(
        order_no=f"BASE-{next(_numbers)}",
        payment={"method": "marketplace"},
        placed_at="2026-01-05T09:00:00+09:00",
        updated_at="2026-01-05T10:00:00+09:00",
    )
    order.update(overrides)
    return order


def ingested_base(fake, obj: dict) -> dict:
    profiles.put_profile(
        "demo",
        SECRETS["demo"],
        integrations={"base": {"api_base_url": fake.base_url("base"), "api_token": "tok-base"}},
    )
    event = {
        "event_id": str(uuid.uuid4()),
        "type": "order.created",
        "marketplace": "base",
        "occurred_at": "2026-01-05T10:00:00+09:00",
        "order": obj,
    }
    change = generic.to_change(generic.GenericEvent.model_validate(event))
    env = Envelope(
        merchant_id="demo", adapter="generic", delivery_id=event["event_id"], received_at=NOW, change=change
    )
    assert ingest.process(env.model_dump_json()) == "applied"
    fake.put_order("base", obj)
    [order] = queries.list_orders("demo", {"q": obj["order_no"]})["orders"]
    return order


def at_stage(order: dict, stage: str) -> dict:
    new, _ = lifecycle.apply(
        "demo",
        order["order_id"],
        lambda o, now: Outcome({**o, "status": "processing", "shipment_stage": stage}, "test_set"),
        actor="test",
    )
    return new


def sync_entries(**query) -> list[dict]:
    return sync_history.list_page("demo", {"page_size": "200", **query})["entries"]


def test_refresh_never_carries_a_base_cancel_to_the_shipment(app_env, fake):
    order = at_stage(ingested_base(fake, base_object()), "requested")
    cancel_at_marketplace(fake, "base", order)

    same = refresh.refresh_order("demo", order["order_id"])

    # the shipment request stands: the merchant cancels it by hand
    assert same == lifecycle.load("demo", order["order_id"]) == order
    assert (same["status"], same["shipment_stage"]) == ("processing", "requested")
    [entry] = sync_entries()
    assert (entry["kind"], entry["outcome"], entry["via"]) == ("cancel", "not_reflected", "refresh")
    assert "by hand" in entry["reason"] and entry["order_id"] == order["order_id"]
    assert entry["delivery_id"] == f"refresh:{order['order_id']}:2026-01-05T04:00:00.000Z"
    last = history(order)[-1]
    assert (last["actor"], last["action"], last["reason"]) == (
        "marketplace",
        "cancel_not_reflected",
        "cancel_sync_off",
    )
    # refreshing the same marketplace state again records nothing more
    assert refresh.refresh_order("demo", order["order_id"]) == order
    assert len(sync_entries()) == 1 and history(order)[-1] == last


def test_refresh_job_follows_the_same_rules(app_env, fake):
    order = at_stage(ingested_base(fake, base_object()), "requested")
    cancel_at_marketplace(fake, "base", order)
    done = run_job(refresh.start_refresh_job("demo", {"marketplace": "base"}))
    [row] = done["results"]
    assert row["ok"] and row["outcome"] == "ignored:cancel_sync_off"
    assert lifecycle.load("demo", order["order_id"]) == order
    assert [(e["kind"], e["outcome"]) for e in sync_entries()] == [("cancel", "not_reflected")]


def moved_at_marketplace(fake, obj: dict, order: dict) -> dict:
    moved = dict(obj["shipping_address"], address1="大手町1-1-1", city="千代田区", zip="100-0004")
    fake.update_order(
        "shopify",
        order["marketplace_order_no"],
        shipping_address=moved,
        updated_at="2026-01-05T12:00:00+09:00",
    )
    return moved


def test_refresh_at_picking_with_modify_sync_off_keeps_the_recipient(app_env, fake):
    integrate(fake)  # Shopify: modify_sync off by default
    obj = shopify_object(updated_at="2026-01-05T10:15:32+09:00")
    order = at_stage(ingested(obj, fake=fake), "picking")
    moved_at_marketplace(fake, obj, order)

    new = refresh.refresh_order("demo", order["order_id"])

    assert new["recipient"] == order["recipient"] == lifecycle.load("demo", order["order_id"])["recipient"]
    assert new.get("modification") is None and new["status"] == "processing"
    [entry] = sync_entries()
    assert (entry["kind"], entry["outcome"], entry["via"]) == ("modify", "not_reflected", "refresh")
    assert entry["paid"] is False and "not synced" in entry["reason"]
    last = history(order)[-1]
    assert (last["action"], last["via"]) == ("refreshed", "refresh") and "recipient" in last["ignored_fields"]
    assert "recipient" not in last.get("changes", {})


def test_refresh_at_picking_with_modify_sync_on_starts_the_modify_flow(flows_env, fake):
    integrate(fake, modify_sync=True, modify_after_confirmed=True)
    obj = shopify_object(updated_at="2026-01-05T10:15:32+09:00")
    order = at_stage(ingested(obj, fake=fake), "picking")
    moved = moved_at_marketplace(fake, obj, order)

    new = refresh.refresh_order("demo", order["order_id"])

    # the order keeps the recipient the shipment has; the flow carries the new one
    assert new["recipient"] == order["recipient"]
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    [execution] = sfn.list_executions(stateMachineArn=flows_env["MODIFY_STATE_MACHINE_ARN"])["executions"]
    assert execution["name"].startswith(f"modify-{order['order_id']}-")
    flow = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert flow["recipient"]["address1"] == moved["address1"] and flow["source"] == "marketplace"
    assert flow["delivery_id"] == f"refresh:{order['order_id']}:2026-01-05T03:00:00.000Z"
    last = history(order)[-1]
    assert last["via"] == "refresh" and execution["name"] in last["reason"]
    # the same marketplace state again starts no second flow
    refresh.refresh_order("demo", order["order_id"])
    assert len(sfn.list_executions(stateMachineArn=flows_env["MODIFY_STATE_MACHINE_ARN"])["executions"]) == 1


# ---------------------------------------------------------------------- refresh many
def run_job(job: dict) -> dict:
    runner.run(json.dumps({"merchant_id": job["merchant_id"], "job_id": job["job_id"]}))
    return runner.get(job["merchant_id"], job["job_id"])


def test_refresh_job_records_a_result_per_order(app_env, fake):
    integrate(fake)
    moved_obj = shopify_object(updated_at="2026-01-05T10:15:32+09:00")
    moved = ingested(moved_obj, fake=fake)
    same = ingested(shopify_object(), fake=fake)
    missing = ingested(shopify_object())
    gone = ingested(shopify_object(), fake=fake)
    cancel(gone)
    fake.update_order(
        "shopify",
        moved["marketplace_order_no"],
        shipping_address=dict(moved_obj["shipping_address"], address1="新しい住所 1"),
        updated_at="2026-01-05T12:00:00+09:00",
    )

    job = refresh.start_refresh_job("demo", {"marketplace": "shopify", "page_size": 200})
    assert job["kind"] == "refresh" and job["state"] == "queued"
    assert job["params"] == {"filter": {"marketplace": "shopify"}}  # the job reads every page itself
    done = run_job(job)

    assert done["state"] == "done" and done["total"] == 4
    assert (done["processed"], done["succeeded"], done["failed"]) == (4, 3, 1)
    by_order = {r["order_id"]: r for r in done["results"]}
    assert by_order[moved["order_id"]]["ok"] and by_order[moved["order_id"]]["outcome"] == "updated"
    assert by_order[same["order_id"]]["outcome"] == "unchanged"
    assert by_order[gone["order_id"]]["outcome"] == "ignored:cancelled_number"
    err = by_order[missing["order_id"]]
    assert (
        not err["ok"] and err["error"]["code"] == "marketplace_error" and err["error"]["kind"] == "not_found"
    )
    assert lifecycle.load("demo", moved["order_id"])["recipient"]["address1"] == "新しい住所 1"


def test_refresh_job_stops_calling_a_marketplace_that_is_down(app_env, fake):
    integrate(fake)
    for _ in range(5):
        ingested(shopify_object(), fake=fake)
    fake.fail("shopify", "error", count=-1)
    done = run_job(refresh.start_refresh_job("demo", {}))
    assert (done["total"], done["failed"]) == (5, 5)
    assert len(fake.calls("shopify")) == refresh.JOB_BREAKER_AFTER * mc.ATTEMPTS
    skipped = [r for r in done["results"] if r["error"].get("skipped")]
    assert len(skipped) == 5 - refresh.JOB_BREAKER_AFTER


@pytest.mark.parametrize(
    ("flt", "field"),
    [({"status": "nope"}, "filter.status"), ({"colour": "red"}, "filter.colour"), ("status=new", "filter")],
)
def test_a_bad_filter_is_refused_before_any_job(app_env, flt, field):
    with pytest.raises(ValidationFailed) as err:
        refresh.start_refresh_job("demo", flt)
    assert err.value.field == field


def test_a_claim_learned_by_refresh_holds_the_order_and_its_end_releases_it(app_env, fake):
    order = ingested_base(fake, base_object())
    no = order["marketplace_order_no"]
    fake.update_order(
        "base", no, claim={"state": "open", "kind": "cancel"}, updated_at="2026-01-05T11:00:00+09:00"
    )
    held = refresh.refresh_order("demo", order["order_id"])
    assert (held["status"], held["claim"]["state"], held["claim"]["held"]) == ("on_hold", "open", True)
    fake.update_order(
        "base", no, claim={"state": "closed", "kind": "cancel"}, updated_at="2026-01-05T12:00:00+09:00"
    )
    back = refresh.refresh_order("demo", order["order_id"])
    assert (back["status"], back["claim"]["state"]) == (order["status"], "closed")


def test_a_failed_reflect_is_retried_or_cleared_by_the_merchant(app_env, fake):
    from orderhub.domain.actions import RuleRefused
    from orderhub.kernel.errors import ValidationFailed
    from orderhub.orders.refresh import MarketplaceCallFailed
    from orderhub.store import db

    integrate(fake, reflect_cancel_to_marketplace=True)
    order = ingested(shopify_object(), fake=fake)
    fake.fail("shopify", "error", count=-1)
    tagged = reflect.after_merchant_cancel(cancel(order))
    assert tagged["tags"] == ["mall_reflect_error"] and tagged["reflect_failed"]["what"] == "cancel"
    assert "retry_reflect" in queries.order_view(tagged)["actions"]

    with pytest.raises(MarketplaceCallFailed):  # still down: the tag stays, with the new error
        reflect.retry("demo", order["order_id"])
    assert db.get_order("demo", order["order_id"])["tags"] == ["mall_reflect_error"]
    assert fake.cancels("shopify") == []

    fake.fail("shopify", "error", count=1)  # once more, then the marketplace answers again
    retried = reflect.retry("demo", order["order_id"])
    assert retried["tags"] == [] and retried["reflect_failed"] is None
    assert len(fake.cancels("shopify")) == 1
    assert [h["action"] for h in history(order)][-2:] == ["reflected", "reflect_retried"]
    with pytest.raises(RuleRefused) as exc:
        reflect.retry("demo", order["order_id"])
    assert exc.value.details["rule"] == "no_reflect_error"

    other = ingested(shopify_object(), fake=fake)
    fake.fail("shopify", "error", count=-1)
    reflect.after_merchant_cancel(cancel(other))
    with pytest.raises(ValidationFailed) as bad:
        reflect.clear("demo", other["order_id"], "")
    assert bad.value.field == "reason"
    cleared = reflect.clear("demo", other["order_id"], "cancelled on Shopify's admin by hand")
    assert cleared["tags"] == [] and "retry_reflect" not in queries.order_view(cleared)["actions"]
    last = history(other)[-1]
    assert (last["actor"], last["action"], last["reason"]) == (
        "merchant",
        "reflect_error_cleared",
        "cancelled on Shopify's admin by hand",
    )
