"""The correlation id's rules (kernel/correlation.py): made, carried, checked, stamped, logged."""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest
from aws_lambda_powertools import Logger

from orderhub.kernel import correlation


@pytest.fixture
def lines():
    out = io.StringIO()
    logger = Logger(
        service=f"correlation-test-{uuid.uuid4().hex[:8]}", logger_handler=logging.StreamHandler(out)
    )

    def read():
        return [json.loads(x) for x in out.getvalue().splitlines()]

    return logger, read


def test_a_new_id_is_a_uuid_and_a_carried_one_is_kept():
    made = correlation.begin()
    assert uuid.UUID(made) and correlation.current() == made
    carried = str(uuid.uuid4())
    assert correlation.begin(carried) == carried == correlation.current()


@pytest.mark.parametrize("bad", ["", "short", "x" * 65, "has space in it", "a\nforged line", 12345678, None])
def test_an_id_not_of_the_ids_shape_starts_a_new_one(bad):
    cid = correlation.begin(bad)
    assert cid != bad and uuid.UUID(cid)


def test_what_is_written_sent_and_answered_carries_the_current_id():
    cid = correlation.begin()
    assert correlation.stamp({"pk": "x"}) == {"pk": "x", "correlation_id": cid}
    attrs = correlation.message_attributes()
    assert attrs == {"correlation_id": {"DataType": "String", "StringValue": cid}}
    # the SQS record Lambda delivers for that message gives it back
    record = {"messageAttributes": {"correlation_id": {"stringValue": cid, "dataType": "String"}}}
    assert correlation.of_sqs_record(record) == cid
    assert correlation.of_sqs_record({"messageAttributes": {}}) is None
    answer = correlation.with_header({"statusCode": 200, "headers": {"Content-Type": "application/json"}})
    assert answer["headers"] == {"Content-Type": "application/json", "X-Correlation-Id": cid}


def test_every_log_line_names_the_work_and_a_record_does_not_inherit_the_last_ones_keys(lines):
    logger, read = lines
    first = correlation.begin(merchant_id="m1")
    correlation.add_keys(order_id="o1")
    logger.info("one")
    second = correlation.begin()  # the next record of the batch: its merchant is not known yet
    logger.info("two")
    one, two = read()
    assert (one["correlation_id"], one["merchant_id"], one["order_id"]) == (first, "m1", "o1")
    assert two["correlation_id"] == second and "merchant_id" not in two and "order_id" not in two


def test_the_invocations_function_is_named_on_its_own_threads_lines(lines):
    logger, read = lines

    class Context:
        function_name = "IngestProcessorFunction"
        aws_request_id = "req-1"

    correlation.begin(context=Context())
    correlation.begin()  # a record of the invocation keeps the function's name
    logger.info("record")
    (line,) = read()
    assert line["function_name"] == "IngestProcessorFunction" and line["function_request_id"] == "req-1"
