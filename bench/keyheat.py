"""Item 8: key heat, a model. Which partition keys of the table and of its indexes a busy
merchant, or a busy platform, writes beyond DynamoDB's per-key limit, and how often the order
transactions of one merchant would collide on one item.

Measured: a sample of orders taken through their lifecycle by the real code (webhooks, the
warehouse's stage reports, the merchant's actions, the hold sweep and the deadline check) on moto
in-process, with every write metered by bench/awsmeter.py: the item written and, per index, the
partition key value written or removed, each with its write units.

Computed: the write rate per partition key at a given arrival rate of new orders (each new order
followed by the sample's mix of later operations), for one merchant and for orders spread evenly
over many; and the chance that a transaction finds another one in flight on the same item.
moto models neither partition limits nor transaction conflicts, so nothing here was observed
under load."""

from __future__ import annotations

import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bench.common import Section, fmt

KEY_LIMIT_WCU = 1_000  # DynamoDB: per partition key, for a table and for each global index alike
RATES = (10, 100, 300, 1_000)  # new orders per second
MERCHANTS = (1, 1_000)
TX_SECONDS = (0.010, 0.025)  # the assumed duration of one TransactWriteItems (see _conflict_text)

# Placeholders of values that belong to one order: a key that holds one is written by that
# order's lifecycle alone, however many orders arrive.
ONE_ORDER = ("<order>", "<order_no>", "<packing_no>", "<tracking>", "<delivery>")
MERCHANT = "<m>"
_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T")
_RANDOM_ID = re.compile(r"^[a-z]{1,3}_[0-9a-f]{8,}$")  # sy_<hex>, q_<hex>: ids made with a random part
_HISTORY = "H#"  # an order's history items (store/keys.py history_sk)

TABLE = "table"
LIST_INDEXES = ("by_placed", "by_updated", "by_status_placed", "by_status_updated")
SHARD = "<shard>"
# The design before the keys were sharded (docs/data-model.md, "Key heat"): its sample is taken
# in the same run, with that commit's orderhub package, for the before/after tables.
BEFORE = "b257b103250b"


# ------------------------------------------------------------------ the pure parts
def key_pattern(value: object, names: Mapping[str, str]) -> str:
    """A key value with its variable segments named: `MERCHANT#demo` -> `MERCHANT#<m>` when
    `names` maps `demo` to `<m>`. Timestamps become `<at>`, random ids (`sy_<hex>`) `<id>`, other
    all-digit segments `<n>`; a history sort key is `H#<at>#<n>#<rand>`, a counters delta's
    `D#<at>#<order>#<rand>`. Segments are split on
    `#` (store/keys.py)."""
    text = str(value)
    if text.startswith(_HISTORY):
        return _HISTORY + "<at>#<n>#<rand>"
    parts = text.split("#")
    if (
        len(parts) == 4 and parts[0] == "D" and _AT.match(parts[1])
    ):  # a counters delta (keys.counter_delta_sk)
        return f"D#<at>#{names.get(parts[2], parts[2])}#<rand>"
    out = []
    for part in text.split("#"):
        if part in names:
            out.append(names[part])
        elif _AT.match(part):
            out.append("<at>")
        elif _RANDOM_ID.match(part):
            out.append("<id>")
        elif part.isdigit():
            out.append("<n>")
        else:
            out.append(part)
    return "#".join(out)


def sharded_pattern(where: str, pattern: str) -> tuple[str, int]:
    """A key pattern with its shard segment named `<shard>`, and how many shards the key has
    (store/keys.py: the counters' partitions, by_due, by_stage and a merchant's lists); any other
    pattern as it is, with 1. A reader of the sample's keys sees each shard as its own key: the
    rate on one shard is the pattern's rate over the shard count (order ids hash evenly)."""
    from orderhub.store import keys

    if not pattern.endswith("#<n>"):
        return pattern, 1
    base = pattern[: -len("#<n>")]
    where = where.removesuffix("_slim")  # a slim index has the keys of the index it replaces
    if where == "by_due" and base in ("HOLD", "RELINK", "DEADLINE", "OVERDUE"):
        n = getattr(keys, "DUE_SHARDS", 1)
    elif where == "by_stage" and base.startswith("STAGE#"):
        n = getattr(keys, "STAGE_SHARDS", 1)
    elif where in LIST_INDEXES and base.startswith(MERCHANT):
        n = getattr(keys, "LIST_SHARDS", 1)
    elif where == TABLE and base.endswith("#CNT"):
        n = getattr(keys, "COUNTER_SHARDS", 1)
    else:
        return pattern, 1
    return f"{base}#{SHARD}", n


