"""The merchant's counters on moto with the table of template.yaml (store/counters.py;
docs/data-model.md, "Counters"): each order transaction puts a delta in the order's shard, folds
move deltas into the shard's base, reads sum the legacy item, the bases and the deltas, and the
counts stay what the orders say whatever the interleaving of writers, folds and reads."""

from __future__ import annotations

import threading

import pytest

from orderhub.domain.models import Envelope
from orderhub.kernel import aws, clock
from orderhub.kernel.config import settings
from orderhub.orders import queries
from orderhub.schedules import sweeps
from orderhub.store import counters, keys
from orderhub.webhooks import ingest
from tests.support import counters as support
from tests.support.factories import T0, change, later

pytestmark = pytest.mark.slowest(20)


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.freeze(later(1))
    yield
    clock.freeze(None)


def deliver(
    order_no: str, topic: str, delivery_id: str, minutes: int, merchant: str = "demo", method: str = "konbini"
) -> str:
    ch = change(
        order_no, topic, method=method, paid=topic == "paid" or method == "card", updated_at=later(minutes)
    )
    env = Envelope(
        merchant_id=merchant, adapter="shopify", delivery_id=delivery_id, received_at=T0, change=ch
    )
    return ingest.process(env.model_dump_json())


def test_counts_after_creates_changes_and_cancels_equal_a_recount(app_env):
    for i in range(6):
        assert deliver(f"A{i}", "created", f"c{i}", 0) == "applied"
    deliver("A1", "paid", "p1", 2)
    deliver("A2", "paid", "p2", 2)
    deliver("A3", "cancelled", "x3", 3)
    deliver("A2", "cancelled", "x2", 4)
    expected = support.recount("demo")
    assert expected["all"] == 6 and expected["cancelled"] == 2
    assert support.nonzero(counters.read("demo")) == expected
    assert queries.counts("demo")["cancelled"] == 2
    # one delta per transaction that moved a counter, each in its order's shard
    deltas = support.deltas("demo")
    assert len(deltas) == 10
    for d in deltas:
        order_id = d["order_id"]
        assert d["pk"] == keys.counter_shard_pk("demo", keys.shard_of(order_id, keys.COUNTER_SHARDS))
    assert counters.read("demo2") == {}


def test_a_fold_leaves_the_counts_as_they_were_and_removes_the_deltas(app_env):
    for i in range(12):
        deliver(f"B{i}", "created", f"c{i}", 0)
    deliver("B4", "cancelled", "x4", 3)
    before = counters.read("demo")
    assert support.fold_all("demo") == 13
    assert support.deltas("demo") == []
    assert counters.read("demo") == before
    assert (
        support.nonzero(before)
        == support.recount("demo")
        == {
            "all": 12,
            "pending": 11,
            "cancelled": 1,
            "reason:marketplace_cancelled": 1,
        }
    )
    bases = [i for i in support.shard_items("demo") if i["sk"] == keys.COUNTER_BASE_SK]
    assert sum(int(b["folds"]) for b in bases) == len(bases)  # one fold transaction per shard here
    assert support.fold_all("demo") == 0  # nothing left: nothing written
    deliver("B5", "cancelled", "x5", 4)  # later deltas land next to the bases
    assert support.nonzero(counters.read("demo")) == support.recount("demo")


def test_a_fold_racing_another_fold_never_counts_a_delta_twice(app_env, monkeypatch):
    """Fold A reads a shard's deltas; fold B folds them all before A's transaction: A's deletes
    find nothing, so nothing of A is written (its base add included), and A reads on."""
    for i in range(20):
        deliver(f"C{i}", "created", f"c{i}", 0)
    expected = support.recount("demo")
    real = counters.fold_transaction
    raced = []

    def racing(shard_pk, deltas):
        if not raced:
            raced.append("B")
            raced[0] = counters.fold(shard_pk)  # B, nested inside A, takes them all
        return real(shard_pk, deltas)

    monkeypatch.setattr(counters, "fold_transaction", racing)
    shard_pk = support.deltas("demo")[0]["pk"]
    in_shard = len([d for d in support.deltas("demo") if d["pk"] == shard_pk])
    assert counters.fold(shard_pk) == 0  # A lost the race, read again, found nothing
    assert raced == [in_shard]
    assert support.nonzero(counters.read("demo")) == expected
    # the same with deltas already deleted by the time A reads them: A folds only what is there
    monkeypatch.setattr(counters, "fold_transaction", real)
    assert support.fold_all("demo") == 20 - in_shard
    assert support.nonzero(counters.read("demo")) == expected


