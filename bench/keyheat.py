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


# ------------------------------------------------------------------ the pure parts
def key_pattern(value: object, names: Mapping[str, str]) -> str:
    """A key value with its variable segments named: `MERCHANT#demo` -> `MERCHANT#<m>` when
    `names` maps `demo` to `<m>`. Timestamps become `<at>`, random ids (`sy_<hex>`) `<id>`, other
    all-digit segments `<n>`; a history sort key is `H#<at>#<n>#<rand>`. Segments are split on
    `#` (store/keys.py)."""
    text = str(value)
    if text.startswith(_HISTORY):
        return _HISTORY + "<at>#<n>#<rand>"
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


def heat(records: Iterable[tuple[str, object]], names: Mapping[str, str]) -> Heat:
    """Sum the metered calls (`(operation, awsmeter.Call)`) per key pattern."""
    h = Heat(names=names)
    for op, call in records:
        touched: set[tuple[str, str]] = set()
        for w in call.writes:
            pk, sk = w.key.get("pk"), w.key.get("sk")
            pat = key_pattern(pk, names)
            h.sk[pat].add(key_pattern(sk, names))
            h.wcu[(TABLE, pat)] += w.wcu
            h.by_op[op][(TABLE, pat)] += w.wcu
            h.one_key[(TABLE, str(pk))] += w.wcu
            for i in w.indexes:
                ipat = key_pattern(i.pk, names)
                h.wcu[(i.index, ipat)] += i.wcu
                h.by_op[op][(i.index, ipat)] += i.wcu
                h.one_key[(i.index, str(i.pk))] += i.wcu
            if w.transactional:
                touched.add((f"{pat}/{key_pattern(sk, names)}", f"{pk}/{sk}"))
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

        clock.freeze(later(61))
        held = sum(1 for p in paths.values() if p == "merchant ships")
        result = metered(OP_HOLD, lambda: sweeps.hold_sweep(later(61)), held)
        assert result["released"] == held, result

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

        clock.freeze(PAST_DEADLINE)
        late = sum(1 for p in paths.values() if p == "late")
        result = metered(OP_DEADLINE, lambda: sweeps.deadline_check(PAST_DEADLINE), late)
        assert result["due"] == late and result["overdue"] == late, result
    return records, names, counts


# ------------------------------------------------------------------ the section
def run(quick: bool = False) -> Section:
    from bench import awsmeter

    orders = 40 if quick else 200
    with awsmeter.Meter() as meter:
        records, names, counts = sample(meter, orders)
    h = heat(records, names)
    sec = Section("8. Key heat (a model)")
    _intro(sec, orders)
    _operations(sec, h, counts, orders)
    per_order = {k: v / orders for k, v in h.wcu.items()}
    _shared_keys(sec, h, per_order)
    _hottest(sec, h, per_order)
    _one_order(sec, h)
    _conflicts(sec, h, orders)
    return sec


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
    shared = {p: n / orders for p, n in h.tx.items() if scope(p) != "order"}
    if not shared:
        sec.add("No item shared by many orders is written by a transaction.", "")
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
