"""Relink (docs/orders.md) on moto with the fake marketplace: the request, every failure reason of the
sweep, success (new packing number, old one retired, linked both ways), two sweeps at once,
and that the sweep reads only the requested orders."""

from __future__ import annotations

import threading
from datetime import timedelta

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer

from localcloud import internals
from orderhub.closeout import cancelled_orders, relink
from orderhub.domain import actions
from orderhub.domain.closeout import CloseoutRefused
from orderhub.fulfillment import warehouse
from orderhub.kernel import clock
from orderhub.merchants import profiles
from orderhub.orders import lifecycle, queries, registration
from orderhub.store import db, keys
from tests.integration.test_reflect_refresh import (
    NOW,
    base_object,
    ingested,
    ingested_base,
    integrate,
    shopify_object,
)
from tests.integration.test_reflect_refresh import fake as fake  # noqa: F401  (module fixture)
from tests.integration.test_reflect_refresh import setup as setup  # noqa: F401  (autouse fixture)
from tests.support.factories import manual_body
from tests.support.moto_env import SECRETS
from tests.support.reads import items_read

pytestmark = pytest.mark.slowest(12)


def deleted_api_order(fake, **overrides) -> tuple[dict, dict]:
    integrate(fake)
    obj = shopify_object(**overrides)
    order = ingested(obj, fake=fake)
    gone, _ = lifecycle.apply(
        "demo", order["order_id"], lambda o, now: actions.delete(o, now), actor="merchant"
    )
    return gone, obj


def requested(order: dict) -> dict:
    return relink.request("demo", order["order_id"])


def stored(order_id: str) -> dict:
    return db.get_order("demo", order_id)


def test_request_marks_relinking_and_queues_it(app_env, fake):
    gone, _ = deleted_api_order(fake)
    view = requested(gone)
    assert view["closeout_state"] == "relinking" and view["relink_requested_at"] == clock.iso(NOW)
    item = (
        boto3.resource("dynamodb", region_name="us-east-1")
        .Table(app_env["TABLE_NAME"])
        .get_item(Key=keys.order_key("demo", gone["order_id"]))["Item"]
    )
    assert item["due_kind"] == keys.sharded("RELINK", gone["order_id"], keys.DUE_SHARDS) and item[
        "due_at"
    ].startswith(clock.iso(NOW))
    with pytest.raises(CloseoutRefused) as exc:
        requested(gone)  # already relinking
    assert exc.value.details["rule"] == "relink_relinking"


def test_request_refused_for_active_manual_and_old_orders(app_env, fake):
    integrate(fake)
    active = ingested(shopify_object(), fake=fake)
    with pytest.raises(CloseoutRefused) as exc:
        requested(active)
    assert exc.value.details["rule"] == "relink_needs_deleted"
    gone, _ = deleted_api_order(fake)
    clock.freeze(NOW + timedelta(days=15))
    with pytest.raises(CloseoutRefused) as exc:
        requested(gone)
    assert exc.value.details["rule"] == "deleted_over_14_days_ago"


def test_success_creates_a_new_order_with_a_new_packing_number(app_env, fake):
    gone, obj = deleted_api_order(fake)
    requested(gone)
    obj["shipping_address"] = {**obj["shipping_address"], "address1": "新住所 9-9-9"}
    fake.put_order("shopify", obj)
    clock.freeze(NOW + timedelta(minutes=10))
    assert relink.sweep()["relinked"] == 1
    old = stored(gone["order_id"])
    assert old["closeout_state"] == "relinked" and old["status"] == "deleted"
    new = stored(old["relinked_to"])
    assert new["relinked_from"] == gone["order_id"] and new["origin"] == "api"
    assert new["packing_no"] != gone["packing_no"] and new["status"] in ("new", "pending")
    assert new["recipient"]["address1"] == "新住所 9-9-9"
    assert db.get_lookup("demo", "shopify", gone["marketplace_order_no"])["order_id"] == new["order_id"]
    with pytest.raises(warehouse.PackingRetired):
        warehouse.resolve_packing(gone["packing_no"])
    assert warehouse.resolve_packing(new["packing_no"])["order_id"] == new["order_id"]
    item = (
        boto3.resource("dynamodb", region_name="us-east-1")
        .Table(app_env["TABLE_NAME"])
        .get_item(Key=keys.order_key("demo", gone["order_id"]))["Item"]
    )
    assert "due_kind" not in item and "due_at" not in item
    old_actions = [h["action"] for h in queries.get_order_with_history("demo", old["order_id"])["history"]]
    new_actions = [h["action"] for h in queries.get_order_with_history("demo", new["order_id"])["history"]]
    assert "relinked" in old_actions and "created_by_relink" in new_actions
    assert relink.sweep()["due"] == 0  # out of the queue