def scope(pattern: str) -> str:
    """Who shares a key of this pattern: `order` (one order's lifecycle), `merchant` (every order
    of one merchant) or `platform` (every order of every merchant)."""
    if any(p in pattern for p in ONE_ORDER):
        return "order"
    return "merchant" if MERCHANT in pattern else "platform"


def key_rate(per_order: float, key_scope: str, orders_per_s: float, merchants: int) -> float:
    """Writes (or transactions) per second on one key of `key_scope`, when `orders_per_s` new
    orders arrive spread evenly over `merchants`, and each new order brings `per_order` of them
    to that key (its later operations included). One order's keys do not grow with the rate."""
    if key_scope == "platform":
        return per_order * orders_per_s
    if key_scope == "merchant":
        return per_order * orders_per_s / merchants
    raise ValueError(f"a key of scope {key_scope} is written by one order only")


def conflict_probability(tx_per_s: float, seconds: float) -> float:
    """P(a transaction finds another one in flight on its item), with Poisson arrivals at
    `tx_per_s` on the item and each transaction in flight for `seconds`: 1 - e^(-λ·d)."""
    return 1.0 - math.exp(-tx_per_s * seconds)


@dataclass
class Heat:
    """WCU per key pattern (`where`: the table or an index), summed over the sample."""

    wcu: Counter = field(default_factory=Counter)  # (where, pattern) -> WCU
    by_op: dict = field(default_factory=lambda: defaultdict(Counter))  # op -> (where, pattern) -> WCU
    one_key: Counter = field(default_factory=Counter)  # (where, concrete key) -> WCU (order scope)
    sk: dict = field(default_factory=lambda: defaultdict(set))  # table pk pattern -> sk patterns
    tx: Counter = field(default_factory=Counter)  # item pattern -> transactions touching it
    names: Mapping[str, str] = field(default_factory=dict)  # what key_pattern named
    shards: dict = field(default_factory=dict)  # (where, pattern) or item pattern -> shard count
    fold_tx: int = 0  # the counters fold's transactions (not an order's: see heat)

    def per_order(self, orders: int) -> dict[tuple[str, str], float]:
        """WCU per new order on ONE key of each pattern (a sharded pattern: on each shard)."""
        return {k: v / orders / self.shards.get(k, 1) for k, v in self.wcu.items()}

    def tx_per_order(self, orders: int) -> dict[str, float]:
        """Transactions per new order on one item of each pattern (of one shard, when sharded)."""
        return {p: n / orders / self.shards.get(p, 1) for p, n in self.tx.items()}


def heat(records: Iterable[tuple[str, object]], names: Mapping[str, str]) -> Heat:
    """Sum the metered calls (`(operation, awsmeter.Call)`) per key pattern."""
    h = Heat(names=names)
    for op, call in records:
        touched: set[tuple[str, str]] = set()
        for w in call.writes:
            pk, sk = w.key.get("pk"), w.key.get("sk")
            pat, n = sharded_pattern(TABLE, key_pattern(pk, names))
            h.shards[(TABLE, pat)] = n
            h.sk[pat].add(key_pattern(sk, names))
            h.wcu[(TABLE, pat)] += w.wcu
            h.by_op[op][(TABLE, pat)] += w.wcu
            h.one_key[(TABLE, str(pk))] += w.wcu
            for i in w.indexes:
                ipat, ni = sharded_pattern(i.index, key_pattern(i.pk, names))
                h.shards[(i.index, ipat)] = ni
                h.wcu[(i.index, ipat)] += i.wcu
                h.by_op[op][(i.index, ipat)] += i.wcu
                h.one_key[(i.index, str(i.pk))] += i.wcu
            if w.transactional:
                item = f"{pat}/{key_pattern(sk, names)}"
                h.shards[item] = n
                touched.add((item, f"{pk}/{sk}"))
        if op == OP_FOLD:
            # The fold's transactions on a shard run one after another: the stream hands one
            # partition's records to one consumer at a time. They race no order transaction.
            h.fold_tx += len(touched) and 1
            continue
        for item_pat, _ in touched:  # one transaction counts once per item it touches
            h.tx[item_pat] += 1
    return h


