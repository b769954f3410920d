"""Business and health metrics: the one list of orderhub's metric names, their units and
dimensions, emitted as CloudWatch Embedded Metric Format lines (docs/operations.md, "Metrics").

Each metric is built by Powertools Metrics' EMF provider (names, units and dimensions checked
by it) and written as one line to stdout, which Lambda sends to the function's log group and
CloudWatch turns into the metric. One line per metric, so two records of one SQS batch can
carry different dimensions.

Dimensions stay few and bounded: a marketplace (a name of marketplaces/registry, or `other`), a
reason code, a flow, a job kind, a sweep. The merchant and the correlation id are never
dimensions (a metric per merchant would cost per merchant and month): they go on the same line
as properties (`merchant_id`, `correlation_id`), where Logs Insights finds them.

Emitting a metric never fails the work: a metric that can't be written is logged and dropped.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from typing import NamedTuple

from aws_lambda_powertools import Logger  # it imports Powertools' metrics too: the two below are loaded
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from orderhub.kernel import correlation

logger = Logger(child=True)


class Metric(NamedTuple):
    unit: str  # a CloudWatch unit (Powertools' MetricUnit value)
    dimensions: tuple[str, ...]
    meaning: str


METRICS: dict[str, Metric] = {
    # webhooks (functions/webhook_receiver)
    "WebhooksReceived": Metric("Count", ("marketplace",), "a delivery reached the receiver"),
    "WebhooksVerified": Metric("Count", ("marketplace",), "its signature was checked and good"),
    "WebhooksRefused": Metric("Count", ("marketplace", "reason"), "answered 4xx; reason: the error code"),
    "WebhooksQuarantined": Metric("Count", ("marketplace", "reason"), "a signed delivery kept whole"),
    # deliveries (the ingest processor, and the refresh of an order)
    "DeliveriesApplied": Metric("Count", ("marketplace", "via"), "a change written to its order"),
    "DeliveriesIgnored": Metric("Count", ("marketplace", "reason"), "recorded as ignored, with the reason"),
    "DeliveriesDuplicate": Metric("Count", ("marketplace",), "a delivery id seen before: nothing written"),
    "DeliveriesDeadLettered": Metric("Count", (), "failed its last receive: dead-lettered"),
    # pull ingestion
    "OrdersPulled": Metric("Count", ("marketplace",), "an order read from a marketplace, queued"),
    # what orderhub tells the marketplaces
    "ReflectSucceeded": Metric("Count", ("marketplace", "what"), "a cancel, shipment or tracking told"),
    "ReflectFailed": Metric("Count", ("marketplace", "what"), "the marketplace could not be told (tagged)"),
    # the cancel and modify flows
    "FlowsStarted": Metric("Count", ("flow",), "a flow execution started"),
    "FlowsAccepted": Metric("Count", ("flow",), "the warehouse accepted the request"),
    "FlowsRejected": Metric("Count", ("flow",), "the warehouse rejected the request"),
    "FlowsTimedOut": Metric("Count", ("flow",), "the warehouse did not answer in time"),
    # the sweeps
    "DeadlineRefunds": Metric("Count", ("marketplace",), "an overdue order refunded by the deadline check"),
    "RelinksDone": Metric("Count", (), "a deleted order relinked to its marketplace order"),
    "RelinksFailed": Metric("Count", (), "a relink that failed and was left for the merchant"),
    "OldestDueAgeSeconds": Metric("Seconds", ("sweep",), "the wait of a sweep's oldest due item"),
    # background jobs
    "JobRowsProcessed": Metric("Count", ("kind",), "a row (or order) of a job done"),
    "JobRowsFailed": Metric("Count", ("kind",), "a row (or order) of a job that failed"),
}

NAMESPACE = "orderhub"
# What a dimension's value may be: a short lower-case code. Anything else is written `other`.
_VALUE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,39}$")
_listeners: list[Callable[[dict], None]] = []


def count(name: str, value: float = 1, *, merchant_id: str | None = None, **dimensions: object) -> None:
    """Add `value` to the metric `name` (a Count), with its dimensions."""
    emit(name, value, merchant_id=merchant_id, **dimensions)


def emit(name: str, value: float, *, merchant_id: str | None = None, **dimensions: object) -> None:
    """Write one EMF line of metric `name` (METRICS) and tell the listeners."""
    try:
        blob = serialize(name, value, merchant_id=merchant_id, **dimensions)
        if blob is None:
            return
        sys.stdout.write(json.dumps(blob, separators=(",", ":")) + "\n")
        for listener in _listeners:
            listener(blob)
    except Exception:  # a metric never fails the work it counts
        logger.warning("metric not written", extra={"metric": name}, exc_info=True)


def serialize(
    name: str, value: float, *, merchant_id: str | None = None, **dimensions: object
) -> dict | None:
    """The EMF object of one metric (None when metrics are turned off, POWERTOOLS_METRICS_DISABLED)."""
    if is_metrics_disabled():
        return None
    spec = METRICS[name]
    unknown = set(dimensions) - set(spec.dimensions)
    if unknown:
        raise ValueError(f"{name} has no dimension {sorted(unknown)}")
    # The namespace and the `service` dimension: POWERTOOLS_METRICS_NAMESPACE and
    # POWERTOOLS_SERVICE_NAME of template.yaml (both `orderhub`), the same outside a function.
    provider = AmazonCloudWatchEMFProvider(
        namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE,
        service=os.environ.get("POWERTOOLS_SERVICE_NAME") or NAMESPACE,
    )
    provider.add_metric(name=name, unit=spec.unit, value=value)
    for dim in spec.dimensions:
        provider.add_dimension(name=dim, value=dimension_value(dimensions.get(dim)))
    cid = correlation.current()
    if cid:
        provider.add_metadata(key="correlation_id", value=cid)
    if merchant_id:
        provider.add_metadata(key="merchant_id", value=merchant_id)
    return provider.serialize_metric_set()


def dimension_value(value: object) -> str:
    text = str(value) if value is not None and value != "" else "none"
    return text if _VALUE.match(text) else "other"


def listen(listener: Callable[[dict], None]) -> Callable[[], None]:
    """Call `listener` with each metric written in this process (the local cloud's summary and
    `/_local/metrics`); returns the call that stops it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None
