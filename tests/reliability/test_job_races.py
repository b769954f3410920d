"""Races (docs/reliability.md), second part: background jobs and sweeps that run twice at once. On
moto in-process with DynamoDB requests served one at a time (`app_env` in conftest.py); each
side is a thread running what a Lambda instance runs (orderhub.jobs.runner.run for a queued job,
orderhub.closeout.relink.sweep for the schedule). Exactly one side wins each order, the loser's row or
order is refused or skipped, and the whole table satisfies tests/reliability/invariants.py."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import timedelta

import pytest

from localcloud.fake_marketplace import FakeMarketplace
from orderhub.closeout import relink
from orderhub.domain import actions
from orderhub.fulfillment import csvfile, shipping
from orderhub.jobs import runner
from orderhub.kernel import clock
from orderhub.marketplaces import client as mc
from orderhub.orders import csv_import, lifecycle, registration
from orderhub.store import db, keys
from tests.reliability import invariants
from tests.support.factories import T0, manual_body
from tests.support.outbound import allowing

ROUNDS = 3
ORDERS_PER_ROUND = 6


def together(*calls):
    """Run the calls in threads released at once; return their results (exceptions re-raised)."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list = []

    def run(i, fn):
        barrier.wait()
        try:
            results[i] = fn()
        except Exception as exc:  # re-raised below with the others
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def run_job(job: dict) -> dict:
    """What the job worker does with the job's queue message."""
    runner.run(json.dumps({"merchant_id": job["merchant_id"], "job_id": job["job_id"]}))
    return job


def results_by(job: dict, key: str) -> dict[str, dict]:
    done = runner.get(job["merchant_id"], job["job_id"])
    assert done["state"] == "done", done
    return {r[key]: r for r in done["results"]}


def manual_order(no: str) -> dict:
    body = manual_body("racemart", no, sku="RACE-1", item_code="ITEM-RACE-1", price="1000")
    return registration.register_manual("demo", body)