def label(where: str, pattern: str, h: Heat | None = None) -> str:
    """`MERCHANT#<m>/#COUNTS` for a table key (with the sort keys written under it), `by_due: DEADLINE`."""
    if where != TABLE:
        return f"{where}: {pattern}"
    sks = sorted(h.sk.get(pattern, ())) if h else []
    if not sks:
        return pattern
    return f"{pattern}/{sks[0]}" if len(sks) == 1 else f"{pattern}/{{{', '.join(sks)}}}"


def hottest(per_order: Mapping[tuple[str, str], float], merchants: int) -> dict[str, tuple[str, float]]:
    """Per table or index: the shared key pattern with the highest rate at one order a second
    spread over `merchants` (the ranking is the same at every rate), and its WCU per new order."""
    out: dict[str, tuple[str, float, float]] = {}
    for (where, pat), w in per_order.items():
        s = scope(pat)
        if s == "order":
            continue
        r = key_rate(w, s, 1, merchants)
        if where not in out or r > out[where][2]:
            out[where] = (pat, w, r)
    return {where: (pat, w) for where, (pat, w, _) in out.items()}


def over_limit(
    per_order: Mapping[tuple[str, str], float],
    orders_per_s: float,
    merchants: int,
    limit: float = KEY_LIMIT_WCU,
) -> list[tuple[str, str, float]]:
    """The shared keys written beyond `limit` WCU/s, hottest first: (table or index, pattern, WCU/s)."""
    out = [
        (where, pat, key_rate(w, scope(pat), orders_per_s, merchants))
        for (where, pat), w in per_order.items()
        if scope(pat) != "order"
    ]
    return sorted((o for o in out if o[2] > limit), key=lambda o: (-o[2], o[0], o[1]))


def rate_cell(wcu_per_s: float, limit: float = KEY_LIMIT_WCU) -> str:
    text = fmt(wcu_per_s, 0 if wcu_per_s >= 10 else 1)
    return f"**{text} over**" if wcu_per_s > limit else text


def percent(p: float) -> str:
    return ">99.9 %" if p > 0.999 else f"{p * 100:.{1 if p < 0.1 else 0}f} %"


# ------------------------------------------------------------------ the sample (moto, real code)
OP_NEW = "webhook: new order"
OP_UPDATE = "webhook: update"
OP_CANCEL = "webhook: cancel"
OP_CONFIRM = "merchant: confirm"
OP_SHIP = "merchant: shipment request"
OP_STAGES = ("picking", "picked", "packed", "shipped")
OP_FULFILL = "merchant: fulfill"
OP_HOLD = "hold sweep (per released order)"
OP_DEADLINE = "deadline check (per order flagged overdue)"
OP_FOLD = "counter fold, from the stream (per delta folded)"

# The lifecycle of each order of the sample, by its number modulo 10 (the mix per 10 new orders).
PATHS = (
    ("merchant ships", 4, "card with a payment hold: one update, released by the hold sweep, fulfilled"),
    (
        "warehouse ships",
        4,
        "paid through the marketplace, item mapped: confirmed, shipment requested,"
        " picking / picked / packed / shipped reported by the warehouse",
    ),
    ("cancelled", 1, "card with a payment hold, cancelled by the marketplace's webhook"),
    (
        "late",
        1,
        "paid through the marketplace, never shipped: flagged overdue by the deadline check"
        " (auto-refund off, the default)",
    ),
)


def _path(i: int) -> str:
    n = i % 10
    for name, share, _ in PATHS:
        if n < share:
            return name
        n -= share
    raise AssertionError(i)