@pytest.mark.parametrize(
    "reason,change",
    [
        ("claim", lambda o: o.update(cancelled_at="2026-01-05T12:00:00+09:00")),
        ("shipping_started", lambda o: o.update(fulfillment_status="fulfilled")),
        ("payment_date_differs", lambda o: o.update(processed_at="2026-01-05T11:00:00+09:00")),
    ],
)
def test_marketplace_state_failures(app_env, fake, reason, change):
    gone, obj = deleted_api_order(fake)
    requested(gone)
    change(obj)
    fake.put_order("shopify", obj)
    assert relink.sweep()["failed"] == 1
    old = stored(gone["order_id"])
    assert old["closeout_state"] == "relink_failed" and old["closeout_failure"]["reason"] == reason
    # retry allowed: the request is accepted again
    assert requested(old)["closeout_state"] == "relinking"


def test_an_open_claim_at_the_marketplace_fails_the_relink_and_a_settled_one_passes(app_env, fake):
    """seed 000 (クレーム状態でない): a BASE order whose buyer asked for a return is not relinked."""
    obj = base_object()
    order = ingested_base(fake, obj)
    gone, _ = lifecycle.apply(
        "demo", order["order_id"], lambda o, now: actions.delete(o, now), actor="merchant"
    )
    requested(gone)
    fake.put_order("base", {**obj, "claim": {"state": "open", "kind": "return", "reason": "破損"}})
    assert relink.sweep()["failed"] == 1
    failure = stored(gone["order_id"])["closeout_failure"]
    assert failure["reason"] == "claim" and failure["claim"] == {"kind": "return", "reason": "破損"}
    requested(stored(gone["order_id"]))
    fake.put_order("base", {**obj, "claim": {"state": "closed", "kind": "return"}})
    assert relink.sweep()["relinked"] == 1


def test_marketplace_error_and_no_api(app_env, fake):
    gone, _ = deleted_api_order(fake)
    requested(gone)
    fake.fail("shopify", "error", count=-1, status=503)
    assert relink.sweep()["failed"] == 1
    failure = stored(gone["order_id"])["closeout_failure"]
    assert failure["reason"] == "marketplace_error" and failure["error"]["kind"] == "unavailable"
    fake.reset()
    requested(stored(gone["order_id"]))
    profiles.put_profile("demo", SECRETS["demo"], integrations={})
    relink.sweep()
    assert stored(gone["order_id"])["closeout_failure"]["reason"] == "no_marketplace_api"


def test_window_rules_at_relink_time(app_env, fake):
    gone, _ = deleted_api_order(fake)
    requested(gone)
    clock.freeze(NOW + timedelta(days=15))
    relink.sweep()
    assert stored(gone["order_id"])["closeout_failure"]["reason"] == "deleted_over_14_days_ago"
    gone2, _ = deleted_api_order(fake)
    requested(gone2)
    boto3.resource("dynamodb", region_name="us-east-1").Table(app_env["TABLE_NAME"]).update_item(
        Key=keys.profile_key("demo"),
        UpdateExpression="SET service_start = :s",
        ExpressionAttributeValues={":s": clock.iso(NOW + timedelta(days=15, minutes=1))},
    )
    profiles.clear_cache()
    relink.sweep()
    assert stored(gone2["order_id"])["closeout_failure"]["reason"] == "deleted_before_service_start"


def test_two_sweeps_at_once_relink_once(app_env, fake):
    gone, _ = deleted_api_order(fake)
    requested(gone)
    results: list[dict] = []
    barrier = threading.Barrier(2)

    def run():
        barrier.wait()
        results.append(relink.sweep())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["relinked"] for r in results) == 1
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(app_env["TABLE_NAME"])
    orders_for_no = [
        i
        for i in table.scan()["Items"]
        if i.get("entity") == "order" and i.get("marketplace_order_no") == gone["marketplace_order_no"]
    ]
    assert len(orders_for_no) == 2  # the deleted one and one relinked copy


