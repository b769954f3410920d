"""The cost model's arithmetic (bench/cost.py): the floor, batching, and per-order quantities."""

from __future__ import annotations

import pytest

from bench import cost


def test_the_floor_is_one_send_one_invocation_and_one_transaction_of_the_order_alone():
    f = cost.floor(order_kb=2, seconds=0.1)
    assert (f.wru, f.sqs_requests, f.invocations, f.http_requests) == (4, 1, 1, 0)
    assert f.gb_seconds == pytest.approx(0.05)
    # $2.50 of writes + $0.40 SQS + $0.20 Lambda + duration, per million
    assert cost.per_million(f) == pytest.approx(2.50 + 0.40 + 0.20 + 0.05 * 0.0000133334 * 1e6)


def test_batched_consumers_cost_one_invocation_per_record_or_per_full_batch():
    assert cost.batched(100, 10, full=False) == 100
    assert cost.batched(100, 10, full=True) == 10


def test_per_order_counts_webhooks_actions_and_stream_records():
    counts = {
        "webhook: new order": 10,
        "webhook: update": 5,
        "merchant: confirm": 4,
        "warehouse: picking": 4,
        "hold sweep (per released order)": 3,
    }
    seconds = {"webhook: new order": 1.0, "merchant: confirm": 0.5, "hold sweep (per released order)": 9.0}
    p = cost.per_order(10, counts, rru=20, wru=300, order_writes=30, seconds=seconds, full_batches=False)
    assert (p.wru, p.rru, p.http_requests, p.events) == (30, 2, 2.3, 3)
    # receiver 15 + processor 15 + actions 8 + publisher 30, per order; sweeps are not per order
    assert p.invocations == pytest.approx(6.8)
    assert p.sqs_requests == pytest.approx((15 + 2 * 15) / 10)
    assert p.gb_seconds == pytest.approx(1.5 * 0.5 / 10)  # the sweep's time is not an API invocation's
    busy = cost.per_order(10, counts, rru=20, wru=300, order_writes=30, seconds=seconds, full_batches=True)
    assert busy.invocations == pytest.approx((15 + 1.5 + 8 + 0.3) / 10)
