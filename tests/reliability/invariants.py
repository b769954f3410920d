"""Whole-table checks for the in-process (moto) reliability tests: read every order of a merchant
(a test-only Scan) and check what must hold whatever happened to them.

- counts: GET /orders/counts equals the size of each tab's list, and `all` is their sum;
- stage counts: each stage count of GET /shipments equals the size of that stage's list, and each
  list holds exactly the orders whose shipment is in that stage;
- one order per number: at most one order that is not deleted per (marketplace, number), and the
  number's lookup points to it;
- packing numbers: unique across orders, and each PACKING# item names its order;
- no impossible state: a cancelled order has no tracking and no parcel past `requested`; a shipped
  order has its tracking;
- history follows the transition table: the statuses recorded in the history form one chain from
  the first status to the current one, and every step is a transition of domain/status.py (release
  from a hold and restore of a deleted order included).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import boto3

from orderhub.domain.status import SHIPMENT_LIST_STAGES, TABS, TRANSITIONS
from orderhub.kernel.config import settings
from orderhub.orders import queries
from orderhub.store import counters, db, keys

ALLOWED = {(frm, to) for (frm, _), to in TRANSITIONS.items()}
# First statuses: a webhook creates pending / new / processing (payment rules, auto-confirm) or
# cancelled (seen first as cancelled); a registration or a relink creates new (or pending).
FIRST_STATUSES = {"pending", "new", "processing", "cancelled"}


def scan_raw(sort_keys: tuple[str, ...] = ()) -> list[dict]:
    """Every item of the table as DynamoDB returns it (attribute values); with `sort_keys`, only
    the items with one of those sort keys (#ORDER, #PACKING, #LOOKUP...). Read from moto's backend
    in this process (these tests run moto in-process): the same items a consistent Scan returns,
    without moto's response serializer, which costs more than the rest of a step."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    region = boto3.session.Session().region_name or "us-east-1"
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][region].get_table(settings().table_name)
    return [
        item.to_json()["Attributes"]
        for item in table.all_items()
        if not sort_keys or item.range_key.value in sort_keys
    ]


def scan_items(sort_keys: tuple[str, ...] = ()) -> list[dict]:
    return [db.from_av(i) for i in scan_raw(sort_keys)]


def orders_of(merchant_id: str, items: list[dict] | None = None) -> list[dict]:
    items = scan_items() if items is None else items
    prefix = f"M#{merchant_id}#O#"
    return [db.order_from_item(i) for i in items if i["sk"] == keys.ORDER_SK and i["pk"].startswith(prefix)]


def list_tab(merchant_id: str, tab: str) -> set[str]:
    listed = queries.list_orders(merchant_id, {"status": tab, "page_size": "200"})
    assert listed["next_cursor"] is None
    return {o["order_id"] for o in listed["orders"]}


def check_counts(merchant_id: str, orders: list[dict] | None = None, known: dict | None = None) -> dict:
    """GET /orders/counts equals the size of each tab's list (GET /orders?status=<tab>), `all` is
    their sum, and each list holds exactly the orders in that status. With `known` (tab -> the
    order ids listed at the last check), a tab whose orders did not change is not listed again."""
    orders = orders_of(merchant_id) if orders is None else orders
    counts = queries.counts(merchant_id)
    truth = {tab: {o["order_id"] for o in orders if o["status"] == tab} for tab in TABS}
    for tab in TABS:
        if known is not None and known.get(tab) == truth[tab]:
            continue
        listed = list_tab(merchant_id, tab)
        assert listed == truth[tab], (tab, sorted(listed), sorted(truth[tab]))
        if known is not None:
            known[tab] = listed
    assert {t: counts[t] for t in TABS} == {t: len(truth[t]) for t in TABS}, (counts, truth)
    assert counts["all"] == sum(len(v) for v in truth.values()), counts
    return counts


def check_stage_counts(merchant_id: str, orders: list[dict], known: dict | None = None) -> None:
    """The shipment list's counts equal the orders in each stage, and each stage's list (GET
    /shipments?stage=) holds exactly them. With `known`, a stage whose orders did not change is
    not listed again."""
    from orderhub.fulfillment import shipments

    truth = {
        s: {o["order_id"] for o in orders if db.shipment_list_stage(o) == s} for s in SHIPMENT_LIST_STAGES
    }
    counts = db.get_stage_counts(merchant_id)
    assert counts == {s: len(truth[s]) for s in SHIPMENT_LIST_STAGES}, (counts, truth)
    for stage in SHIPMENT_LIST_STAGES:
        if known is not None and known.get(stage) == truth[stage]:
            continue
        listed = shipments.list_page(merchant_id, {"stage": stage, "page_size": "200"})
        assert listed["next_cursor"] is None
        assert {r["order_id"] for r in listed["shipments"]} == truth[stage], stage
        if known is not None:
            known[stage] = truth[stage]