def sample(
    meter, orders: int, seconds: Counter | None = None
) -> tuple[list[tuple[str, object]], dict[str, str], Counter]:
    """Take `orders` orders of merchant demo through their lifecycle on a fresh moto table, the
    clock frozen at each step. Returns the metered calls by operation, the variable values
    (merchant, order ids, numbers...) for key_pattern, and how many of each operation ran.
    `seconds`, when given, adds up each operation's wall time on this machine (bench/cost.py)."""
    from bench.calls import PAST_DEADLINE, _fresh_app
    from bench.common import envelope
    from orderhub.domain import actions
    from orderhub.fulfillment import shipping
    from orderhub.fulfillment.warehouse import report_stage
    from orderhub.kernel import clock
    from orderhub.orders import lifecycle
    from orderhub.schedules import sweeps
    from orderhub.store import db
    from orderhub.webhooks import ingest
    from tests.support.factories import change, later

    records: list[tuple[str, object]] = []
    counts: Counter = Counter()
    names = {"demo": MERCHANT, "SKU-1": "<sku>"}

    def metered(op: str, fn, n: int = 1):
        started = time.perf_counter()
        with meter.scope() as calls:
            result = fn()
        if seconds is not None:
            seconds[op] += time.perf_counter() - started
        records.extend((op, c) for c in calls)
        counts[op] += n
        return result

    def act(oid: str, action, actor: str = "merchant"):
        return lifecycle.apply("demo", oid, action, actor=actor)[0]

    def fold_counters() -> None:
        """What the counters' stream function does after each batch (store/counters.py): fold the
        merchant's delta items into their shards' bases. The design before had no delta items."""
        try:
            from orderhub.store import counters, keys
        except ImportError:
            return
        pks = keys.counter_shard_pks("demo")
        folded = metered(OP_FOLD, lambda: sum(counters.fold(pk) for pk in pks), 0)
        counts[OP_FOLD] += folded

    paths = {i: _path(i) for i in range(orders)}
    ids: dict[int, str] = {}
    with _fresh_app(later(1)):
        for i, path in paths.items():
            no, dlv = f"K{i:05d}", f"kh{i}"
            paid_by_marketplace = path in ("warehouse ships", "late")
            ch = change(
                no,
                method="marketplace" if paid_by_marketplace else "card",
                item_code="ITEM-1" if path == "warehouse ships" else None,
            )
            outcome = metered(OP_NEW, lambda ch=ch, dlv=dlv: ingest.process(envelope(ch, dlv)))
            assert outcome == "applied", outcome
            oid = db.get_lookup("demo", "shopify", no)["order_id"]
            ids[i] = oid
            names.update({no: "<order_no>", dlv: "<delivery>", oid: "<order>"})
            names[db.get_order("demo", oid)["packing_no"]] = "<packing_no>"

        fold_counters()
        clock.freeze(later(5))
        for i, path in paths.items():
            no = f"K{i:05d}"
            if path == "merchant ships":
                ch, op = change(no, "updated", updated_at=later(5), name="Updated"), OP_UPDATE
            elif path == "cancelled":
                ch, op = change(no, "cancelled", updated_at=later(5)), OP_CANCEL
            else:
                continue
            names[f"ku{i}"] = "<delivery>"
            outcome = metered(op, lambda ch=ch, i=i: ingest.process(envelope(ch, f"ku{i}")))
            assert outcome == "applied", outcome

        fold_counters()
        clock.freeze(later(10))
        for i, path in paths.items():
            if path != "warehouse ships":
                continue
            oid = ids[i]
            metered(OP_CONFIRM, lambda oid=oid: act(oid, actions.confirm))
            order = metered(OP_SHIP, lambda oid=oid: act(oid, actions.ship_request))
            for step, stage in enumerate(OP_STAGES, start=1):
                clock.freeze(later(10 + step))
                body = {"stage": stage}
                if stage == "shipped":
                    number = f"{800000000000 + i}"  # a Yamato number (12 digits)
                    names[number] = "<tracking>"
                    body |= {"carrier": "yamato", "tracking_number": number}
                metered(
                    f"warehouse: {stage}",
                    lambda p=order["packing_no"], body=body: report_stage(p, body),
                )
            assert db.get_order("demo", oid)["status"] == "shipped"

        fold_counters()
        clock.freeze(later(61))
        held = sum(1 for p in paths.values() if p == "merchant ships")
        result = metered(OP_HOLD, lambda: sweeps.hold_sweep(later(61)), held)
        assert result["released"] == held, result

        fold_counters()
        clock.freeze(later(62))
        for i, path in paths.items():
            if path != "merchant ships":
                continue
            number = f"{900000000000 + i}"
            names[number] = "<tracking>"
            new = metered(
                OP_FULFILL,
                lambda oid=ids[i], number=number: shipping.fulfill(
                    "demo", oid, {"carrier": "yamato", "tracking_number": number}
                ),
            )
            assert new["status"] == "shipped", new["status"]

        fold_counters()
        clock.freeze(PAST_DEADLINE)
        late = sum(1 for p in paths.values() if p == "late")
        result = metered(OP_DEADLINE, lambda: sweeps.deadline_check(PAST_DEADLINE), late)
        assert result["due"] == late and result["overdue"] == late, result
        fold_counters()
    return records, names, counts


