"""Faults (docs/reliability.md): the marketplace failing (errors and timeouts) during relink, refresh
and reflect; DynamoDB throttling and transaction conflicts; poison messages.

On moto in-process (`app_env`) with the fake marketplace failing on demand
(localcloud/fake_marketplace.py) and DynamoDB faults injected where DynamoDB would raise them:
moto's TransactWriteItems answers with DynamoDB's error (throttling, or a transaction cancelled
for a conflict) before writing anything, so botocore's own retry rules and orderhub's handling of
the error both run. Each test compares
table snapshots: the outcome is recorded (tag, failed relink, failed job row, an error raised to
the caller) and nothing is half-applied.

Poison messages: tests/e2e/test_ingestion_e2e.py::test_poison_message_reaches_the_dlq_while_its_siblings_apply
shows an undecodable ingest message ending in IngestDLQ after maxReceiveCount on the local cloud;
the redrive back (scripts/redrive.py, docs/operations.md) is tested in test_redrive.py.
"""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from localcloud.fake_marketplace import FakeMarketplace
from orderhub.closeout import relink
from orderhub.domain import actions
from orderhub.domain.models import Envelope
from orderhub.fulfillment import csvfile
from orderhub.jobs import runner
from orderhub.kernel import clock
from orderhub.kernel.errors import Unprocessable
from orderhub.marketplaces import client as mc
from orderhub.orders import lifecycle, queries, refresh, registration
from orderhub.schedules import sweeps
from orderhub.store import db, keys
from orderhub.sync import reflect
from orderhub.webhooks import ingest
from tests.integration.test_reflect_refresh import NOW, ingested, integrate, shopify_object
from tests.reliability import invariants
from tests.support.factories import change, manual_body
from tests.support.outbound import allowing
from tests.support.tables import describe, snapshot_diff

pytestmark = pytest.mark.slowest(23)

CLIENT_TIMEOUT = 0.2  # the marketplace client's timeout here (5 s in the product)
FAKE_DELAY = 0.5  # the fake's answer to a "timeout" comes after this
MODES = ("error", "timeout")
EXPECTED_KIND = {"error": "unavailable", "timeout": "timeout"}


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(mc, "sleep", lambda s: None)
    monkeypatch.setattr(mc, "TIMEOUT_SECONDS", CLIENT_TIMEOUT)
    with FakeMarketplace() as f, allowing(f.url):
        yield f


@pytest.fixture
def at_now(app_env):
    clock.freeze(NOW)
    yield


def snapshot() -> dict[tuple[str, str], dict]:
    return {(i["pk"]["S"], i["sk"]["S"]): i for i in invariants.scan_raw()}


def changes_since(before: dict) -> dict[str, list]:
    after = snapshot()
    diff = snapshot_diff(before, after)
    diff["text"] = describe(diff, after, before)
    return diff


def fail(fake: FakeMarketplace, mode: str, operation: str) -> None:
    fake.fail("shopify", mode, count=-1, operation=operation, status=503, delay=FAKE_DELAY)


def order_key(order: dict) -> tuple[str, str]:
    return (keys.order_pk(order["merchant_id"], order["order_id"]), keys.ORDER_SK)


def history_keys(diff: dict, order: dict) -> list[tuple[str, str]]:
    pk = keys.order_pk(order["merchant_id"], order["order_id"])
    return [k for k in diff["added"] if k[0] == pk and k[1].startswith("H#")]


def last_history(order: dict) -> dict:
    return queries.get_order_with_history(order["merchant_id"], order["order_id"])["history"][-1]


