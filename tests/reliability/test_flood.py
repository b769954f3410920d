"""Webhook flood (docs/reliability.md): many signed deliveries, duplicates and out-of-order changes
from concurrent senders over real HTTP; the final state equals the state computed from the
deliveries, exactly: nothing lost, nothing applied twice.

Sizes: `make test` runs the small flood (ORDERHUB_FLOOD unset); `make flood` runs the full one
(ORDERHUB_FLOOD=full: 2,000 deliveries, 300 orders, 16 senders) and prints its figures.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.tables import scan_table

pytestmark = [pytest.mark.e2e, pytest.mark.slowest(19)]

SIZES = {
    "small": {"deliveries": 200, "orders": 30, "senders": 8},
    "full": {"deliveries": 2000, "orders": 300, "senders": 16},
}
DUPLICATE_SHARE = 0.20
OUT_OF_ORDER_SHARE = 0.10
CANCEL_SHARE = 0.15
MARKETPLACE = "floodmart"  # a generic-format marketplace of its own: defaults (no auto-confirm, 60 min hold)
METHODS = ("marketplace", "card", "bank_transfer")


def _ts(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


@dataclass
class Delivery:
    event_id: str
    order_no: str
    version: int
    body: dict


@dataclass
class Plan:
    sends: list[Delivery]  # in sending order, duplicates included
    finals: dict[str, dict]  # order_no -> the newest snapshot (the generic `order` object) and its type
    unique: dict[str, Delivery] = field(default_factory=dict)
    out_of_order: int = 0


def _snapshot(order_no: str, k: int, method: str, placed: datetime, paid_from: int | None) -> dict:
    updated = placed + timedelta(minutes=k + 1)
    paid_at = None
    if method != "bank_transfer":
        paid_at = _ts(placed)
    elif paid_from is not None and k >= paid_from:
        paid_at = _ts(placed + timedelta(minutes=paid_from + 1))
    qty = 1 + (k % 3)
    return {
        "order_no": order_no,
        "placed_at": _ts(placed),
        "updated_at": _ts(updated),
        "currency": "JPY",
        "total": str(1200 * qty + 300),
        "payment": {"method": method, "paid_at": paid_at, "gateway": f"gw-{method}"},
        "items": [
            {"sku": f"FL-SKU-{k % 4}", "title": f"item v{k}", "quantity": qty, "price": "1200"},
            {"sku": "FL-SHIP", "title": "shipping", "quantity": 1, "price": "300"},
        ],
        "recipient": {
            "name": f"Flood Buyer {order_no}",
            "address1": f"{k + 1}-2-3 Shibuya",
            "address2": f"Room {100 + k}",
            "city": "Shibuya-ku",
            "region": "Tokyo",
            "postal_code": "150-0002",
            "country": "JP",
            "phone": f"03-0000-{k:04d}",
            "email": f"v{k}.{order_no.lower()}@example.jp",
        },
    }


def make_plan(n_deliveries: int, n_orders: int, seed: int = 8) -> Plan:
    """Deliveries for n_orders orders: every order gets versions with strictly increasing
    updated_at (bank transfers get paid on the way, some orders end cancelled); 20% of the sends
    are repeats of an earlier delivery id, and at least 10% of the sends overtake an older version
    of their order."""
    rng = random.Random(seed)
    n_dups = round(n_deliveries * DUPLICATE_SHARE)
    n_unique = n_deliveries - n_dups
    assert n_unique >= n_orders
    versions = [1] * n_orders
    for _ in range(n_unique - n_orders):
        versions[rng.randrange(n_orders)] += 1
    placed_base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)

    per_order: dict[str, list[Delivery]] = {}
    finals: dict[str, dict] = {}
    for i, count in enumerate(versions):
        order_no = f"FL-{i:04d}"
        method = METHODS[i % len(METHODS)]
        placed = placed_base + timedelta(seconds=i)
        paid_from = rng.randrange(count + 1) if method == "bank_transfer" else None  # == count: never paid
        cancel_last = count >= 2 and rng.random() < CANCEL_SHARE
        chain = []
        for k in range(count):
            snap = _snapshot(order_no, k, method, placed, paid_from)
            kind = "order.created" if k == 0 else "order.updated"
            if method == "bank_transfer" and k == paid_from:
                kind = "order.paid"
            if cancel_last and k == count - 1:
                kind = "order.cancelled"
                snap["cancelled_at"] = snap["updated_at"]
            body = {
                "event_id": f"flood-{order_no}-v{k}-{uuid.uuid4().hex[:8]}",
                "type": kind,
                "marketplace": MARKETPLACE,
                "occurred_at": snap["updated_at"],
                "order": snap,
            }
            chain.append(Delivery(body["event_id"], order_no, k, body))
        per_order[order_no] = chain
        finals[order_no] = {"type": chain[-1].body["type"], "order": chain[-1].body["order"]}

    # Interleave the orders at random, each order's versions in their own order...
    slots = [no for no, chain in per_order.items() for _ in chain]
    rng.shuffle(slots)
    cursor = dict.fromkeys(per_order, 0)
    sends: list[Delivery] = []
    for no in slots:
        sends.append(per_order[no][cursor[no]])
        cursor[no] += 1
    # ...then let 10% overtake the version before them (swap with it).
    want = round(n_deliveries * OUT_OF_ORDER_SHARE)
    candidates = [d for d in sends if d.version > 0]
    rng.shuffle(candidates)
    for d in candidates[:want]:
        pos = sends.index(d)
        prev = next(j for j in range(pos - 1, -1, -1) if sends[j].order_no == d.order_no)
        sends[pos], sends[prev] = sends[prev], sends[pos]
    unique = {d.event_id: d for d in sends}
    # Repeats (same delivery id, same body, signed again), each somewhere after its original.
    for _ in range(n_dups):
        original = rng.choice(list(unique.values()))
        at = sends.index(original)
        sends.insert(rng.randint(at + 1, len(sends)), original)

    newest_sent: dict[str, int] = {}
    overtaking = 0
    for d in sends:
        if d.version < newest_sent.get(d.order_no, -1):
            overtaking += 1
        newest_sent[d.order_no] = max(newest_sent.get(d.order_no, -1), d.version)
    return Plan(sends=sends, finals=finals, unique=unique, out_of_order=overtaking)


def expected_order(final: dict) -> dict:
    """The order the newest snapshot must leave, in the fields the API shows."""
    snap = final["order"]
    method = snap["payment"]["method"]
    if final["type"] == "order.cancelled":
        status = "cancelled"
    elif method == "bank_transfer" and snap["payment"]["paid_at"] is None:
        status = "pending"
    else:
        status = "new"  # marketplace-collected at once; card: placed 2 days ago, the hold is over
    return {
        "marketplace": MARKETPLACE,
        "marketplace_order_no": snap["order_no"],
        "origin": "api",
        "status": status,
        "shipment_stage": "none",
        "placed_at": _dt(snap["placed_at"]),
        "marketplace_updated_at": _dt(snap["updated_at"]),
        "cancelled_at": _dt(snap.get("cancelled_at")),
        "currency": snap["currency"],
        "total": snap["total"],
        "payment": {
            "method": method,
            "paid_at": _dt(snap["payment"]["paid_at"]),
            "gateway": snap["payment"]["gateway"],
        },
        "items": [dict(i, item_code=None) for i in snap["items"]],
        "mapping": "fail",
        "recipient": snap["recipient"],
    }


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def actual_order(view: dict) -> dict:
    keys = expected_order({"type": "", "order": _EMPTY}).keys()
    got = {k: view.get(k) for k in keys}
    for k in ("placed_at", "marketplace_updated_at", "cancelled_at"):
        got[k] = _dt(got[k])
    got["payment"] = dict(got["payment"] or {}, paid_at=_dt((got["payment"] or {}).get("paid_at")))
    return got


_EMPTY = {
    "order_no": "",
    "placed_at": None,
    "updated_at": None,
    "currency": "",
    "total": "",
    "payment": {"method": "", "paid_at": None, "gateway": ""},
    "items": [],
    "recipient": {},
}


def send_all(api, plan: Plan, senders: int) -> tuple[Counter, float]:
    """Post every delivery, signed at send time, from `senders` threads; returns the statuses."""
    statuses: Counter = Counter()
    lock = threading.Lock()
    bodies = {d.event_id: json.dumps(d.body, ensure_ascii=False).encode() for d in plan.unique.values()}

    def post(d: Delivery) -> None:
        resp = api.post_webhook("generic", bodies[d.event_id])
        with lock:
            statuses[resp.status] += 1
            if resp.status != 200:
                statuses[f"{resp.status}:{resp.raw[:200]!r}"] += 1

    started = time.monotonic()
    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(post, plan.sends))
    return statuses, time.monotonic() - started


def list_all(api, query: str) -> list[dict]:
    out, cursor = [], None
    while True:
        resp = api.get(f"/orders?{query}&page_size=200" + (f"&cursor={cursor}" if cursor else ""))
        assert resp.status == 200, resp
        out += resp.json["orders"]
        cursor = resp.json["next_cursor"]
        if not cursor:
            return out


def test_plan_has_the_promised_shape():
    for size in SIZES.values():
        plan = make_plan(size["deliveries"], size["orders"])
        assert len(plan.sends) == size["deliveries"]
        assert len(plan.finals) == size["orders"]
        repeats = len(plan.sends) - len(plan.unique)
        assert repeats == round(size["deliveries"] * DUPLICATE_SHARE)
        assert plan.out_of_order >= size["deliveries"] * OUT_OF_ORDER_SHARE
        kinds = Counter(expected_order(f)["status"] for f in plan.finals.values())
        assert kinds["new"] and kinds["pending"] and kinds["cancelled"], kinds


def test_flood_final_state_equals_the_expected_state(api, cloud, capsys):
    size_name = os.environ.get("ORDERHUB_FLOOD", "small")
    size = SIZES[size_name]
    plan = make_plan(size["deliveries"], size["orders"])

    started = time.monotonic()
    statuses, send_seconds = send_all(api, plan, size["senders"])
    assert statuses == Counter({200: len(plan.sends)}), statuses  # every delivery accepted
    cloud.drain(timeout=600 if size_name == "full" else 120)
    total_seconds = time.monotonic() - started

    # 1. every order exactly once, exactly as its newest snapshot says
    listed = list_all(api, f"marketplace={MARKETPLACE}")
    by_no: dict[str, list[dict]] = defaultdict(list)
    for o in listed:
        by_no[o["marketplace_order_no"]].append(o)
    assert sorted(by_no) == sorted(plan.finals), "lost or unexpected orders"
    assert [no for no, os_ in by_no.items() if len(os_) > 1] == [], "duplicated orders"
    mismatches = {
        no: (actual_order(by_no[no][0]), expected_order(final))
        for no, final in plan.finals.items()
        if actual_order(by_no[no][0]) != expected_order(final)
    }
    assert mismatches == {}, next(iter(mismatches.items()))

    # 2. every delivery id has one record; repeats counted, never applied twice
    items = scan_table(cloud)
    records = {
        sk_pk[0].rsplit("#", 1)[1]: item
        for sk_pk, item in items.items()
        if sk_pk[0].startswith("M#demo#DLV#generic#flood-")
    }
    assert sorted(records) == sorted(plan.unique), "a delivery has no record"
    sent = Counter(d.event_id for d in plan.sends)
    dup_mismatch = {
        eid: (int(rec.get("duplicates", {}).get("N", "0")), sent[eid] - 1)
        for eid, rec in records.items()
        if int(rec.get("duplicates", {}).get("N", "0")) != sent[eid] - 1
    }
    assert dup_mismatch == {}, dup_mismatch
    outcomes = Counter(
        f"{rec['outcome']['S']}:{rec.get('reason', {}).get('S', '')}" for rec in records.values()
    )
    assert set(outcomes) <= {"applied:", "applied:no_change", "ignored:stale", "ignored:cancelled_number"}, (
        outcomes
    )
    # an order's version counts the changes applied after its creation
    applied = Counter(
        plan.unique[eid].order_no for eid, rec in records.items() if rec["outcome"]["S"] == "applied"
    )
    versions = {no: os_[0]["version"] for no, os_ in by_no.items()}
    assert {no: applied[no] - 1 for no in plan.finals} == versions

    # 3. nothing left behind: no dead letters
    sqs = cloud.client("sqs")
    dlq = sqs.get_queue_url(QueueName=cloud.physical_name("IngestDLQ"))["QueueUrl"]
    depth = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "0"

    # 4. the counters equal the lists
    counts = api.get("/orders/counts").json
    expected_counts = Counter(expected_order(f)["status"] for f in plan.finals.values())
    for tab in ("pending", "new", "processing", "shipped", "on_hold", "cancelled", "closed"):
        assert counts[tab] == expected_counts.get(tab, 0) == len(list_all(api, f"status={tab}")), tab
    assert counts["all"] == len(plan.finals) == len(list_all(api, "date_basis=placed"))

    figures = (
        f"\nflood {size_name}: {len(plan.sends)} deliveries ({len(plan.unique)} distinct, "
        f"{len(plan.sends) - len(plan.unique)} repeats, {plan.out_of_order} out of order) for "
        f"{len(plan.finals)} orders from {size['senders']} senders\n"
        f"  accepted: {len(plan.sends)} in {send_seconds:.1f}s = {len(plan.sends) / send_seconds:.0f}/s\n"
        f"  drained:  {total_seconds:.1f}s after the first send; "
        f"{len(plan.unique) / total_seconds:.0f} distinct deliveries processed/s, "
        f"{outcomes['applied:'] + outcomes['applied:no_change']} applied, "
        f"{outcomes['ignored:stale']} stale, {outcomes['ignored:cancelled_number']} after cancel\n"
        f"  final: {dict(sorted(expected_counts.items()))}"
    )
    with capsys.disabled():  # the figures, without the functions' logs
        print(figures)
