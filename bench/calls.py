"""Items 1 and 2: AWS calls and DynamoDB capacity units per operation, on moto in-process.

WARM = after one call of the same kind filled the in-process caches (merchant profile 60 s, item
mappings 60 s); COLD = right after the caches were cleared (a fresh Lambda container)."""

from __future__ import annotations

import contextlib
import itertools
from datetime import datetime, timedelta

from bench import awsmeter
from bench.common import Section, envelope, fmt, shopify_body
from tests.support.factories import change, later
from tests.support.moto_env import SECRETS, moto_app

_numbers = itertools.count(70001)


def _clear_caches() -> None:
    from orderhub.merchants import profiles
    from orderhub.orders import mappings

    profiles.clear_cache()
    mappings.clear_cache()


def _measure(meter: awsmeter.Meter, fn) -> dict:
    with meter.scope() as calls:
        fn()
    return awsmeter.summarize(calls)


def _operations():
    """(name, prepare, run) triples; prepare() returns the argument run() needs, unmetered."""
    from orderhub.domain import actions
    from orderhub.orders import lifecycle, queries
    from orderhub.webhooks import ingest, receiver
    from scripts.send_webhook import build_request

    def receive_prep():
        n = next(_numbers)
        body = shopify_body(n)
        headers = build_request(
            "shopify", body, SECRETS["demo"]["shopify"], "orders/create", f"r{n}", later(1)
        )
        return body, headers

    def receive_run(arg):
        body, headers = arg
        receiver.receive("shopify", "demo", headers, body, later(1))

    def new_prep():
        n = next(_numbers)
        return envelope(change(str(n)), f"n{n}")

    def existing(method="card", paid=True):
        n = next(_numbers)
        ingest.process(envelope(change(str(n), method=method, paid=paid), f"c{n}"))
        return n

    def update_prep():
        n = existing()
        return envelope(change(str(n), "updated", updated_at=later(5), name="Updated"), f"u{n}")

    def duplicate_prep():
        n = existing()
        return envelope(change(str(n)), f"c{n}")

    def stale_prep():
        n = next(_numbers)
        ingest.process(envelope(change(str(n), updated_at=later(10)), f"c{n}"))
        return envelope(change(str(n), "updated", updated_at=later(5), name="Old"), f"s{n}")

    def process_run(body):
        ingest.process(body)

    def confirm_prep():
        n = existing(method="konbini", paid=True)  # paid konbini: status new, confirmable
        [order] = queries.list_orders("demo", {"q": str(n)})["orders"]
        return order["order_id"]

    def confirm_run(order_id):
        lifecycle.apply("demo", order_id, actions.confirm, actor="merchant")

    def fulfill_prep():
        n = existing(method="marketplace")  # released at once: status new, fulfillable
        [order] = queries.list_orders("demo", {"q": str(n)})["orders"]
        return order["order_id"], f"{900000000000 + n}"  # a Yamato number (12 digits), unused

    def fulfill_run(arg):
        from orderhub.fulfillment import shipping

        order_id, number = arg
        new = shipping.fulfill("demo", order_id, {"carrier": "yamato", "tracking_number": number})
        assert new["status"] == "shipped"

    def merchant_cancel_prep():
        n = existing(method="marketplace")  # status new, stage none: cancelled at once
        [order] = queries.list_orders("demo", {"q": str(n)})["orders"]
        return order["order_id"]

    def merchant_cancel_run(order_id):
        from orderhub.sync import reflect

        new, _ = lifecycle.apply(
            "demo", order_id, lambda o, now: actions.cancel(o, "", now), actor="merchant"
        )
        reflect.after_merchant_cancel(new)
        assert new["status"] == "cancelled"

    def picking_prep():
        """An order the warehouse is picking: a merchant cancel starts the cancel flow."""
        n = next(_numbers)
        ingest.process(envelope(change(str(n), method="marketplace", item_code="ITEM-1"), f"p{n}"))
        [order] = queries.list_orders("demo", {"q": str(n)})["orders"]
        oid = order["order_id"]
        for act in (actions.confirm, actions.ship_request):
            lifecycle.apply("demo", oid, act, actor="merchant")
        lifecycle.apply(
            "demo",
            oid,
            lambda o, now: actions.warehouse_stage(o, "picking", None, None, now),
            actor="warehouse",
        )
        # in picking a merchant cancel is a paid request: the merchant accepts the fee
        lifecycle.apply("demo", oid, lambda o, now: actions.cancel(o, "", now, True), actor="merchant")
        return {"merchant_id": "demo", "order_id": oid, "source": "merchant", "kind": "cancel"}

    def cancel_flow_run(flow):
        """The cancel flow's Lambda steps when the warehouse accepts: LoadAndDecide, the
        waitForTaskToken request, then WarehouseAccepted (the state machine's own transitions and
        the warehouse's answer, a GetItem + UpdateItem + SendTaskSuccess, are not counted)."""
        from orderhub.sync import flows

        out = flows.load_and_decide(flow)
        assert out["branch"] == "RequestWarehouse", out["branch"]
        flows.request_warehouse(out, "token")
        assert flows.warehouse_accepted(out)["result"] == "cancelled"

    return [
        ("webhook receive (Shopify, signed)", receive_prep, receive_run),
        ("webhook process: new order", new_prep, process_run),
        ("webhook process: update", update_prep, process_run),
        ("webhook process: duplicate delivery", duplicate_prep, process_run),
        ("webhook process: stale update", stale_prep, process_run),
        ("confirm (lifecycle.apply + actions.confirm)", confirm_prep, confirm_run),
        ("fulfill (POST /orders/{id}/fulfill: shipping.fulfill)", fulfill_prep, fulfill_run),
        ("merchant cancel before picking (+ reflect check)", merchant_cancel_prep, merchant_cancel_run),
        ("cancel flow, warehouse accepts (the flow's Lambda steps)", picking_prep, cancel_flow_run),
    ]