def test_sweep_reads_only_the_requested_orders(app_env, fake):
    """10,000 deleted orders, 10 relink requests (in several shards of RELINK, three under the
    unsharded value written before sharding): the sweep reads 10 order items."""
    from orderhub.kernel import aws
    from orderhub.kernel.config import settings

    requests = []
    for _ in range(10):
        gone, _ = deleted_api_order(fake)
        requests.append(gone)
    template = dict(stored(requests[0]["order_id"]))
    serialize = TypeSerializer().serialize
    fillers = (
        {**template, "order_id": f"ord_FILL{n:06d}", "marketplace_order_no": f"F{n}"} for n in range(9990)
    )
    # The 9,990 other orders are the setting, not what is tested: stored as PutItem would store
    # them, without a request each (37 s of the suite otherwise)
    written = internals.put_items_directly(
        settings().table_name,
        ({k: serialize(v) for k, v in db.order_item(f).items()} for f in fillers),
    )
    assert written == 9990
    last = aws.table(settings().table_name).get_item(
        Key=keys.order_key(template["merchant_id"], "ord_FILL009989")
    )
    assert last["Item"]["marketplace_order_no"] == "F9989"
    for gone in requests:
        requested(gone)
    table = aws.table(settings().table_name)
    for gone in requests[:3]:  # three requests written before by_due was sharded (legacy RELINK)
        key = keys.order_key("demo", gone["order_id"])
        table.update_item(
            Key=key, UpdateExpression="SET due_kind = :k", ExpressionAttributeValues={":k": "RELINK"}
        )
    kinds = {table.get_item(Key=keys.order_key("demo", g["order_id"]))["Item"]["due_kind"] for g in requests}
    assert "RELINK" in kinds and len(kinds) >= 4  # the legacy value and several shards

    # The merchant's profile is cached for a minute; writing 10,000 orders on a busy machine can
    # take longer. Read it now, as the setup above did, so the sweep starts as warm as it would.
    profiles.clear_cache()
    profiles.get_profile("demo")
    with items_read() as read:
        result = relink.sweep()
    assert result["due"] == 10 and result["relinked"] == 10
    # the 10 entries of the slim index, then those 10 orders read whole, and no other item
    assert read == {"listed": 10, "whole": 10, "order_items": 10}


def test_a_number_registered_by_hand_fails_duplicate_and_retry_relinks_once_it_is_deleted(app_env, fake):
    """Issue #16: the merchant registers the same number by hand after the delete; the sweep ends the
    request `relink_failed` (duplicate, naming that order) instead of skipping it every 10 minutes."""
    gone, _ = deleted_api_order(fake)
    holder = registration.register_manual("demo", manual_body("shopify", gone["marketplace_order_no"]))
    requested(gone)
    clock.freeze(NOW + timedelta(minutes=10))
    result = relink.sweep()
    assert (result["failed"], result["skipped"]) == (1, 0)
    old = stored(gone["order_id"])
    assert old["closeout_state"] == "relink_failed"
    assert old["closeout_failure"]["reason"] == "duplicate"
    assert old["closeout_failure"]["active_order_id"] == holder["order_id"]
    assert relink.sweep()["due"] == 0  # ended: off the sweep's index
    [row] = [o for o in cancelled_orders.list_page("demo", {})["orders"] if o["order_id"] == gone["order_id"]]
    assert (row["state"], row["actions"]) == ("relink_failed", ["relink"])
    history = queries.get_order_with_history("demo", gone["order_id"])["history"]
    assert any(h["action"] == "relink_failed" for h in history)

    # the holder is deleted: a retry relinks, and the number's lookup moves to the relinked order
    lifecycle.apply("demo", holder["order_id"], lambda o, now: actions.delete(o, now), actor="merchant")
    requested(stored(gone["order_id"]))
    assert relink.sweep()["relinked"] == 1
    old = stored(gone["order_id"])
    assert old["closeout_state"] == "relinked"
    assert db.get_lookup("demo", "shopify", gone["marketplace_order_no"])["order_id"] == old["relinked_to"]
    assert stored(holder["order_id"])["status"] == "deleted"


def test_a_cancelled_holder_of_the_number_is_a_duplicate_too(app_env, fake):
    gone, _ = deleted_api_order(fake)
    holder = registration.register_manual("demo", manual_body("shopify", gone["marketplace_order_no"]))
    lifecycle.apply("demo", holder["order_id"], lambda o, now: actions.cancel(o, "", now), actor="merchant")
    requested(gone)
    assert relink.sweep()["failed"] == 1
    failure = stored(gone["order_id"])["closeout_failure"]
    assert (failure["reason"], failure["active_order_id"]) == ("duplicate", holder["order_id"])


def test_an_unexpected_error_is_retried_for_an_hour_then_ends_the_request(app_env, fake, monkeypatch):
    gone, _ = deleted_api_order(fake)
    requested(gone)

    def broken(*_a, **_k):
        raise RuntimeError("boom")

    real = relink.new_order
    monkeypatch.setattr(relink, "new_order", broken)
    clock.freeze(NOW + timedelta(minutes=50))
    assert relink.sweep()["errors"] == 1
    assert stored(gone["order_id"])["closeout_state"] == "relinking"  # the next sweep tries again
    clock.freeze(NOW + timedelta(minutes=60))
    result = relink.sweep()
    assert (result["failed"], result["errors"]) == (1, 0)
    old = stored(gone["order_id"])
    assert old["closeout_state"] == "relink_failed"
    assert old["closeout_failure"]["reason"] == "internal_error"
    assert old["closeout_failure"]["error"] == "RuntimeError"
    monkeypatch.setattr(relink, "new_order", real)
    assert requested(old)["closeout_state"] == "relinking"  # retry allowed
    assert relink.sweep()["relinked"] == 1
