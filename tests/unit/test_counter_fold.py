"""The counters' fold from the table stream (store/counters.py fold_batch): which records start
a fold (the template's filter and the batch's grouping), one fold per shard, and what a failed
shard reports."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from cfnlint.decode import decode

from localcloud.filters import parse_filters, passes
from orderhub.store import counters, keys

ROOT = Path(__file__).resolve().parents[2]


def record(seq: int, pk: str, sk: str, event: str = "INSERT", entity: str = "count_delta") -> dict:
    image = {"pk": {"S": pk}, "sk": {"S": sk}, "entity": {"S": entity}}
    ddb = {"Keys": {"pk": {"S": pk}, "sk": {"S": sk}}, "SequenceNumber": str(seq)}
    if event != "REMOVE":
        ddb["NewImage"] = image
    return {"eventName": event, "dynamodb": ddb}


SHARD = [keys.counter_shard_pk("demo", i) for i in range(3)]
DELTA = keys.counter_delta_sk("2026-11-25T03:00:00.000Z", "ord_1", "ab12")


def fold_filter() -> list[dict]:
    data, _ = decode(str(ROOT / "template.yaml"))
    [stream] = [
        e
        for e in data["Resources"]["CounterFoldFunction"]["Properties"]["Events"].values()
        if e["Type"] == "DynamoDB"
    ]
    return parse_filters(json.loads(json.dumps(stream["Properties"]["FilterCriteria"])))


def test_the_stream_filter_passes_only_new_delta_items():
    patterns = fold_filter()
    assert passes(patterns, record(1, SHARD[0], DELTA))
    assert not passes(patterns, record(1, SHARD[0], DELTA, event="REMOVE"))  # a fold's delete
    assert not passes(
        patterns, record(1, SHARD[0], keys.COUNTER_BASE_SK, event="MODIFY", entity="count_base")
    )
    assert not passes(patterns, record(1, keys.order_pk("demo", "o1"), keys.ORDER_SK, entity="order"))
    # a job's input rows share the D# prefix of their sort key, not the entity
    assert not passes(patterns, record(1, keys.job_pk("demo", "j1"), keys.job_data_sk(1), entity="job_data"))


def test_a_batch_folds_each_shard_once_in_the_order_of_its_first_record():
    records = [
        record(1, SHARD[1], DELTA),
        record(2, keys.order_pk("demo", "o1"), keys.ORDER_SK, entity="order"),
        record(3, SHARD[0], DELTA),
        record(4, SHARD[1], DELTA),
        record(5, SHARD[0], DELTA, event="REMOVE"),
    ]
    assert counters.shard_pks_of_batch(records) == {SHARD[1]: 0, SHARD[0]: 2}
    folded = []
    assert counters.fold_batch({"Records": records}, fold_one=lambda pk: folded.append(pk) or 1) == {
        "batchItemFailures": []
    }
    assert folded == [SHARD[1], SHARD[0]]


def test_a_failed_shard_reports_its_first_record_and_the_others_are_folded():
    records = [record(1, SHARD[0], DELTA), record(2, SHARD[1], DELTA), record(3, SHARD[2], DELTA)]
    folded = []

    def fold_one(pk: str) -> int:
        if pk in (SHARD[1], SHARD[2]):
            raise RuntimeError("throttled")
        folded.append(pk)
        return 1

    answer = counters.fold_batch({"Records": records}, fold_one=fold_one)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "2"}]}  # Lambda retries from there
    assert folded == [SHARD[0]]


def test_a_fold_transaction_adds_the_sums_and_deletes_each_delta_on_its_existence(monkeypatch):
    monkeypatch.setattr(counters, "settings", lambda: SimpleNamespace(table_name="t"))
    deltas = [
        {"sk": "D#1", "merchant_id": "demo", "d": {"all": 1, "new": 1}},
        {"sk": "D#2", "merchant_id": "demo", "d": {"new": -1, "cancelled": 1}},
    ]
    update, *deletes = counters.fold_transaction(SHARD[0], deltas)
    names = update["Update"]["ExpressionAttributeNames"]
    values = update["Update"]["ExpressionAttributeValues"]
    added = {names[k.replace(":", "#")]: int(v["N"]) for k, v in values.items() if k.startswith(":c")}
    assert added == {"all": 1, "cancelled": 1}  # `new` moved by 0: not written
    assert "ADD #f :one" in update["Update"]["UpdateExpression"]
    assert [d["Delete"]["Key"]["sk"]["S"] for d in deletes] == ["D#1", "D#2"]
    assert {d["Delete"]["ConditionExpression"] for d in deletes} == {"attribute_exists(pk)"}