@contextlib.contextmanager
def _fresh_app(at: datetime):
    """A fresh moto app (a new table: only what the caller puts there is due), clock frozen at `at`."""
    from orderhub.kernel import clock

    with moto_app():
        clock.freeze(at)
        try:
            yield
        finally:
            clock.freeze(None)


def _prime(warm: bool, merchant: str = "demo") -> None:
    """Fill the caches a sweep reads (warm) or clear them (cold: a fresh container)."""
    from orderhub.merchants import profiles
    from orderhub.orders import mappings

    if warm:
        profiles.get_profile(merchant)
        mappings.codes_for(merchant, "shopify", ())
    else:
        _clear_caches()


def _expect(result: dict, **counts: int) -> dict:
    """Stop when a sweep did not process what was set up (a broken setup would print zeros)."""
    got = {k: result.get(k) for k in counts}
    assert got == counts, f"sweep result {result}, expected {counts}"
    return result


def _sweep(meter: awsmeter.Meter, due: int, warm: bool) -> dict:
    """A hold sweep over `due` due orders (a fresh table: only these are due)."""
    from orderhub.schedules import sweeps
    from orderhub.webhooks import ingest

    with _fresh_app(later(1)):
        for i in range(due):
            ingest.process(envelope(change(f"S{i}"), f"sw{i}"))
        _prime(warm)
        return _measure(meter, lambda: _expect(sweeps.hold_sweep(later(61)), due=due, released=due))


@contextlib.contextmanager
def _fake_marketplace():
    """The fake marketplace of the relink tests, with the client's retry sleep off and a short
    timeout (as their `setup` fixture does), its origin allowed as the local cloud allows it."""
    from localcloud.fake_marketplace import FakeMarketplace
    from orderhub.marketplaces import client as mc
    from tests.support.outbound import allowing

    saved = mc.sleep, mc.TIMEOUT_SECONDS
    mc.sleep, mc.TIMEOUT_SECONDS = (lambda s: None), 1.0
    try:
        with FakeMarketplace() as fake, allowing(fake.url):
            yield fake
    finally:
        mc.sleep, mc.TIMEOUT_SECONDS = saved