# ---------------------------------------------------------------- the marketplace failing
@pytest.mark.parametrize("mode", MODES)
def test_relink_sweep_records_a_marketplace_failure_and_creates_nothing(at_now, fake, mode):
    integrate(fake)
    obj = shopify_object()
    order = ingested(obj, fake=fake)
    gone, _ = lifecycle.apply(
        "demo", order["order_id"], lambda o, now: actions.delete(o, now), actor="merchant"
    )
    relink.request("demo", gone["order_id"])
    fail(fake, mode, "fetch")
    before = snapshot()

    result = relink.sweep(NOW + timedelta(minutes=10))

    assert (result["due"], result["failed"], result["relinked"], result["errors"]) == (1, 1, 0, 0)
    diff = changes_since(before)
    # Only the deleted order changed (relink_failed) and one history entry was added: no new
    # order, no lookup re-pointed, no packing number retired.
    assert diff["changed"] == [order_key(gone)], diff["text"]
    assert diff["added"] == history_keys(diff, gone) and len(diff["added"]) == 1, diff["text"]
    assert diff["removed"] == []
    failed = db.get_order("demo", gone["order_id"])
    assert (failed["status"], failed["closeout_state"]) == ("deleted", "relink_failed")
    assert failed["closeout_failure"]["reason"] == "marketplace_error"
    assert failed["closeout_failure"]["error"]["kind"] == EXPECTED_KIND[mode]
    assert last_history(gone)["action"] == "relink_failed"
    assert relink.sweep(NOW + timedelta(minutes=20))["due"] == 0  # out of the queue until asked again

    # The marketplace is back: the merchant asks again and the next sweep relinks.
    fake.reset()
    fake.put_order("shopify", obj)
    relink.request("demo", gone["order_id"])
    assert relink.sweep(NOW + timedelta(minutes=30))["relinked"] == 1
    invariants.check_all("demo")


@pytest.mark.parametrize("mode", MODES)
def test_refresh_of_one_order_fails_with_422_and_changes_nothing(at_now, fake, mode):
    integrate(fake)
    obj = shopify_object(updated_at="2026-01-05T10:15:32+09:00")
    order = ingested(obj, fake=fake)
    moved = dict(obj["shipping_address"], address1="大手町1-1-1")
    fake.update_order(
        "shopify",
        order["marketplace_order_no"],
        shipping_address=moved,
        updated_at="2026-01-05T12:00:00+09:00",
    )
    fail(fake, mode, "fetch")
    before = snapshot()

    with pytest.raises(Unprocessable) as err:
        refresh.refresh_order("demo", order["order_id"])

    body = err.value.to_body()["error"]
    assert (err.value.status, body["code"], body["kind"]) == (422, "marketplace_error", EXPECTED_KIND[mode])
    diff = changes_since(before)
    assert diff["added"] == diff["changed"] == diff["removed"] == [], diff["text"]
    fake.reset()
    fake.put_order("shopify", {**obj, "shipping_address": moved, "updated_at": "2026-01-05T12:00:00+09:00"})
    assert refresh.refresh_order("demo", order["order_id"])["recipient"]["address1"] == "大手町1-1-1"


@pytest.mark.parametrize("mode", MODES)
def test_refresh_job_fails_its_rows_and_changes_no_order(at_now, fake, mode):
    integrate(fake)
    placed = []
    for _ in range(2):
        obj = shopify_object(updated_at="2026-01-05T10:15:32+09:00")
        o = ingested(obj, fake=fake)
        fake.update_order(
            "shopify", o["marketplace_order_no"], note="changed", updated_at="2026-01-05T12:00:00+09:00"
        )
        placed.append(o)
    fail(fake, mode, "fetch")
    job = refresh.start_refresh_job("demo", {"marketplace": "shopify"})
    before = snapshot()

    runner.run(json.dumps({"merchant_id": "demo", "job_id": job["job_id"]}))

    done = runner.get("demo", job["job_id"])
    assert (done["state"], done["total"], done["succeeded"], done["failed"]) == ("done", 2, 0, 2)
    for row in done["results"]:
        assert row["ok"] is False and row["error"]["code"] == "marketplace_error", row
        assert row["error"]["kind"] == EXPECTED_KIND[mode], row
    diff = changes_since(before)
    touched = {k[0] for k in diff["added"] + diff["changed"] + diff["removed"]}
    assert touched == {f"M#demo#JOB#{job['job_id']}"}, diff["text"]  # only the job's own items