def fulfillment_file(rows: list[tuple[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["order_id", "carrier", "tracking_number"])
    for order_id, number in rows:
        writer.writerow([order_id, "yamato", number])
    return out.getvalue().encode()


# ---------------------------------------------------------------- two fulfillment CSV jobs
def test_two_fulfillment_jobs_on_the_same_orders_one_tracking_each(app_env):
    """Two uploads (POST /fulfillment-jobs) name the same orders with different tracking numbers
    (the second file lists them in reverse, so the jobs meet in the middle); the two jobs run at
    once. For every order exactly one row succeeds, the other row fails with the 409 rule
    `already_fulfilled`; the order has one tracking (the winner's), one `fulfilled` history entry,
    and only the winner's number is in the tracking index."""
    clock.freeze(T0)
    wins = {"first": 0, "second": 0}
    for r in range(ROUNDS):
        placed = [manual_order(f"CSV-FUL-{r}-{i}") for i in range(ORDERS_PER_ROUND)]
        ids = [o["order_id"] for o in placed]
        numbers_a = {oid: f"4444-{r:04d}-{1000 + i:04d}" for i, oid in enumerate(ids)}
        numbers_b = {oid: f"5555-{r:04d}-{2000 + i:04d}" for i, oid in enumerate(ids)}
        job_a = csvfile.start("demo", fulfillment_file([(o, numbers_a[o]) for o in ids]), "text/csv")
        job_b = csvfile.start(
            "demo", fulfillment_file([(o, numbers_b[o]) for o in reversed(ids)]), "text/csv"
        )
        together(lambda a=job_a: run_job(a), lambda b=job_b: run_job(b))
        rows_a, rows_b = results_by(job_a, "order_id"), results_by(job_b, "order_id")
        for oid in ids:
            a, b = rows_a[oid], rows_b[oid]
            assert sorted([a["ok"], b["ok"]]) == [False, True], (a, b)
            winner, loser = (a, b) if a["ok"] else (b, a)
            wins["first" if a["ok"] else "second"] += 1
            assert loser["error"]["code"] == "rule_refused", loser
            assert loser["error"]["rule"] == "already_fulfilled", loser
            order = db.get_order("demo", oid)
            assert order["status"] == "shipped" and order["version"] == 1
            assert order["tracking"]["tracking_number"] == winner["tracking_number"]
            lost_number = (numbers_b if a["ok"] else numbers_a)[oid].replace("-", "")
            assert shipping.tracking_users("demo", lost_number)["orders"] == []
            users = shipping.tracking_users("demo", winner["tracking_number"])["orders"]
            assert [u["order_id"] for u in users] == [oid]
            steps = invariants.status_steps("demo", order)
            assert [s[2] for s in steps] == ["registered", "fulfilled"], steps
    total = ROUNDS * ORDERS_PER_ROUND
    print(f"\ntwo fulfillment jobs over {total} orders: rows won by job {wins}")
    assert invariants.check_counts("demo")["shipped"] == total
    invariants.check_all("demo")


# ---------------------------------------------------------------- two import CSV jobs
IMPORT_HEADER = [
    "marketplace",
    "marketplace_order_no",
    "payment_method",
    "sku",
    "quantity",
    "price",
    "recipient_name",
    "address1",
    "city",
    "postal_code",
    "country",
]


def import_file(numbers: list[str], buyer: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(IMPORT_HEADER)
    for no in numbers:
        writer.writerow(
            ["base", no, "card", "SKU-1", "1", "1200", buyer, "神南1-2-3", "渋谷区", "150-0041", "JP"]
        )
    return out.getvalue().encode()


def test_two_import_jobs_registering_one_number_make_one_order(app_env):
    """Two CSV imports (POST /orders/import) register the same marketplace order numbers at once.
    Each number ends as exactly one order; one job's row registered it, the other's failed with
    `duplicate_order_no` naming that order."""
    clock.freeze(T0)
    wins = {"first": 0, "second": 0}
    for r in range(ROUNDS):
        numbers = [f"IMP-{r}-{i}" for i in range(ORDERS_PER_ROUND)]
        job_a = csv_import.start_import("demo", import_file(numbers, "Buyer A"), "text/csv")
        job_b = csv_import.start_import("demo", import_file(numbers[::-1], "Buyer B"), "text/csv")
        together(lambda a=job_a: run_job(a), lambda b=job_b: run_job(b))
        rows_a, rows_b = results_by(job_a, "marketplace_order_no"), results_by(job_b, "marketplace_order_no")
        for no in numbers:
            a, b = rows_a[no], rows_b[no]
            assert sorted([a["ok"], b["ok"]]) == [False, True], (a, b)
            winner, loser = (a, b) if a["ok"] else (b, a)
            wins["first" if a["ok"] else "second"] += 1
            assert loser["error"]["rule"] == "duplicate_order_no", loser
            assert loser["order_id"] == winner["order_id"], (winner, loser)
            lookup = db.get_lookup("demo", "base", no)
            assert lookup["order_id"] == winner["order_id"]
            order = db.get_order("demo", winner["order_id"])
            assert order["recipient"]["name"] == ("Buyer A" if a["ok"] else "Buyer B")
            assert order["import_job_id"] == (job_a if a["ok"] else job_b)["job_id"]
    total = ROUNDS * ORDERS_PER_ROUND
    print(f"\ntwo import jobs over {total} numbers: rows won by job {wins}")
    found = invariants.check_all("demo")
    assert len(found) == total and invariants.check_counts("demo")["new"] == total


# ---------------------------------------------------------------- two relink sweeps
@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(mc, "sleep", lambda s: None)
    with FakeMarketplace() as f, allowing(f.url):
        yield f


def test_concurrent_relink_sweeps_relink_each_order_once(app_env, fake):
    """Extends tests/integration/test_relink.py::test_two_sweeps_at_once_relink_once (one order,
    two sweeps) to several orders and three sweeps started together, repeated: each requested
    order is relinked exactly once (one new order, one new packing number, the old one retired and
    pointing to it), the sweeps' results add up (relinked + skipped = due), and the table holds."""
    from tests.integration.test_reflect_refresh import NOW, ingested, integrate, shopify_object

    clock.freeze(NOW)
    integrate(fake)
    totals = {"relinked": 0, "skipped": 0, "failed": 0, "errors": 0}
    for r in range(ROUNDS):
        gone = []
        for _ in range(ORDERS_PER_ROUND):
            order = ingested(shopify_object(), fake=fake)
            deleted, _ = lifecycle.apply(
                "demo", order["order_id"], lambda o, now: actions.delete(o, now), actor="merchant"
            )
            relink.request("demo", deleted["order_id"])
            gone.append(deleted)
        clock.freeze(NOW + timedelta(minutes=10 * (r + 1)))
        results = together(relink.sweep, relink.sweep, relink.sweep)
        for res in results:
            assert res["failed"] == 0 and res["errors"] == 0, results
            assert res["relinked"] + res["skipped"] == res["due"], results
            for k in totals:
                totals[k] += res[k]
        assert sum(res["relinked"] for res in results) == ORDERS_PER_ROUND, results
        for old in gone:
            now_old = db.get_order("demo", old["order_id"])
            assert now_old["status"] == "deleted" and now_old["closeout_state"] == "relinked"
            new = db.get_order("demo", now_old["relinked_to"])
            assert new["relinked_from"] == old["order_id"] and new["packing_no"] != old["packing_no"]
            lookup = db.get_lookup("demo", "shopify", old["marketplace_order_no"])
            assert lookup["order_id"] == new["order_id"]
            packing = db._table().get_item(Key=keys.packing_key(old["packing_no"]))["Item"]
            assert packing["retired"] is True and packing["replaced_by"] == new["packing_no"]
        assert relink.sweep()["due"] == 0
    found = invariants.check_all("demo")
    copies = [o for o in found if o.get("relinked_from")]
    assert len(copies) == ROUNDS * ORDERS_PER_ROUND
    assert len({o["relinked_from"] for o in copies}) == len(copies)
    print(f"\nthree relink sweeps at once over {ROUNDS} rounds of {ORDERS_PER_ROUND} orders: {totals}")