def _relink(meter: awsmeter.Meter, due: int, warm: bool) -> dict:
    """A relink sweep over `due` deleted Shopify orders whose relink was requested, 10 minutes
    after the requests (set up as tests/integration/test_relink.py does, at its NOW)."""
    from orderhub.closeout import relink
    from orderhub.kernel import clock
    from tests.integration.test_reflect_refresh import NOW
    from tests.integration.test_relink import deleted_api_order, requested

    with _fresh_app(NOW), _fake_marketplace() as fake:
        for _ in range(due):
            gone, _ = deleted_api_order(fake)
            requested(gone)
        clock.freeze(NOW + timedelta(minutes=10))
        _prime(warm)
        sent = len(fake.calls())
        result = _measure(meter, lambda: _expect(relink.sweep(), due=due, relinked=due))
        assert len(fake.calls()) - sent == due, "one marketplace fetch per relinked order"
    return result


# 12:00 on 1 Dec in Tokyo: an order released at 13:01 on 25 Nov was due at 13:01 on 30 Nov
PAST_DEADLINE = later(6 * 24 * 60)


def _deadline(meter: awsmeter.Meter, due: int, warm: bool) -> dict:
    """A deadline check over `due` released, unshipped orders past their deadline (a fresh table;
    the demo merchant has no marketplace API, so the reflect of each refund sends nothing). The
    merchant turns Shopify's auto_refund_overdue on (off by default), so each order is refunded."""
    from orderhub.kernel import clock
    from orderhub.schedules import sweeps
    from orderhub.sync import integrations
    from orderhub.webhooks import ingest

    with _fresh_app(later(1)):
        integrations.put("demo", "shopify", {"auto_refund_overdue": True})
        for i in range(due):
            ingest.process(envelope(change(f"L{i}"), f"dl{i}"))
        clock.freeze(later(61))
        _expect(sweeps.hold_sweep(later(61)), released=due)
        clock.freeze(PAST_DEADLINE)
        _prime(warm)
        return _measure(meter, lambda: _expect(sweeps.deadline_check(PAST_DEADLINE), due=due, refunded=due))


def _pulled(fake, changed: int) -> None:
    """The demo merchant pulls ecforce (the orderhub protocol) from the fake marketplace, where
    `changed` orders changed."""
    import copy

    from orderhub.store import db
    from orderhub.sync import integrations
    from tests.integration.test_reflect_refresh import NOW
    from tests.support.http import load_event

    integrations.put(
        "demo", "ecforce", {"api_base_url": fake.base_url("ecforce"), "api_token": "tok", "pull": True}
    )
    db.set_pull_enabled("demo", "ecforce", True)
    for i in range(changed):
        order = copy.deepcopy(load_event("generic/order_created.json")["order"])
        at = (NOW - timedelta(minutes=30 - i)).isoformat()
        order.update(order_no=f"P{i}", placed_at=at, updated_at=at)
        fake.put_order("ecforce", order)


def _pull(meter: awsmeter.Meter, due: int, warm: bool) -> dict:
    """A pull run over one integration where `due` orders changed (docs/pull.md)."""
    from orderhub.pull import service
    from tests.integration.test_reflect_refresh import NOW

    with _fresh_app(NOW), _fake_marketplace() as fake:
        _pulled(fake, due)
        _prime(warm)
        sent = len(fake.calls())
        result = _measure(meter, lambda: _expect(service.run(NOW), queued=due))
        assert len(fake.calls()) - sent == 1, "one marketplace page"
    return result


def _quiet_pull(meter: awsmeter.Meter) -> dict:
    """The run after: nothing new (the overlap reads the three changes again, remembered)."""
    from orderhub.pull import service
    from tests.integration.test_reflect_refresh import NOW

    with _fresh_app(NOW), _fake_marketplace() as fake:
        _pulled(fake, 3)
        service.run(NOW)
        _prime(True)
        sent = len(fake.calls())
        result = _measure(meter, lambda: _expect(service.run(NOW), queued=0, already_queued=3))
        assert len(fake.calls()) - sent == 1, "one marketplace call"
    return result