# ------------------------------------------------------------------ the section
def measure(orders: int) -> tuple[Heat, Counter]:
    """The sample on moto with the orderhub package on the path, summed per key pattern."""
    from bench import awsmeter

    with awsmeter.Meter() as meter:
        records, names, counts = sample(meter, orders)
    return heat(records, names), counts


def to_json(h: Heat, counts: Counter) -> dict:
    def rows(c: Mapping) -> list:
        return [[*k, v] if isinstance(k, tuple) else [k, v] for k, v in c.items()]

    return {
        "wcu": rows(h.wcu),
        "by_op": {op: rows(c) for op, c in h.by_op.items()},
        "one_key": rows(h.one_key),
        "sk": {p: sorted(v) for p, v in h.sk.items()},
        "tx": rows(h.tx),
        "names": dict(h.names),
        "shards": rows(h.shards),
        "fold_tx": h.fold_tx,
        "counts": dict(counts),
    }


def from_json(d: dict) -> tuple[Heat, Counter]:
    def counter(rows: list) -> Counter:
        return Counter({(tuple(r[:-1]) if len(r) > 2 else r[0]): r[-1] for r in rows})

    h = Heat(names=d["names"])
    h.wcu = counter(d["wcu"])
    for op, rows in d["by_op"].items():
        h.by_op[op] = counter(rows)
    h.one_key = counter(d["one_key"])
    for p, v in d["sk"].items():
        h.sk[p] = set(v)
    h.tx = counter(d["tx"])
    h.shards = dict(counter(d["shards"]))
    h.fold_tx = d.get("fold_tx", 0)
    return h, Counter(d["counts"])


