"""A stream batch's order events in PutEvents requests (orderhub.events.publish.requests,
orderhub.events.stream.publish_batch), with a stand-in for PutEvents: no AWS."""

from __future__ import annotations

import copy
import json

import pytest

from orderhub.events import publish, stream
from orderhub.kernel import caches
from tests.support.http import ROOT

MODIFY = json.loads((ROOT / "events/lambda/stream_order_modify.json").read_text())["Records"][0]
INSERT = json.loads((ROOT / "events/lambda/stream_order_insert.json").read_text())["Records"][0]


def entry(detail_bytes: int) -> dict:
    return {"Source": "orderhub.orders", "DetailType": "OrderUpdated", "Detail": "x" * detail_bytes}


def test_requests_hold_ten_entries_or_256_kib_in_stream_order():
    tagged = [(i, entry(100)) for i in range(23)]
    grouped = publish.requests(tagged)
    assert [len(r) for r in grouped] == [10, 10, 3]
    assert [i for r in grouped for i, _ in r] == list(range(23))
    big = publish.REQUEST_BYTES // 2
    grouped = publish.requests([(0, entry(big)), (1, entry(big)), (2, entry(10))])
    assert [[i for i, _ in r] for r in grouped] == [[0], [1, 2]]  # two halves and their envelopes don't fit
    alone = publish.requests([(0, entry(10)), (1, entry(publish.REQUEST_BYTES + 1)), (2, entry(10))])
    assert [[i for i, _ in r] for r in alone] == [[0], [1], [2]]


def test_an_entry_is_measured_as_eventbridge_measures_it():
    detail = '{"k":"緑"}'
    e = {"Source": "ab", "DetailType": "cd", "Detail": detail, "Time": "2026-01-01", "Resources": ["r1"]}
    assert publish.entry_bytes(e) == 14 + 2 + 2 + len(detail.encode()) + 2


def record(base: dict, seq: int) -> dict:
    r = copy.deepcopy(base)
    r["dynamodb"]["SequenceNumber"] = str(seq)
    return r


@pytest.fixture
def bus(monkeypatch):
    monkeypatch.setenv("EVENT_BUS_NAME", "orders-bus")
    monkeypatch.setenv("TABLE_NAME", "orders")
    caches.reset()
    yield
    caches.reset()


class Put:
    """PutEvents: records each request; fails the entries whose index is in `refuse`."""

    def __init__(self, refuse=(), raise_on=None):
        self.requests, self.refuse, self.raise_on, self.n = [], set(refuse), raise_on, 0

    def __call__(self, Entries):  # noqa: N803 boto3's parameter name
        if self.raise_on is not None and len(self.requests) == self.raise_on:
            raise RuntimeError("throttled")
        self.requests.append(Entries)
        results = []
        for _ in Entries:
            refused = self.n in self.refuse
            results.append({"ErrorCode": "InternalFailure"} if refused else {"EventId": str(self.n)})
            self.n += 1
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


def test_a_batch_of_25_order_changes_is_three_requests(bus):
    put = Put()
    batch = {"Records": [record(INSERT if i % 2 else MODIFY, i) for i in range(25)]}
    assert stream.publish_batch(batch, put) == {"batchItemFailures": []}
    sent = [e for r in put.requests for e in r]
    assert len(put.requests) == 3 and len(sent) >= 25
    assert {e["EventBusName"] for e in sent} == {"orders-bus"}


def test_the_first_refused_entry_s_record_is_where_the_shard_resumes(bus):
    put = Put(refuse={12})
    batch = {"Records": [record(INSERT, 100 + i) for i in range(25)]}  # one OrderCreated each
    answer = stream.publish_batch(batch, put)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "112"}]}
    assert len(put.requests) == 2  # nothing after the failed request is sent


def test_a_request_that_raises_fails_from_its_first_record(bus):
    put = Put(raise_on=1)
    batch = {"Records": [record(INSERT, 200 + i) for i in range(15)]}
    assert stream.publish_batch(batch, put) == {"batchItemFailures": [{"itemIdentifier": "210"}]}


def test_an_unreadable_record_is_retried_after_what_came_before_it_is_put(bus):
    put = Put()
    broken = record(INSERT, 302)
    broken["dynamodb"]["NewImage"] = {"pk": {"S": "x"}, "sk": {"S": "#ORDER"}, "items": {"L": "not a list"}}
    batch = {"Records": [record(INSERT, 300), record(INSERT, 301), broken, record(INSERT, 303)]}
    assert stream.publish_batch(batch, put) == {"batchItemFailures": [{"itemIdentifier": "302"}]}
    assert len([e for r in put.requests for e in r]) == 2