SWEEPS = (  # (figures key, row name, note in the calls row, run(meter, due, warm))
    ("sweep", "hold sweep, per due item", "", _sweep),
    (
        "relink",
        "relink sweep, per relinked order",
        "+ 1 marketplace HTTP GET per order: not AWS, not counted",
        _relink,
    ),
    (
        "deadline",
        "deadline check, per refunded order",
        "no marketplace API configured: the reflect sends nothing",
        _deadline,
    ),
    (
        "pull",
        "pull run, per pulled order",
        "+ 1 marketplace HTTP GET per page of 100: not AWS, not counted",
        _pull,
    ),
)
SWEEP_DUE = 5


def _sweep_runs(meter: awsmeter.Meter, run_sweep) -> dict:
    """A sweep with 1 and with SWEEP_DUE due items, warm and cold, each in a fresh app."""
    return {
        "warm1": run_sweep(meter, 1, True),
        "warmn": run_sweep(meter, SWEEP_DUE, True),
        "cold1": run_sweep(meter, 1, False),
        "coldn": run_sweep(meter, SWEEP_DUE, False),
    }


def _sweep_rows(name: str, note: str, runs: dict) -> tuple[list, list, dict]:
    """The calls row and the capacity row of a sweep, per due item (the marginal of SWEEP_DUE vs 1),
    and its figures."""
    n = SWEEP_DUE
    warm1, cold1 = runs["warm1"], runs["cold1"]
    per, cper = _marginal(warm1, runs["warmn"], n), _marginal(cold1, runs["coldn"], n)
    cold_txt = (
        f"sweep of 1 due: {cold1['calls']} cold ({_ops_text(cold1['ops'])}) vs {warm1['calls']} warm;"
        f" fixed part per sweep {fmt(warm1['calls'] - per['calls'], 1)}"
    )
    if cper["ops"] != per["ops"]:
        cold_txt += f"; {fmt(cper['calls'], 1)} per item cold ({_ops_fmt(cper['ops'])})"
    row = [
        f"{name} (marginal, {n} vs 1 due{'; ' + note if note else ''})",
        fmt(per["calls"], 1),
        _ops_fmt(per["ops"]),
        fmt(per["ddb_calls"], 1),
        cold_txt,
    ]
    figures = {**runs, "per": per, "cold_per": cper, "per_item_calls": per["calls"]}
    return row, _caprow(f"{name} ({n} due, marginal)", per), figures


DIGEST_MERCHANTS = ("demo", "demo2", "dg3", "dg4")


def _digest(meter: awsmeter.Meter, merchants_n: int, warm: bool) -> dict:
    """A daily digest over `merchants_n` merchants with 2 unfulfilled orders each (a fresh table)."""
    from orderhub.merchants import profiles
    from orderhub.schedules import digest
    from orderhub.webhooks import ingest

    with _fresh_app(later(1)):
        ids = DIGEST_MERCHANTS[:merchants_n]
        for mid in ids:
            if mid not in SECRETS:
                profiles.put_profile(mid, {"shopify": f"shp-secret-{mid}"})
            for i in range(2):
                ingest.process(envelope(change(f"D{i}", method="marketplace"), f"dg{mid}{i}", merchant=mid))
        if warm:
            for mid in ids:
                profiles.get_profile(mid)
        else:
            _clear_caches()
        return _measure(meter, lambda: digest.daily_digest(later(60)))


def _marginal(one: dict, many: dict, n: int) -> dict:
    """Per-unit figures from a run with 1 and a run with n units: (many - one) / (n - 1)."""
    ops = {k: (many["ops"].get(k, 0) - one["ops"].get(k, 0)) / (n - 1) for k in many["ops"]}
    return {
        "calls": (many["calls"] - one["calls"]) / (n - 1),
        "ops": {k: v for k, v in ops.items() if v},
        "ddb_calls": (many["ddb_calls"] - one["ddb_calls"]) / (n - 1),
        "rcu": (many["rcu"] - one["rcu"]) / (n - 1),
        "wcu": (many["wcu"] - one["wcu"]) / (n - 1),
        "index_wcu": (many["index_wcu"] - one["index_wcu"]) / (n - 1),
        "indexes": {
            k: (many["indexes"].get(k, 0) - one["indexes"].get(k, 0)) / (n - 1) for k in many["indexes"]
        },
    }