def check_one_order_per_number(merchant_id: str, orders: list[dict], items: list[dict] | None = None) -> None:
    by_number: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for o in orders:
        by_number[(o["marketplace"], o["marketplace_order_no"])].append(o)
    lookups = None
    if items is not None:
        lookups = {i["pk"]: i for i in items if i["sk"] == "#LOOKUP"}
    for (marketplace, no), found in by_number.items():
        alive = [o for o in found if o["status"] != "deleted"]
        assert len(alive) <= 1, (marketplace, no, [(o["order_id"], o["status"]) for o in found])
        if lookups is None:
            lookup = db.get_lookup(merchant_id, marketplace, no)
        else:
            lookup = lookups.get(keys.lookup_key(merchant_id, marketplace, no)["pk"])
        assert lookup is not None, (marketplace, no)
        if alive:
            assert lookup["order_id"] == alive[0]["order_id"], (marketplace, no, lookup, alive)
        else:
            assert lookup["order_id"] in {o["order_id"] for o in found}, (marketplace, no, lookup)


def check_packing_numbers(orders: list[dict], items: list[dict]) -> None:
    numbers = [o["packing_no"] for o in orders]
    assert len(numbers) == len(set(numbers)), sorted(numbers)
    packing = {i["pk"]: i for i in items if i["sk"] == "#PACKING"}
    for o in orders:
        ref = packing.get(f"PACKING#{o['packing_no']}")
        assert ref is not None and ref["order_id"] == o["order_id"], (o["order_id"], ref)


def check_no_impossible_state(orders: list[dict]) -> None:
    for o in orders:
        stage = o.get("shipment_stage", "none")
        if o["status"] == "cancelled":
            assert stage not in ("picking", "picked", "packed", "shipped"), o
            assert not o.get("tracking"), o
        if o["status"] == "shipped":
            assert o.get("tracking"), o
        if o["status"] == "deleted":
            assert stage == "none", o


def status_steps(merchant_id: str, order: dict) -> list[tuple[str | None, str, str]]:
    """(from, to, history action) for every status the history records, oldest first: the first
    status from the creating entry, then each entry whose changes name the status."""
    history = queries.get_order_with_history(merchant_id, order["order_id"])["history"]
    steps: list[tuple[str | None, str, str]] = []
    for h in history:
        change = (h.get("changes") or {}).get("status")
        if change:
            steps.append((change[0], change[1], h["action"]))
        elif h["action"] in ("created", "registered", "created_by_relink") and not steps:
            steps.append((None, h.get("status") or "", h["action"]))
    if steps and steps[0][1] == "":  # a relink records no status: the one it was created with
        first = steps[1][0] if len(steps) > 1 else order["status"]
        steps[0] = (None, first, steps[0][2])
    return steps


def check_history_follows_table(merchant_id: str, order: dict) -> None:
    steps = status_steps(merchant_id, order)
    assert steps and steps[0][0] is None, (order["order_id"], steps)
    assert steps[0][1] in FIRST_STATUSES, (order["order_id"], steps)
    current = steps[0][1]
    for frm, to, action in steps[1:]:
        assert frm == current, f"{order['order_id']}: history jumps from {current} to {frm}->{to} ({action})"
        assert (frm, to) in ALLOWED, f"{order['order_id']}: {frm} -> {to} by {action} is not a transition"
        current = to
    assert current == order["status"], (order["order_id"], steps, order["status"])


@contextmanager
def counters_read_once() -> Iterator[None]:
    """Within one check nothing writes, so every read of a merchant's counters (the tab counts,
    the stage counts, a list's own) answers what the first read did: read them once per merchant
    (a read is 9 Queries; a check made three, most of a stateful step's time)."""
    real = counters.read
    seen: dict[str, dict[str, int]] = {}

    def read(merchant_id: str) -> dict[str, int]:
        if merchant_id not in seen:
            seen[merchant_id] = real(merchant_id)
        return dict(seen[merchant_id])

    counters.read = read
    try:
        yield
    finally:
        counters.read = real


class TableChecker:
    """Every check above on one merchant's orders, repeatable after each step of a test: a tab
    list is read again only when the tab's orders changed, and an order's history only when its
    version changed (the rest is read in one filtered Scan)."""

    def __init__(self, merchant_id: str):
        self.merchant_id = merchant_id
        self.tabs: dict[str, set[str]] = {}
        self.stages: dict[str, set[str]] = {}
        self.versions: dict[str, int] = {}

    def check(self) -> list[dict]:
        items = scan_items((keys.ORDER_SK, "#PACKING", "#LOOKUP"))
        orders = orders_of(self.merchant_id, items)
        with counters_read_once():
            check_counts(self.merchant_id, orders, self.tabs)
            check_stage_counts(self.merchant_id, orders, self.stages)
        check_one_order_per_number(self.merchant_id, orders, items)
        check_packing_numbers(orders, items)
        check_no_impossible_state(orders)
        for o in orders:
            if self.versions.get(o["order_id"]) != o["version"]:
                check_history_follows_table(self.merchant_id, o)
                self.versions[o["order_id"]] = o["version"]
        return orders


def check_all(merchant_id: str) -> list[dict]:
    """Every check above on one merchant's orders, once; returns the orders."""
    return TableChecker(merchant_id).check()
