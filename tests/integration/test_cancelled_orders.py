"""The cancelled-orders view against moto with the table of template.yaml: the sparse index,
filters, counts by reason, and restore (success, duplicate, the 14-day rule)."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest

from orderhub.closeout import cancelled_orders
from orderhub.domain import actions, closeout
from orderhub.domain.closeout import CloseoutRefused
from orderhub.domain.models import Envelope
from orderhub.kernel import clock
from orderhub.kernel.errors import ValidationFailed
from orderhub.merchants import profiles
from orderhub.orders import lifecycle, queries, registration
from orderhub.store import db, keys
from orderhub.webhooks import ingest
from tests.integration.test_registration import body
from tests.support.factories import T0, change

REASON_ZERO = dict.fromkeys(closeout.REASONS, 0)


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.freeze(T0)
    yield
    clock.freeze(None)


def manual(no: str) -> dict:
    return registration.register_manual("demo", body(no))


def api_order(no: str) -> dict:
    env = Envelope(
        merchant_id="demo", adapter="shopify", delivery_id=f"d-{no}", received_at=T0, change=change(no)
    )
    assert ingest.process(env.model_dump_json()) == "applied"
    return db.get_order("demo", db.get_lookup("demo", "shopify", no)["order_id"])


def delete(order_id: str) -> dict:
    return lifecycle.apply("demo", order_id, lambda o, now: actions.delete(o, now), actor="merchant")[0]


def cancel(order_id: str) -> dict:
    return lifecycle.apply("demo", order_id, lambda o, now: actions.cancel(o, "", now), actor="merchant")[0]


def listed(**qs) -> dict:
    return cancelled_orders.list_page("demo", {k: str(v) for k, v in qs.items()})


def ids(resp: dict) -> list[str]:
    return [o["order_id"] for o in resp["orders"]]


def test_list_shows_deleted_and_cancelled_with_reason_state_actions_and_counts(app_env):
    kept = manual("K-1")
    by_hand = manual("M-1")
    api = api_order("A-1")
    clock.freeze(T0 + timedelta(hours=1))
    delete(by_hand["order_id"])
    clock.freeze(T0 + timedelta(hours=2))
    delete(api["order_id"])
    clock.freeze(T0 + timedelta(hours=3))
    cancelled = cancel(manual("C-1")["order_id"])

    resp = listed()
    assert ids(resp) == [cancelled["order_id"], api["order_id"], by_hand["order_id"]]  # newest first
    assert kept["order_id"] not in ids(resp)
    rows = {o["order_id"]: o for o in resp["orders"]}
    assert (rows[by_hand["order_id"]]["reason"], rows[by_hand["order_id"]]["state"]) == (
        "seller_deleted_manual",
        "restorable",
    )
    assert rows[by_hand["order_id"]]["actions"] == ["restore"]
    assert rows[by_hand["order_id"]]["packing_no"] == by_hand["packing_no"]
    assert (rows[api["order_id"]]["reason"], rows[api["order_id"]]["state"]) == (
        "seller_deleted_api",
        "relinkable",
    )
    assert rows[api["order_id"]]["actions"] == ["relink"]
    assert (rows[cancelled["order_id"]]["reason"], rows[cancelled["order_id"]]["state"]) == (
        "seller_cancelled",
        "none",
    )
    assert rows[cancelled["order_id"]]["actions"] == []
    assert resp["counts"] == {
        **REASON_ZERO,
        "seller_deleted_api": 1,
        "seller_deleted_manual": 1,
        "seller_cancelled": 1,
    }
    # the tab counts are unchanged by the new counters
    assert queries.counts("demo")["all"] == 2 and queries.counts("demo")["cancelled"] == 1

    assert ids(listed(reason="seller_deleted_api")) == [api["order_id"]]
    assert ids(listed(state="restorable")) == [by_hand["order_id"]]
    assert ids(listed(state="none")) == [cancelled["order_id"]]
    assert ids(listed(marketplace="shopify")) == [api["order_id"]]
    window = {"from": clock.iso(T0 + timedelta(minutes=90)), "to": clock.iso(T0 + timedelta(minutes=150))}
    assert ids(listed(**window)) == [api["order_id"]]
    page1 = listed(page_size=25)
    assert page1["next_cursor"] is None and len(page1["orders"]) == 3

    clock.freeze(T0 + timedelta(days=14, minutes=90))  # the manual deletion is now over 14 days old
    assert ids(listed(state="not_restorable")) == [by_hand["order_id"]]
    assert ids(listed(state="restorable")) == []
    assert ids(listed(state="relinkable")) == [api["order_id"]]
    assert listed(state="not_restorable")["orders"][0]["actions"] == []


def test_counts_by_reason_follow_the_filters_and_deleted_orders_are_found_by_part_of_a_number_or_name(
    app_env,
):
    by_hand = manual("WEB-20261101-7")
    api = api_order("A-77")
    other = api_order("B-88")
    clock.freeze(T0 + timedelta(hours=1))
    delete(by_hand["order_id"])
    clock.freeze(T0 + timedelta(hours=2))
    delete(api["order_id"])
    clock.freeze(T0 + timedelta(hours=3))
    cancel(other["order_id"])

    everything = listed()
    assert (everything["counts_complete"], sum(everything["counts"].values())) == (True, 3)
    # a marketplace filter: the counts are those of shopify's orders only
    shopify = listed(marketplace="shopify")
    assert shopify["counts"] == {**REASON_ZERO, "seller_deleted_api": 1, "seller_cancelled": 1}
    # the reason filter narrows the list, not the counts: each count is what choosing it lists
    assert listed(marketplace="shopify", reason="seller_cancelled")["counts"] == shopify["counts"]
    window = {"from": clock.iso(T0 + timedelta(minutes=30)), "to": clock.iso(T0 + timedelta(minutes=90))}
    assert listed(**window)["counts"] == {**REASON_ZERO, "seller_deleted_manual": 1}

    # part of the order number, or of the recipient's name
    assert ids(listed(q="20261101")) == [by_hand["order_id"]]
    assert ids(listed(q="-77")) == [api["order_id"]]
    assert listed(q="-77")["counts"] == {**REASON_ZERO, "seller_deleted_api": 1}
    name = api["recipient"]["name"]
    assert set(ids(listed(q=name[:2]))) >= {api["order_id"], other["order_id"]}
    assert listed(q="-77")["orders"][0]["recipient_name"] == name
    assert ids(listed(q="nothing-like-it")) == []
    with pytest.raises(ValidationFailed) as err:
        listed(q=" ")
    assert err.value.field == "q"


def test_list_is_a_query_on_the_sparse_index_and_refuses_bad_filters(app_env, monkeypatch):
    delete(manual("M-1")["order_id"])
    calls = []
    from orderhub.kernel import aws

    table = aws.table(app_env["TABLE_NAME"])
    orig_query = table.query
    monkeypatch.setattr(type(table), "scan", lambda *a, **k: pytest.fail("a Scan"), raising=False)
    monkeypatch.setattr(table, "query", lambda **kw: calls.append(kw) or orig_query(**kw))
    monkeypatch.setattr(aws, "table", lambda name: table)
    assert len(listed()["orders"]) == 1
    assert calls[0]["IndexName"] == "by_closed_out"
    for bad in ({"reason": "nope"}, {"state": "gone"}, {"colour": "red"}, {"from": "x"}, {"page_size": "7"}):
        with pytest.raises(ValidationFailed):
            listed(**bad)


def test_deleted_before_service_start_is_not_restorable(app_env):
    o = manual("M-1")
    delete(o["order_id"])
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(app_env["TABLE_NAME"])
    table.update_item(
        Key=keys.profile_key("demo"),
        UpdateExpression="SET service_start = :s",
        ExpressionAttributeValues={":s": clock.iso(T0 + timedelta(minutes=1))},
    )
    profiles.clear_cache()
    assert listed()["orders"][0]["state"] == "not_restorable"
    assert ids(listed(state="not_restorable")) == [o["order_id"]]
    with pytest.raises(CloseoutRefused) as err:
        cancelled_orders.restore("demo", o["order_id"])
    assert err.value.to_body()["error"]["rule"] == "deleted_before_service_start"


def test_restore_brings_the_order_back_with_its_packing_number(app_env):
    o = manual("M-1")
    delete(o["order_id"])
    clock.freeze(T0 + timedelta(days=13))
    back = cancelled_orders.restore("demo", o["order_id"])
    assert (back["status"], back["shipment_stage"], back["packing_no"]) == ("new", "none", o["packing_no"])
    assert db.get_lookup("demo", "rakuten", "M-1")["order_id"] == o["order_id"]
    assert listed()["orders"] == [] and listed()["counts"] == REASON_ZERO
    assert queries.counts("demo")["all"] == 1 and queries.counts("demo")["new"] == 1
    assert ids(queries.list_orders("demo", {"status": "new"})) == [o["order_id"]]
    history = queries.get_order_with_history("demo", o["order_id"])["history"]
    assert (history[-1]["actor"], history[-1]["action"]) == ("merchant", "restored")
    with pytest.raises(CloseoutRefused) as err:  # not deleted any more
        cancelled_orders.restore("demo", o["order_id"])
    assert err.value.to_body()["error"]["rule"] == "restore_needs_deleted"


def test_duplicate_records_restore_failed_and_a_retry_succeeds_after_the_duplicate_is_deleted(app_env):
    old = manual("M-1")
    delete(old["order_id"])
    again = manual("M-1")  # the deleted number registered again: an active order has it
    with pytest.raises(CloseoutRefused) as err:
        cancelled_orders.restore("demo", old["order_id"])
    e = err.value.to_body()["error"]
    assert (err.value.status, e["rule"], e["state"], e["active_order_id"]) == (
        409,
        "duplicate",
        "restore_failed",
        again["order_id"],
    )
    row = listed()["orders"][0]
    assert (row["order_id"], row["state"], row["actions"]) == (old["order_id"], "restore_failed", ["restore"])
    assert row["failure"]["reason"] == "duplicate"
    assert ids(listed(state="restore_failed")) == [old["order_id"]]
    assert db.get_order("demo", old["order_id"])["status"] == "deleted"

    delete(again["order_id"])
    back = cancelled_orders.restore("demo", old["order_id"])
    assert back["status"] == "new" and back["packing_no"] == old["packing_no"]
    assert db.get_lookup("demo", "rakuten", "M-1")["order_id"] == old["order_id"]
    assert ids(listed()) == [again["order_id"]]
    assert listed()["counts"]["seller_deleted_manual"] == 1


def test_restore_refused_outside_14_days_and_for_api_orders(app_env):
    o = manual("M-1")
    delete(o["order_id"])
    api = api_order("A-1")
    delete(api["order_id"])
    clock.freeze(T0 + timedelta(days=14, seconds=1))
    with pytest.raises(CloseoutRefused) as err:
        cancelled_orders.restore("demo", o["order_id"])
    assert err.value.to_body()["error"]["rule"] == "deleted_over_14_days_ago"
    clock.freeze(T0)
    with pytest.raises(CloseoutRefused) as err:
        cancelled_orders.restore("demo", api["order_id"])
    assert err.value.to_body()["error"]["rule"] == "restore_needs_csv_or_manual"
    assert db.get_order("demo", o["order_id"])["status"] == "deleted"