def _ops_text(ops: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(ops.items()))


def _ops_fmt(ops: dict) -> str:
    """Per-unit (fractional) counts by operation."""
    return ", ".join(f"{k} {fmt(v, 1)}" for k, v in sorted(ops.items()))


def run(quick: bool = False) -> tuple[Section, Section, dict]:
    calls = Section("1. AWS calls per operation (moto in-process)")
    cap = Section("2. DynamoDB capacity units per operation (computed from item sizes)")
    figures: dict = {}
    rows, caprows = [], []
    with awsmeter.Meter() as meter:
        with _fresh_app(later(1)):
            for name, prep, fn in _operations():
                _clear_caches()
                arg = prep()
                _clear_caches()
                cold = _measure(meter, lambda fn=fn, arg=arg: fn(arg))
                arg = prep()
                warm = _measure(meter, lambda fn=fn, arg=arg: fn(arg))
                figures[name] = {"warm": warm, "cold": cold}
                cold_txt = (
                    "same" if cold["ops"] == warm["ops"] else f"{cold['calls']}: {_ops_text(cold['ops'])}"
                )
                rows.append([name, warm["calls"], _ops_text(warm["ops"]), warm["ddb_calls"], cold_txt])
                caprows.append(_caprow(name, warm))
        sweep_runs = {key: _sweep_runs(meter, run_sweep) for key, _, _, run_sweep in SWEEPS}
        k = len(DIGEST_MERCHANTS)
        quiet = _quiet_pull(meter)
        d1, dk = _digest(meter, 1, True), _digest(meter, k, True)
        c1, ck = _digest(meter, 1, False), _digest(meter, k, False)
    for key, name, note, _ in SWEEPS:
        row, caprow, figures[key] = _sweep_rows(name, note, sweep_runs[key])
        rows.append(row)
        caprows.append(caprow)
    dper, cper = _marginal(d1, dk, k), _marginal(c1, ck, k)
    figures["digest"] = {"warm1": d1, "warmk": dk, "cold1": c1, "coldk": ck, "per": dper, "cold_per": cper}
    fixed_ops = {op: v - dper["ops"].get(op, 0) for op, v in d1["ops"].items() if v - dper["ops"].get(op, 0)}
    rows.append(
        [
            f"daily digest, per merchant (marginal, {k} vs 1 merchants, 2 orders each)",
            fmt(dper["calls"], 1),
            _ops_fmt(dper["ops"]),
            fmt(dper["ddb_calls"], 1),
            f"{fmt(cper['calls'], 1)} per merchant cold ("
            + _ops_fmt(cper["ops"])
            + f"); fixed part per run {fmt(d1['calls'] - dper['calls'], 1)} warm ({_ops_text(fixed_ops)})",
        ]
    )
    caprows.append(_caprow(f"daily digest, per merchant (warm, marginal of {k} vs 1)", dper))
    figures["quiet_pull"] = quiet
    rows.append(
        [
            "pull run with nothing new (one integration; 1 marketplace GET, not counted)",
            quiet["calls"],
            _ops_text(quiet["ops"]),
            quiet["ddb_calls"],
            "",
        ]
    )
    caprows.append(_caprow("pull run with nothing new", quiet))
    calls.targets.append(
        (
            "a pull run with nothing new writes nothing",
            "0 writes",
            f"{quiet['wcu']} WCU ({_ops_text(quiet['ops'])})",
            quiet["wcu"] == 0,
        )
    )
    calls.add(
        "Warm: after one call of the same kind filled the in-process caches. Cold: caches cleared",
        "first (a fresh container; the profile and mapping reads appear). Counted by patching",
        "`botocore.client.BaseClient._make_api_call` (every client and resource call).",
        "Sweeps: per due item = (a sweep of 5 due - a sweep of 1 due) / 4, each in a fresh table;",
        "the cold column adds the cold figure per item only where it differs from the warm one. The",
        "relink sweep fetches each order from the (fake) marketplace over HTTP: not an AWS call, not",
        "counted. A deadline refund writes the order, its history, the counters, the violation and",
        "the order's SKU flags in one transaction.",
        "",
    )
    calls.table(["operation", "AWS calls (warm)", "by operation (warm)", "DynamoDB calls", "cold"], rows)
    cap.add(
        "Warm figures. RCU/WCU on the base table by the rules in `bench/awsmeter.py` (4 KB reads,",
        "1 KB writes of the larger of before/after, transactions doubled); index WCU = writes of the",
        "projected item (its projection: the whole item, or the keys and the attributes it includes)",
        "to each GSI the item enters, leaves, or changes a key or projected attribute in (not doubled).",
        "",
    )
    cap.table(
        ["operation", "RCU", "WCU (table)", "WCU (indexes)", "total WCU", "indexes written (writes)"], caprows
    )
    _pull_model(calls, figures["pull"])
    receive = figures["webhook receive (Shopify, signed)"]["warm"]
    new = figures["webhook process: new order"]["warm"]
    calls.targets.append(
        (
            "webhook receive = 1 AWS call (warm)",
            "1",
            f"{receive['calls']} ({_ops_text(receive['ops'])})",
            receive["calls"] == 1,
        )
    )
    calls.targets.append(
        (
            "process a new order <= 2 DynamoDB calls (warm)",
            "<= 2",
            f"{new['ddb_calls']} ({_ops_text(new['ops'])})",
            new["ddb_calls"] <= 2,
        )
    )
    return calls, cap, figures


