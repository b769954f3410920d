"""Item 9: cost per million orders, a model. What a million new orders cost on AWS at list prices,
each followed by the same mix of later operations as the key-heat sample (bench/keyheat.py), next
to the floor: one SQS send, one Lambda invocation and one transaction per order.

Measured (moto in-process, the real code): the read and write units of every DynamoDB call, table
and indexes alike (bench/awsmeter.py), the order-item writes (each is a stream record the stream
publisher turns into one EventBridge event), and each operation's wall time on this machine.

Computed: the requests each service is billed for. A webhook is one HTTP API request, one
receiver invocation and one SQS send; the ingest processor and the stream publisher take batches
(template.yaml: 10 and 100), so their invocations per order lie between one per record (a trickle)
and one per full batch (a busy platform); a merchant or warehouse action is one HTTP API request
and one invocation. Lambda durations are this machine's, on moto: a stand-in, labelled as such.
Free tiers, storage, logs, data transfer and the stream's reads (free for Lambda) are left out."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from bench.common import Section, fmt

# List prices, us-east-1, on-demand, USD; as published when this was written (2026-11). DynamoDB's
# on-demand throughput is the price since its cut of 1 November 2024.
PRICES_AS_OF = "2026-11-27 (us-east-1 list prices; DynamoDB on-demand as cut on 2024-11-01)"
PRICE = {
    "dynamodb_wru": 0.625 / 1e6,
    "dynamodb_rru": 0.125 / 1e6,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second_arm64": 0.0000133334,
    "sqs_request": 0.40 / 1e6,
    "http_api_request": 1.00 / 1e6,
    "eventbridge_event": 1.00 / 1e6,
    "sfn_transition": 0.025 / 1e3,
}
MEMORY_GB = 0.5  # template.yaml Globals: MemorySize 512
INGEST_BATCH = 10  # IngestProcessorFunction's SQS batch (template.yaml)
STREAM_BATCH = 100  # StreamPublisherFunction's stream batch (template.yaml)
ORDER_ITEM_KB = (
    2  # an order item as stored (bench/results.md section 2: 14 WCU for a new order's table writes)
)
MILLION = 1_000_000


@dataclass(frozen=True)
class PerOrder:
    """Billed quantities per new order (with its share of the later operations)."""

    wru: float
    rru: float
    http_requests: float
    sqs_requests: float
    invocations: float
    gb_seconds: float
    events: float
    transitions: float = 0.0

    def cost(self) -> dict[str, float]:
        """USD per order, by service."""
        return {
            "DynamoDB writes": self.wru * PRICE["dynamodb_wru"],
            "DynamoDB reads": self.rru * PRICE["dynamodb_rru"],
            "HTTP API": self.http_requests * PRICE["http_api_request"],
            "SQS": self.sqs_requests * PRICE["sqs_request"],
            "Lambda requests": self.invocations * PRICE["lambda_request"],
            "Lambda duration": self.gb_seconds * PRICE["lambda_gb_second_arm64"],
            "EventBridge": self.events * PRICE["eventbridge_event"],
            "Step Functions": self.transitions * PRICE["sfn_transition"],
        }


def floor(order_kb: float = ORDER_ITEM_KB, seconds: float = 0.0) -> PerOrder:
    """One SQS send, one Lambda invocation and one transaction writing the order item alone (a
    transaction's write units are doubled). Pure."""
    return PerOrder(
        wru=2 * math.ceil(order_kb),
        rru=0.0,
        http_requests=0.0,
        sqs_requests=1.0,
        invocations=1.0,
        gb_seconds=seconds * MEMORY_GB,
        events=0.0,
    )


def batched(records: float, batch: int, full: bool) -> float:
    """Invocations for `records` records taken `batch` at a time: one per record when records
    trickle in, one per full batch when they queue up. Pure."""
    return records / batch if full else records


def per_order(
    orders: int,
    counts: Mapping[str, int],
    rru: float,
    wru: float,
    order_writes: int,
    seconds: Mapping[str, float],
    full_batches: bool,
    delta_writes: int = 0,
) -> PerOrder:
    """Billed quantities per new order from the sample's totals. `counts` are the operations the
    sample ran (bench/keyheat.py names); sweeps run once per schedule, not per order, and their
    invocations are left out (a few thousand a day for the whole platform). Pure."""
    webhooks = sum(n for op, n in counts.items() if op.startswith("webhook:"))
    actions = sum(n for op, n in counts.items() if op.startswith(("merchant:", "warehouse:")))
    invocations = (
        webhooks  # the receiver
        + batched(webhooks, INGEST_BATCH, full_batches)  # the ingest processor
        + actions  # the merchant and warehouse APIs
        + batched(order_writes, STREAM_BATCH, full_batches)  # the stream publisher
        + batched(delta_writes, STREAM_BATCH, full_batches)  # the counters' fold (store/counters.py)
    )
    busy = sum(s for op, s in seconds.items() if op.startswith(("webhook:", "merchant:", "warehouse:")))
    # SQS bills the send, and the event source mapping's receive and delete per batch
    sqs = webhooks + 2 * batched(webhooks, INGEST_BATCH, full_batches)
    return PerOrder(
        wru=wru / orders,
        rru=rru / orders,
        http_requests=(webhooks + actions) / orders,
        sqs_requests=sqs / orders,
        invocations=invocations / orders,
        gb_seconds=busy * MEMORY_GB / orders,
        events=order_writes / orders,
    )


def per_million(p: PerOrder) -> float:
    return sum(p.cost().values()) * MILLION


# ------------------------------------------------------------------ the section
def run(quick: bool = False) -> Section:
    from bench import awsmeter, keyheat

    orders = 40 if quick else 200
    seconds: Counter = Counter()
    with awsmeter.Meter() as meter:
        records, _names, counts = keyheat.sample(meter, orders, seconds)
    calls = [c for _, c in records if c.service == "dynamodb"]
    rru = sum(c.rcu for c in calls)
    wru = sum(c.wcu + c.index_wcu for c in calls)
    order_writes = sum(
        1 for c in calls for w in c.writes if w.kind != "check" and w.key.get("sk") == "#ORDER"
    )
    delta_writes = sum(
        1
        for c in calls
        for w in c.writes
        if w.kind == "put" and "#CNT#" in str(w.key.get("pk")) and str(w.key.get("sk")).startswith("D#")
    )
    new_order_seconds = seconds[keyheat.OP_NEW] / max(counts[keyheat.OP_NEW], 1)
    new_order_wru = sum(
        c.wcu + c.index_wcu for op, c in records if op == keyheat.OP_NEW and c.service == "dynamodb"
    ) / max(counts[keyheat.OP_NEW], 1)
    trickle = per_order(orders, counts, rru, wru, order_writes, seconds, False, delta_writes)
    busy = per_order(orders, counts, rru, wru, order_writes, seconds, True, delta_writes)
    least = floor(seconds=new_order_seconds)

    sec = Section("9. Cost per million orders (a model)")
    sec.add(
        "**A model.** Measured on moto with the real code: the read and write units of every",
        f"DynamoDB call over {orders} orders taken through the key-heat sample's lifecycles (section 8),",
        "the order-item writes (one EventBridge event each, through the stream), and each operation's",
        "wall time on this machine (the Lambda durations below are these local times: a stand-in,",
        "not Lambda's). Computed: the billed requests. A webhook is one HTTP API request, one",
        "invocation of the receiver and one SQS send; a merchant or warehouse action is one HTTP API",
        "request and one invocation; the ingest processor (batches of 10), the stream publisher and",
        "the counters' fold (batches of 100) cost one invocation per record when orders trickle in",
        "and one per full batch on a busy platform: both columns are shown. Left out: free tiers,",
        "storage, logs, data transfer, the sweeps' few invocations a day, the stream's reads (free",
        "for Lambda), and Step Functions (no cancel or modify flow is in the mix; a paid request",
        "costs 6 to 8 transitions).",
        f"Prices: {PRICES_AS_OF}.",
        "DynamoDB $0.625 per million write and $0.125 per million read request units; Lambda $0.20",
        "per million requests and $0.0000133334 per GB-second (arm64); SQS $0.40, HTTP API $1.00 and",
        "EventBridge $1.00 per million requests or events. Check the pricing pages before relying on them.",
        "",
    )
    rows = []
    for label, key in (
        ("DynamoDB write request units", "wru"),
        ("DynamoDB read request units", "rru"),
        ("HTTP API requests", "http_requests"),
        ("SQS requests", "sqs_requests"),
        ("Lambda invocations", "invocations"),
        ("Lambda GB-seconds (local durations)", "gb_seconds"),
        ("EventBridge events", "events"),
    ):
        rows.append(
            [label, fmt(getattr(trickle, key), 3), fmt(getattr(busy, key), 3), fmt(getattr(least, key), 3)]
        )
    sec.table(["per new order", "orders trickle in", "busy platform", "floor"], rows)
    cost_rows = []
    t, b, f = trickle.cost(), busy.cost(), least.cost()
    for service in t:
        cost_rows.append(
            [
                service,
                f"${fmt(t[service] * MILLION, 2)}",
                f"${fmt(b[service] * MILLION, 2)}",
                f"${fmt(f[service] * MILLION, 2)}",
            ]
        )
    cost_rows.append(
        [
            "**total**",
            f"**${fmt(per_million(trickle), 2)}**",
            f"**${fmt(per_million(busy), 2)}**",
            f"**${fmt(per_million(least), 2)}**",
        ]
    )
    sec.table(["USD per million new orders", "orders trickle in", "busy platform", "floor"], cost_rows)
    ratio = new_order_wru / least.wru
    sec.add(
        f"The floor's transaction writes the order item alone ({ORDER_ITEM_KB} KB, doubled in a",
        f"transaction: {fmt(least.wru, 0)} WRU). Creating an order writes {fmt(new_order_wru, 1)} WRU,",
        f"{fmt(ratio, 1)}× the floor:",
        "the history entry, the counters, the lookup and packing items in the same transaction, and",
        "the index entries (six slim indexes, about 1 WRU each; section 2). Over its lifecycle an",
        f"order writes {fmt(busy.wru, 1)} WRU, {fmt(busy.wru / least.wru, 1)}× the floor, most of it",
        "index entries rewritten at status or stage changes (section 8 names the keys).",
        "",
    )
    sec.targets.append(
        (
            "write units to create an order within 1.5x the floor (one transaction, the order alone)",
            "<= 1.5x",
            f"{fmt(ratio, 1)}x ({fmt(new_order_wru, 1)} WRU against {fmt(least.wru, 0)})",
            ratio <= 1.5,
        )
    )
    return sec
