"""Metrics (kernel/metrics.py): one EMF line per metric, few and bounded dimensions, the merchant
and the correlation id as properties, and a metric never failing the work it counts."""

from __future__ import annotations

import json

import pytest

from orderhub.kernel import correlation, metrics


@pytest.fixture
def written(capsys):
    def read() -> list[dict]:
        return [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith('{"_aws"')]

    return read


def test_a_metric_is_one_emf_line_with_its_dimensions_and_the_merchant_as_a_property(written, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "orderhub")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "orderhub")
    cid = correlation.begin()
    metrics.count("WebhooksRefused", marketplace="shopify", reason="invalid_signature", merchant_id="m1")
    (line,) = written()
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "orderhub"
    assert directive["Metrics"] == [{"Name": "WebhooksRefused", "Unit": "Count"}]
    assert sorted(directive["Dimensions"][0]) == ["marketplace", "reason", "service"]
    assert (line["WebhooksRefused"], line["marketplace"], line["reason"]) == (
        [1.0],
        "shopify",
        "invalid_signature",
    )
    # per merchant and per delivery: properties of the line, never dimensions
    assert line["merchant_id"] == "m1" and line["correlation_id"] == cid
    assert "merchant_id" not in directive["Dimensions"][0]


@pytest.mark.parametrize(
    ("given", "written_as"),
    [("shopify", "shopify"), ("Shop ify", "other"), ("x" * 41, "other"), ("", "none"), (None, "none")],
)
def test_a_dimension_is_a_short_code_or_other(given, written_as):
    assert metrics.dimension_value(given) == written_as


def test_every_metric_has_a_known_unit_and_a_meaning():
    from aws_lambda_powertools.metrics import MetricUnit

    units = {u.value for u in MetricUnit}
    for name, spec in metrics.METRICS.items():
        assert spec.unit in units and spec.meaning, name


def test_a_metric_that_cannot_be_written_is_dropped_not_raised(written):
    metrics.count("WebhooksReceived", marketplace="shopify", no_such_dimension="x")
    metrics.count("NoSuchMetric")
    assert written() == []


def test_listeners_hear_each_metric_and_can_stop():
    heard = []
    stop = metrics.listen(heard.append)
    metrics.count("RelinksDone")
    stop()
    metrics.count("RelinksDone")
    assert [b["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] for b in heard] == ["RelinksDone"]


def test_metrics_turned_off_write_nothing(written, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_DEV", "true")
    metrics.count("RelinksDone")
    assert written() == []


def test_the_operations_guide_names_every_metric():
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    missing = [name for name in metrics.METRICS if f"`{name}`" not in guide]
    assert not missing, f"docs/operations.md, Metrics: {missing}"


def test_a_delivery_failing_its_last_receive_is_counted_dead_lettered():
    from orderhub.webhooks import ingest

    heard = []
    stop = metrics.listen(heard.append)
    try:
        for receive in (1, ingest.MAX_RECEIVES - 1, ingest.MAX_RECEIVES):
            with pytest.raises(ValueError):
                ingest.process("not a queue message", receive_count=receive)
    finally:
        stop()
    assert [b["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] for b in heard] == [
        "DeliveriesDeadLettered"
    ]