PULL_MODEL_ORDERS = (1, 100, 10_000)


def _pull_model(section: Section, pull: dict) -> None:
    """The pull's AWS cost at 1, 100 and 10,000 changed orders: a model built from the measured
    figures (the per-order marginal, and the fixed part of a one-order run: the list Query and
    one item write), with the service's page and run sizes."""
    import math

    from orderhub.domain import pull as rules

    per, one = pull["per"], pull["warm1"]
    fixed = {op: v - per["ops"].get(op, 0) for op, v in one["ops"].items() if v - per["ops"].get(op, 0)}
    query, update = fixed.get("dynamodb.Query", 0), fixed.get("dynamodb.UpdateItem", 0)
    page_wcu, run_rcu = one["wcu"] - per["wcu"], one["rcu"] - per["rcu"]
    rows = []
    for n in PULL_MODEL_ORDERS:
        pages = math.ceil(n / rules.PAGE_LIMIT)
        runs = math.ceil(pages / rules.MAX_PAGES_PER_RUN)
        aws_calls = runs * query + pages * update + n * per["calls"]
        wcu = pages * page_wcu + n * per["wcu"]
        rows.append(
            [f"{n:,}", runs, pages, fmt(aws_calls, 0), fmt(runs * run_rcu + n * per["rcu"], 1), fmt(wcu, 1)]
        )
    section.add(
        "",
        "Pull cost at n changed orders (a model, not a run: the measured per-order marginal plus,",
        f"per run, the list Query and, per page of {rules.PAGE_LIMIT} orders, one write of the integration's",
        f"item, costed as in the one-order run; at most {rules.MAX_PAGES_PER_RUN} pages a run). The item",
        "grows with the changes it remembers (those within 5 minutes of the newest: about 40 bytes",
        "each), so a page whose 100 orders all changed within 5 minutes writes about 5 WCU, not 1.",
        "The processor's cost per order comes on top",
        '("webhook process: new order"). Marketplace calls are not AWS calls (docs/pull.md).',
        "",
    )
    section.table(["changed orders", "runs", "pages", "AWS calls", "RCU", "WCU"], rows)


def _caprow(name: str, s: dict) -> list:
    idx = ", ".join(
        f"{k} ({fmt(v, 1) if isinstance(v, float) else v})" for k, v in sorted(s["indexes"].items())
    )
    return [
        name,
        fmt(s["rcu"], 1),
        fmt(s["wcu"], 1),
        fmt(s["index_wcu"], 1),
        fmt(s["wcu"] + s["index_wcu"], 1),
        idx or "none",
    ]