def measure_before(orders: int) -> tuple[Heat, Counter] | str:
    """The same sample with the orderhub package of commit BEFORE (a git worktree, a child
    process), or why it could not be taken."""
    import json
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from bench import ROOT
    from bench.imports import _checkout

    try:
        with _checkout(BEFORE) as tree, tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "heat.json"
            env = {**os.environ, "PYTHONPATH": f"{tree / 'layers' / 'shared'}{os.pathsep}{ROOT}"}
            subprocess.run(
                [sys.executable, "-m", "bench.keyheat", str(orders), str(out)],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            return from_json(json.loads(out.read_text()))
    except subprocess.CalledProcessError as exc:
        return f"the sample failed on {BEFORE}: {(exc.stderr or '').strip().splitlines()[-1:]}"
    except (SystemExit, OSError) as exc:
        return f"commit {BEFORE} could not be checked out ({exc})"


def run(quick: bool = False) -> Section:
    orders = 40 if quick else 200
    h, counts = measure(orders)
    before = measure_before(orders)
    sec = Section("8. Key heat (a model)")
    _intro(sec, orders)
    per_order = h.per_order(orders)
    _compare(sec, before, h, counts, orders)
    _operations(sec, h, counts, orders)
    _shared_keys(sec, h, per_order)
    _hottest(sec, h, per_order)
    _one_order(sec, h)
    _conflicts(sec, h, orders)
    return sec


def _compare(sec: Section, before: tuple[Heat, Counter] | str, h: Heat, counts: Counter, orders: int) -> None:
    """Before (commit BEFORE: one counters item, unsharded index keys) and after, from one run."""
    if isinstance(before, str):
        sec.add(f"Before and after: the design before could not be measured in this run: {before}.", "")
        return
    hb, cb = before
    designs = ((f"before (`{BEFORE}`)", hb, cb), ("after (this tree)", h, counts))
    rows = []
    for m, r in ((1, 300), (MERCHANTS[-1], 1_000)):
        who = "1 merchant" if m == 1 else f"{m:,} merchants"
        cells_hot, cells_over = [], []
        for _, heat_, _ in designs:
            po = heat_.per_order(orders)
            hot = hottest(po, m)
            top = max(((w, p, key_rate(v, scope(p), r, m)) for w, (p, v) in hot.items()), key=lambda t: t[2])
            cells_hot.append(f"`{label(top[0], top[1], heat_)}` {rate_cell(top[2])}")
            over = over_limit(po, r, m)
            cells_over.append(
                str(len(over))
                + (": " + ", ".join(f"`{label(w, p, heat_)}`" for w, p, _ in over) if over else "")
            )
        rows.append([f"hottest key at {r:,} new orders/s, {who} (WCU/s)", *cells_hot])
        rows.append([f"keys over {KEY_LIMIT_WCU:,} WCU/s at {r:,} new orders/s, {who}", *cells_over])
    cells = []
    for _, heat_, _ in designs:
        shared = {p: n for p, n in heat_.tx_per_order(orders).items() if scope(p) != "order"}
        if not shared:
            cells.append("none")
            continue
        item, per = max(shared.items(), key=lambda kv: kv[1])
        lam = key_rate(per, scope(item), 300, 1)
        cells.append(
            f"`{item}`: {fmt(per, 2)} tx per new order, {fmt(lam, 1)} tx/s,"
            f" P = {percent(conflict_probability(lam, TX_SECONDS[0]))}"
        )
    rows.append(
        ["busiest item shared by order transactions at 300 new orders/s, 1 merchant (d = 10 ms)", *cells]
    )
    for op in (OP_NEW,):
        cells = []
        for _, heat_, c in designs:
            n = max(c.get(op, 0), 1)
            by = heat_.by_op.get(op, {})
            t = sum(v for (w, _), v in by.items() if w == TABLE) / n
            i = sum(v for (w, _), v in by.items() if w != TABLE) / n
            cells.append(f"{fmt(t + i, 1)} ({fmt(t, 1)} table + {fmt(i, 1)} indexes)")
        rows.append([f"WCU of one operation: {op}", *cells])
    sec.add(
        "Before and after, both sampled in this run with the same lifecycles: before is the code of",
        f"commit `{BEFORE}` (one counters item per merchant, one partition key per sweep queue, per",
        "warehouse stage and per merchant list), after is this tree. A `<shard>` key is one of the",
        "shards a key is spread over (store/keys.py); its rate is the rate on one shard.",
        "",
    )
    sec.table(["", *(d[0] for d in designs)], rows)
    sec.add("")


def _intro(sec: Section, orders: int) -> None:
    sec.add(
        "**A model, not a load test.** Measured: the write units each operation puts on each",
        "partition key of the table and of each index, with the real code on moto in-process",
        f"({orders} orders of one merchant through their lifecycle; every write metered by",
        "`bench/awsmeter.py`: the item written, and per index the partition key written or removed,",
        "with its units). Computed: the write rate per key at 10 to 1,000 new orders a second by",
        "scaling (each new order followed by the sample's mix of later operations; a key of one",
        "merchant takes that merchant's share of the orders, a key with no merchant in it takes all",
        "of them), against DynamoDB's documented limit of 1,000 WCU/s per partition key (table and",
        "each global index alike; a throttled index throttles the table's writes); and the chance",
        "of a transaction conflict from the rate of transactions on one item (a Poisson estimate).",
        "moto has no partition limits and no transaction conflicts: nothing here was seen under load.",
        "Rates are averages: a sweep writes its due orders in a burst, one transaction after another.",
        "",
        "The sample's lifecycles, by order number modulo 10:",
        "",
    )
    sec.table(["lifecycle", "of 10 orders", "operations"], [[n, s, what] for n, s, what in PATHS])


def _patterns(ops: Mapping, where_pats: Iterable[tuple[str, str]], h: Heat) -> str:
    shared = [(w, p) for w, p in where_pats if scope(p) != "order"]
    return ", ".join(f"`{label(w, p, h)}` {fmt(ops[(w, p)], 1)}" for w, p in sorted(shared)) or "none"


def _operations(sec: Section, h: Heat, counts: Counter, orders: int) -> None:
    rows = []
    for op, n in counts.items():
        if not n:
            continue
        by = h.by_op[op]
        table = sum(v for (w, _), v in by.items() if w == TABLE) / n
        index = sum(v for (w, _), v in by.items() if w != TABLE) / n
        per_op = {k: v / n for k, v in by.items()}
        rows.append(
            [op, n, fmt(n / orders, 1), fmt(table, 1), fmt(index, 1), _patterns(per_op, sorted(per_op), h)]
        )
    sec.add(
        "WCU per operation, and the keys shared by many orders that it writes (WCU on each key per",
        "operation; index writes named `index: partition key`; the keys of one order are left out here).",
        "",
    )
    sec.table(
        [
            "operation",
            "in the sample",
            "per new order",
            "WCU table",
            "WCU indexes",
            "shared keys written (WCU per operation)",
        ],
        rows,
    )


def _shared_keys(sec: Section, h: Heat, per_order: Mapping) -> None:
    rows = []
    for (where, pat), w in sorted(per_order.items(), key=lambda kv: -kv[1]):
        s = scope(pat)
        if s == "order":
            continue
        cells = [rate_cell(key_rate(w, s, r, 1)) for r in RATES]
        spread = [rate_cell(key_rate(w, s, r, MERCHANTS[-1])) for r in RATES]
        rows.append([f"`{label(where, pat, h)}`", s, fmt(w, 2), *cells, *spread])
    sec.add(
        "Every key shared by many orders: WCU per new order (its later operations included), and the",
        f"WCU/s on that key at each rate of new orders, for one merchant and spread over {MERCHANTS[-1]:,}",
        f"merchants. Over {KEY_LIMIT_WCU:,} WCU/s: **over** (throttled).",
        "",
    )
    many = f"{MERCHANTS[-1]:,} merchants"
    sec.table(
        [
            "key",
            "shared by",
            "WCU per new order",
            *(f"{r:,}/s, 1 merchant" for r in RATES),
            *(f"{r:,}/s, {many}" for r in RATES),
        ],
        rows,
    )


def _hottest(sec: Section, h: Heat, per_order: Mapping) -> None:
    sec.add(
        "The hottest key of the table and of each index (WCU/s on that one key):",
        "",
    )
    header = [
        "merchants",
        "table or index",
        "hottest key",
        "WCU per new order",
        *(f"{r:,} orders/s" for r in RATES),
    ]
    rows = []
    for m in MERCHANTS:
        hot = hottest(per_order, m)
        for where in sorted(hot, key=lambda w: (w != TABLE, w)):
            pat, w = hot[where]
            rates = [key_rate(w, scope(pat), r, m) for r in RATES]
            rows.append(
                [f"{m:,}", where, f"`{label(where, pat, h)}`", fmt(w, 2), *(rate_cell(x) for x in rates)]
            )
    sec.table(header, rows)
    target = {1: 300, MERCHANTS[-1]: 1_000}
    for m, r in target.items():
        over = over_limit(per_order, r, m)
        who = "one merchant" if m == 1 else f"spread over {m:,} merchants"
        keys_over = ", ".join(f"`{label(w, p, h)}` ({fmt(x, 0)})" for w, p, x in over)
        sec.add(
            f"Over the limit at {r:,} new orders/s, {who} (WCU/s): {keys_over or 'none'}.",
            "",
        )
    for m, r in target.items():
        hot = hottest(per_order, m)
        top = max(((w, p, key_rate(v, scope(p), r, m)) for w, (p, v) in hot.items()), key=lambda t: t[2])
        sec.targets.append(
            (
                f"no partition key over {KEY_LIMIT_WCU:,} WCU/s at {r:,} new orders/s,"
                f" {m:,} merchant{'s' * (m > 1)} (key-heat model)",
                f"<= {KEY_LIMIT_WCU:,} WCU/s",
                f"{fmt(top[2], 0)} WCU/s on `{label(top[0], top[1], h)}`",
                top[2] <= KEY_LIMIT_WCU,
            )
        )


def _one_order(sec: Section, h: Heat) -> None:
    one = [(k, v) for k, v in h.one_key.items() if scope(key_pattern(k[1], h.names)) == "order"]
    if not one:
        return
    (where, key), wcu = max(one, key=lambda kv: kv[1])
    sec.add(
        "Keys of one order (its item and history, lookup, packing number, tracking number, delivery",
        "marker; by_order_no's `<m>#<order_no>`) are written by that order's operations alone: the most",
        f"any one took over a whole lifecycle is {wcu} WCU (`{label(where, key_pattern(key, h.names), h)}`),",
        "whatever the arrival rate.",
        "",
    )


def _conflicts(sec: Section, h: Heat, orders: int) -> None:
    shared = {p: n for p, n in h.tx_per_order(orders).items() if scope(p) != "order"}
    if h.fold_tx:
        sec.add(
            f"The counters' fold ran {h.fold_tx} transactions in the sample (each adds up to 99 delta",
            "items into a shard's `#BASE` and deletes them). They race no order transaction: an order's",
            "transaction puts a new delta item of its own, and a shard's folds run one after another (the",
            "stream gives one partition's records to one consumer at a time). They are left out below.",
            "",
        )
    if not shared:
        sec.add(
            "Transaction conflicts: no item shared by many orders is written by an order's transaction",
            "(each transaction writes items of its own order, its delivery and its own counter delta), so",
            "no two orders' transactions can conflict: the estimate is 0 at every rate.",
            "",
        )
        sec.targets.append(
            (
                "transaction conflicts below 1% at 300 new orders/s for one merchant (Poisson estimate)",
                "< 1 %",
                "0 %: no item shared by order transactions",
                True,
            )
        )
        return
    item, per = max(shared.items(), key=lambda kv: kv[1])
    lo, hi = TX_SECONDS
    _conflict_text(sec, item, per)
    rows = []
    for r in RATES:
        row = [f"{r:,}"]
        for m in MERCHANTS:
            lam = key_rate(per, scope(item), r, m)
            row += [
                fmt(lam, 1),
                percent(conflict_probability(lam, lo)),
                percent(conflict_probability(lam, hi)),
            ]
        rows.append(row)
    header = ["new orders/s"]
    for m in MERCHANTS:
        who = f"{m:,} merchant{'s' * (m > 1)}"
        header += [f"tx/s on the item, {who}", f"P, d = {lo * 1000:.0f} ms", f"P, d = {hi * 1000:.0f} ms"]
    sec.table(header, rows)
    others = sorted(((p, n) for p, n in shared.items() if p != item), key=lambda kv: -kv[1])
    if others:
        sec.add(
            "Other items shared by many orders that transactions write (transactions per new order): "
            + ", ".join(f"`{p}` {fmt(n, 2)}" for p, n in others)
            + ".",
            "",
        )
    lam = key_rate(per, scope(item), 300, 1)
    p = conflict_probability(lam, lo)
    sec.targets.append(
        (
            "transaction conflicts below 1% at 300 new orders/s for one merchant (Poisson estimate)",
            "< 1 %",
            f"{percent(p)} on `{item}` (d = {lo * 1000:.0f} ms)",
            p < 0.01,
        )
    )


def _conflict_text(sec: Section, item: str, per: float) -> None:
    lo, hi = TX_SECONDS
    sec.add(
        "Transaction conflicts (an estimate). DynamoDB cancels a transaction with TransactionConflict",
        "when another transaction is changing one of its items. Model: the transactions touching one item",
        "arrive as a Poisson process at rate λ (transactions per new order × the rate of new orders on",
        "that item); each is in flight for d; a transaction conflicts when another one on its item is",
        "in flight when it arrives, with probability P = 1 − e^(−λ·d). d is an assumption, not a",
        f"measurement: {lo * 1000:.0f}–{hi * 1000:.0f} ms for a TransactWriteItems of a few items within",
        "one Region. Counting the transactions that start while it is in flight too doubles the window",
        "(1 − e^(−2λ·d)); a conflicted transaction is retried, which adds to λ. Single writes (UpdateItem,",
        "PutItem) on the item conflict with a transaction the same way and are not counted here.",
        "",
        f"The hottest such item is `{item}`: {fmt(per, 2)} transactions per new order of its merchant.",
        "",
    )


if __name__ == "__main__":  # python -m bench.keyheat ORDERS OUT.json: the sample as JSON (measure_before)
    import json
    import sys

    heat_, counts_ = measure(int(sys.argv[1]))
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(to_json(heat_, counts_), f)