def test_the_counters_item_written_by_the_code_before_the_shards_stays_counted(app_env):
    """A table written by the previous code: every counter in MERCHANT#<m>/#COUNTS, no shard."""
    for i in range(5):
        deliver(f"D{i}", "created", f"c{i}", 0)
    deliver("D0", "cancelled", "x0", 3)
    legacy = support.as_written_before_shards("demo")
    table = aws.table(settings().table_name)
    stored = table.get_item(Key=keys.counts_key("demo"))["Item"]
    assert (int(stored["all"]), int(stored["pending"]), int(stored["cancelled"])) == (5, 4, 1)
    assert support.shard_items("demo") == []
    assert support.nonzero(counters.read("demo")) == support.recount("demo") == support.nonzero(legacy)
    # the new code moves the same counters by deltas, the legacy item is never written again
    deliver("D1", "paid", "p1", 4)
    deliver("D9", "created", "c9", 5)
    deliver("D2", "cancelled", "x2", 6)
    assert support.nonzero(counters.read("demo")) == support.recount("demo")
    support.fold_all("demo")
    assert support.nonzero(counters.read("demo")) == support.recount("demo")
    assert table.get_item(Key=keys.counts_key("demo"))["Item"] == stored
    assert queries.counts("demo")["pending"] == 4 - 2 + 1


def test_a_fold_committing_during_a_read_is_seen_and_the_answer_stays_exact(app_env, monkeypatch):
    """The fold commits after the Query read a shard's base and before it read its deltas (the
    Query answers the old base and no delta): the bases' `folds`, read again, show it."""
    for i in range(10):
        deliver(f"E{i}", "created", f"c{i}", 0)
    expected = support.recount("demo")
    real = counters.run_queries
    calls = []

    def interleaved(queries_):
        answers = real(queries_)
        if not calls:
            support.fold_all("demo")  # commits between the base's read and the deltas' read
            after = real(queries_)
            answers = [
                {"Items": [i for i in old["Items"] if i["sk"] == keys.COUNTER_BASE_SK] + new["Items"][1:]}
                for old, new in zip(answers, after, strict=True)
            ]  # the base before the fold (none yet), the deltas after it (none left)
            assert all(a["Items"] == [] for a in answers)  # this answer alone would count nothing
        calls.append(len(queries_))
        return answers

    monkeypatch.setattr(counters, "run_queries", interleaved)
    assert support.nonzero(counters.read("demo")) == expected
    assert calls[0] == keys.COUNTER_SHARDS and len(calls) == 2  # the folded shards read again


def test_a_shard_with_more_than_a_page_of_deltas_is_read_whole(app_env, monkeypatch):
    for i in range(7):
        deliver(f"F{i}", "created", f"c{i}", 0)
    real = counters.run_queries
    monkeypatch.setattr(counters, "run_queries", lambda qs: real([{**q, "Limit": 1} for q in qs]))
    assert support.nonzero(counters.read("demo")) == support.recount("demo") == {"all": 7, "pending": 7}


WRITERS, ORDERS_EACH = 8, 25


def test_counters_stay_exact_under_concurrent_writers_and_folds(app_env):
    """8 threads each create 25 orders of one merchant by webhook and change each (paid, or
    cancelled), while another thread folds every shard again and again; then the counters are
    what the orders say, before and after a last fold."""
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(w: int) -> None:
        try:
            for i in range(ORDERS_EACH):
                no = f"W{w}-{i}"
                assert deliver(no, "created", f"c-{no}", 0) == "applied"
                topic = "cancelled" if i % 3 == 0 else "paid"
                assert deliver(no, topic, f"u-{no}", 2) == "applied"
                if i % 5 == 0:
                    assert deliver(no, "cancelled", f"x-{no}", 3).startswith(("applied", "ignored"))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    folds = []

    def folder() -> None:
        try:
            while not done.is_set():
                folds.append(support.fold_all("demo"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    fold_thread = threading.Thread(target=folder)
    fold_thread.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    fold_thread.join()
    assert not errors, errors
    expected = support.recount("demo")
    assert expected["all"] == WRITERS * ORDERS_EACH
    assert sum(folds) > 0  # the folds ran among the writers
    assert support.nonzero(counters.read("demo")) == expected
    support.fold_all("demo")
    assert support.deltas("demo") == []
    assert support.nonzero(counters.read("demo")) == expected
    # the orders were spread over every shard
    assert {i["pk"] for i in support.shard_items("demo")} == set(keys.counter_shard_pks("demo"))


def test_hold_sweep_and_webhooks_keep_the_counts_of_two_merchants_apart(app_env):
    deliver("G1", "created", "g1", 0, merchant="demo", method="card")
    deliver("G1", "created", "g1", 0, merchant="demo2", method="card")
    deliver("G2", "created", "g2", 0, merchant="demo", method="card")
    assert sweeps.hold_sweep(later(61))["released"] == 3
    assert counters.read("demo")["new"] == 2
    assert support.nonzero(counters.read("demo")) == support.recount("demo")
    assert support.nonzero(counters.read("demo2")) == support.recount("demo2")
    assert (counters.read("demo")["all"], counters.read("demo2")["all"]) == (2, 1)