@pytest.mark.parametrize("mode", MODES)
def test_reflect_of_a_cancel_tags_the_order_and_the_cancel_stands(at_now, fake, mode):
    integrate(fake, reflect_cancel_to_marketplace=True)
    order = ingested(shopify_object(), fake=fake)
    cancelled, _ = lifecycle.apply(
        "demo", order["order_id"], lambda o, now: actions.cancel(o, "buyer asked", now), actor="merchant"
    )
    fail(fake, mode, "cancel")
    before = snapshot()

    latest = reflect.after_merchant_cancel(cancelled)

    assert latest["status"] == "cancelled" and latest["tags"] == [actions.REFLECT_TAG]
    assert fake.cancels("shopify") == []  # the marketplace accepted nothing
    diff = changes_since(before)
    assert diff["changed"] == [order_key(order)], diff["text"]  # the tag; counters unchanged
    assert len(history_keys(diff, order)) == 1 and len(diff["added"]) == 1, diff["text"]
    entry = last_history(order)
    assert entry["action"] == "reflect_failed" and entry["error"]["kind"] == EXPECTED_KIND[mode]
    assert entry["changes"] == {"tags": [[], [actions.REFLECT_TAG]]}
    tagged = queries.list_orders("demo", {"tag": actions.REFLECT_TAG})["orders"]
    assert [o["order_id"] for o in tagged] == [order["order_id"]]
    invariants.check_all("demo")


@pytest.mark.parametrize("mode", MODES)
def test_reflect_of_a_csv_fulfillment_tags_the_order_and_the_row_says_so(at_now, fake, mode):
    integrate(fake)
    order = ingested(shopify_object(), fake=fake)
    clock.freeze(NOW + timedelta(hours=2))
    sweeps.hold_sweep()  # the card hold ends: new
    assert db.get_order("demo", order["order_id"])["status"] == "new"
    fail(fake, mode, "fulfill")
    data = f"order_id,carrier,tracking_number\r\n{order['order_id']},yamato,4444-5555-6666\r\n".encode()
    job = csvfile.start("demo", data, "text/csv")

    runner.run(json.dumps({"merchant_id": "demo", "job_id": job["job_id"]}))

    done = runner.get("demo", job["job_id"])
    [row] = done["results"]
    assert (done["succeeded"], done["failed"]) == (1, 0)
    assert row["ok"] and row["status"] == "shipped" and row["tags"] == [actions.REFLECT_TAG], row
    assert fake.fulfillments("shopify") == []
    stored = db.get_order("demo", order["order_id"])
    assert stored["status"] == "shipped" and stored["tracking"]["tracking_number"] == "444455556666"
    assert stored["tags"] == [actions.REFLECT_TAG]
    entry = last_history(order)
    assert entry["action"] == "fulfillment_reflect_failed" and entry["error"]["kind"] == EXPECTED_KIND[mode]
    invariants.check_all("demo")


# ---------------------------------------------------------------- DynamoDB failing
class DynamoFaults:
    """DynamoDB answering TransactWriteItems with an error, decided inside moto's backend: the
    error goes back over moto's wire format, so botocore's retry rules and orderhub's handling of
    the error both run, and nothing of a refused call is written.

    `add(code, times, reason=..., match=...)`: the next `times` calls (-1: every call) whose items
    mention `match` fail with `code`. For TransactionCanceledException every item's cancellation
    reason is None except the order item's (or the first item's), which is `reason`."""

    def __init__(self):
        self.plan: list[dict] = []
        self.calls = 0
        self.injected = 0
        self.sleeps: list[float] = []  # botocore's pauses before its retries

    def add(self, code: str, times: int = 1, *, reason: str = "TransactionConflict", match: str = "") -> None:
        self.plan.append({"code": code, "times": times, "reason": reason, "match": match})

    def clear(self) -> None:
        self.plan.clear()

    def check(self, transact_items: list[dict]) -> Exception | None:
        from moto.dynamodb.exceptions import DynamodbException, TransactionCanceledException

        self.calls += 1
        text = json.dumps(transact_items, default=str)
        for fault in self.plan:
            if fault["times"] == 0 or fault["match"] not in text:
                continue
            if fault["times"] > 0:
                fault["times"] -= 1
            self.injected += 1
            if fault["code"] != "TransactionCanceledException":
                return DynamodbException(f"com.amazonaws.dynamodb.v20120810#{fault['code']}", "injected")
            ops = [json.dumps(op, default=str) for op in transact_items]
            at = next((i for i, op in enumerate(ops) if '"#ORDER"' in op), 0)
            return TransactionCanceledException(
                [
                    (fault["reason"], "injected", None) if i == at else (None, None, None)
                    for i in range(len(ops))
                ]
            )
        return None


