"""orderhub/kernel/batch.py: an SQS batch answered as a partial batch response (no AWS)."""

from __future__ import annotations

import pytest

from orderhub.kernel import batch


def records(*bodies: str) -> dict:
    return {
        "Records": [
            {"messageId": f"m{i}", "body": b, "attributes": {"ApproximateReceiveCount": "2"}}
            for i, b in enumerate(bodies)
        ]
    }


def handle(record: dict) -> str:
    if record["body"] == "bad":
        raise ValueError("bad record")
    return "ok"


def test_the_records_that_raised_are_named_and_the_others_are_kept():
    seen = []
    answer = batch.each_record(records("a", "bad", "b", "bad"), lambda r: seen.append(handle(r)))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m3"}]}
    assert seen == ["ok", "ok"]  # a failure does not stop the records after it


def test_a_batch_that_all_failed_fails_the_invocation():
    with pytest.raises(batch.BatchFailed, match="all 2 records failed"):
        batch.each_record(records("bad", "bad"), handle)


def test_a_batch_without_failures_or_records_answers_an_empty_list():
    assert batch.each_record(records("a"), handle) == {"batchItemFailures": []}
    assert batch.each_record({}, handle) == {"batchItemFailures": []}


def test_a_failed_record_is_logged_with_its_message_id(caplog):
    with caplog.at_level("WARNING"):
        batch.each_record(records("a", "bad"), handle)
    failed = [r for r in caplog.records if r.getMessage().startswith("record failed")]
    assert len(failed) == 1 and failed[0].message_id == "m1" and failed[0].exc_info


def test_the_receive_count_is_sqs_approximate_receive_count():
    assert batch.receive_count(records("a")["Records"][0]) == 2
    assert batch.receive_count({"messageId": "x"}) == 1