@pytest.fixture
def ddb_faults(app_env, monkeypatch):
    from moto.dynamodb.models import DynamoDBBackend

    faults = DynamoFaults()
    real = DynamoDBBackend.transact_write_items

    def transact_write_items(backend, transact_items, *args, **kwargs):
        error = faults.check(transact_items)
        if error is not None:
            raise error
        return real(backend, transact_items, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", transact_write_items)
    # botocore sleeps between its retries (endpoint.py: time.sleep); record the pauses instead
    monkeypatch.setattr("botocore.endpoint.time", SimpleNamespace(sleep=faults.sleeps.append))
    return faults


def manual_order(no: str) -> dict:
    body = manual_body("faultmart", no, sku="F-1", item_code="ITEM-F-1", price="1000")
    return registration.register_manual("demo", body)


def confirm(order: dict) -> dict:
    new, _ = lifecycle.apply(
        "demo", order["order_id"], lambda o, now: actions.confirm(o, now), actor="merchant"
    )
    return new


def actions_of(order: dict) -> list[str]:
    return [h["action"] for h in queries.get_order_with_history("demo", order["order_id"])["history"]]


def test_a_transaction_conflict_on_a_merchant_action_is_retried_once_applied(at_now, ddb_faults):
    order = manual_order("TC-1")
    ddb_faults.add("TransactionCanceledException", times=2, reason="TransactionConflict")
    calls_before = ddb_faults.calls

    new = confirm(order)

    assert ddb_faults.calls - calls_before == 3 and ddb_faults.injected == 2  # two conflicts, then written
    assert new["status"] == "processing" and new["version"] == 1
    assert actions_of(order) == ["registered", "confirmed"]
    invariants.check_all("demo")


def test_a_transaction_conflict_on_a_webhook_is_retried_once_applied(at_now, ddb_faults):
    env = Envelope(
        merchant_id="demo",
        adapter="generic",
        delivery_id="tc-webhook-1",
        received_at=NOW,
        change=change("TC-W-1", marketplace="faultmart", placed_at=NOW),
    )
    ddb_faults.add("TransactionCanceledException", times=1, reason="TransactionConflict")

    assert ingest.process(env.model_dump_json()) == "applied"

    assert ddb_faults.injected == 1
    [order] = queries.list_orders("demo", {"q": "TC-W-1"})["orders"]
    assert actions_of(order) == ["created"]
    assert queries.get_delivery("demo", "generic", "tc-webhook-1")["duplicates"] == 0
    invariants.check_all("demo")


def test_throttling_is_retried_by_the_client_and_applied_once(at_now, ddb_faults):
    order = manual_order("TH-1")
    ddb_faults.add("ProvisionedThroughputExceededException", times=2)
    calls_before = ddb_faults.calls

    new = confirm(order)

    assert ddb_faults.calls - calls_before == 3  # botocore retried the throttled call twice
    assert len(ddb_faults.sleeps) == 2 and all(s > 0 for s in ddb_faults.sleeps)  # with a backoff
    assert new["status"] == "processing" and actions_of(order) == ["registered", "confirmed"]
    invariants.check_all("demo")


def test_throttling_that_lasts_is_reported_and_nothing_is_written(at_now, ddb_faults):
    """Every attempt throttled: botocore gives up after its retries and the error reaches the caller
    (the merchant API answers 500 internal_error; a queued message is retried by SQS)."""
    order = manual_order("TH-2")
    ddb_faults.add("ProvisionedThroughputExceededException", times=-1)
    before = snapshot()

    with pytest.raises(ClientError) as err:
        confirm(order)

    assert err.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    print(f"\nthrottled: botocore made {ddb_faults.injected} attempts before reporting the error")
    diff = changes_since(before)
    assert diff["added"] == diff["changed"] == diff["removed"] == [], diff["text"]
    ddb_faults.clear()
    assert confirm(order)["status"] == "processing"


def test_a_throttled_transaction_fails_the_delivery_and_its_redelivery_applies_once(at_now, ddb_faults):
    """DynamoDB cancels a transaction whose item was throttled (reason ThrottlingError). The processor
    raises, so the message returns to the queue; nothing was written. The redelivery applies it
    once, and a third delivery of the same message is a duplicate."""
    env = Envelope(
        merchant_id="demo",
        adapter="generic",
        delivery_id="th-webhook-1",
        received_at=NOW,
        change=change("TH-W-1", marketplace="faultmart", placed_at=NOW),
    )
    body = env.model_dump_json()
    ddb_faults.add("TransactionCanceledException", times=1, reason="ThrottlingError")
    before = snapshot()

    with pytest.raises(ClientError) as err:
        ingest.process(body)

    assert err.value.response["Error"]["Code"] == "TransactionCanceledException"
    diff = changes_since(before)
    assert diff["added"] == diff["changed"] == diff["removed"] == [], diff["text"]
    assert ingest.process(body) == "applied"
    assert ingest.process(body) == "duplicate"
    [order] = queries.list_orders("demo", {"q": "TH-W-1"})["orders"]
    assert actions_of(order) == ["created"]
    assert queries.get_delivery("demo", "generic", "th-webhook-1")["duplicates"] == 1
    invariants.check_all("demo")


def pending_webhook_orders(n: int) -> list[dict]:
    """n card orders placed at NOW - 2 h + i minutes (hold of 60 minutes: due by NOW)."""
    made = []
    for i in range(n):
        placed = NOW - timedelta(hours=2) + timedelta(minutes=i)
        clock.freeze(placed)
        env = Envelope(
            merchant_id="demo",
            adapter="generic",
            delivery_id=f"hold-{i}",
            received_at=placed,
            change=change(f"HOLD-{i}", marketplace="faultmart", placed_at=placed),
        )
        assert ingest.process(env.model_dump_json()) == "applied"
        [o] = queries.list_orders("demo", {"q": f"HOLD-{i}"})["orders"]
        assert o["status"] == "pending"
        made.append(o)
    clock.freeze(NOW)
    return made


def test_deadline_check_and_relink_sweep_go_on_past_a_failing_order(at_now, ddb_faults, fake):
    """One order whose write keeps failing is counted as an error and left as it was (still due);
    the others are processed."""
    integrate(fake)
    released = pending_webhook_orders(3)
    sweeps.hold_sweep(NOW)
    late = NOW + timedelta(days=10)
    stuck = released[1]["order_id"]
    ddb_faults.add("ProvisionedThroughputExceededException", times=-1, match=stuck)
    # faultmart does not refund by itself (auto_refund_overdue off): the check flags them overdue
    result = sweeps.deadline_check(late)
    assert (result["due"], result["overdue"], result["errors"]) == (3, 2, 1), result
    assert db.get_order("demo", stuck)["status"] == "new" and not db.get_order("demo", stuck).get(
        "overdue_at"
    )
    ddb_faults.clear()
    assert sweeps.deadline_check(late)["overdue"] == 1

    gone = []
    for _ in range(2):
        o = ingested(shopify_object(), fake=fake)
        deleted, _ = lifecycle.apply(
            "demo", o["order_id"], lambda o, now: actions.delete(o, now), actor="merchant"
        )
        relink.request("demo", deleted["order_id"])
        gone.append(deleted)
    ddb_faults.add("ProvisionedThroughputExceededException", times=-1, match=gone[0]["order_id"])
    result = relink.sweep(NOW + timedelta(minutes=10))
    assert (result["due"], result["relinked"], result["errors"]) == (2, 1, 1), result
    assert db.get_order("demo", gone[0]["order_id"])["closeout_state"] == "relinking"  # for the next run
    ddb_faults.clear()
    assert relink.sweep(NOW + timedelta(minutes=20))["relinked"] == 1
    invariants.check_all("demo")


def test_hold_sweep_keeps_going_past_a_failing_order(at_now, ddb_faults):
    made = pending_webhook_orders(3)
    stuck = made[0]["order_id"]  # the oldest: first in the due index
    ddb_faults.add("ProvisionedThroughputExceededException", times=-1, match=stuck)
    before = snapshot()
    try:
        result = sweeps.hold_sweep(NOW)
    finally:
        diff = changes_since(before)
        # Whatever happens, nothing is half-applied: the stuck order is untouched.
        assert order_key(made[0]) not in diff["changed"], diff["text"]
    assert result["released"] == 2, result
    assert [db.get_order("demo", o["order_id"])["status"] for o in made] == ["pending", "new", "new"]
