"""The key-heat model's arithmetic (bench/keyheat.py): keys named by pattern, who shares a key, the
scaling of measured units per new order to a rate per key, and the Poisson conflict estimate. The
model's figures in bench/results.md rest on these; the moto sample itself is the bench's run."""

from __future__ import annotations

import math

import pytest

from bench import keyheat
from bench.awsmeter import Call, IndexWrite, Write
from orderhub.store import keys

NAMES = {"demo": "<m>", "o0001": "<order>", "K00001": "<order_no>", "SKU-1": "<sku>"}


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        (keys.counts_key("demo")["pk"], "MERCHANT#<m>"),
        (keys.order_pk("demo", "o0001"), "M#<m>#O#<order>"),
        (keys.status_pk("demo", "new"), "<m>#new"),
        (keys.list_pk("demo"), "<m>"),
        (keys.order_no_pk("demo", "K00001"), "<m>#<order_no>"),
        (keys.stage_pk("requested"), "STAGE#requested"),
        (keys.DUE_DEADLINE, "DEADLINE"),
        (keys.counts_key("demo")["sk"], "#COUNTS"),
        (keys.history_sk("2026-11-25T03:01:00+00:00", 3, "ab12"), "H#<at>#<n>#<rand>"),
        (keys.time_sk("2026-11-25T03:01:00+00:00", "sy_0123456789abcdef"), "<at>#<id>"),
        (keys.sku_sk("shopify", "SKU-1"), "shopify#<sku>"),
        (keys.counter_delta_sk("2026-11-25T03:01:00+00:00", "o0001", "03c77c4e"), "D#<at>#<order>#<rand>"),
        (keys.counter_delta_sk("2026-11-25T03:01:00+00:00", "o0001", "12345678"), "D#<at>#<order>#<rand>"),
        (keys.job_data_sk(3), "D#<n>"),
        (keys.counter_shard_pk("demo", 3), "MERCHANT#<m>#CNT#<n>"),
    ],
)
def test_a_key_is_named_by_its_pattern(value, pattern):
    assert keyheat.key_pattern(value, NAMES) == pattern


def test_another_merchant_keeps_its_name_unless_named():
    assert keyheat.key_pattern("MERCHANT#acme", NAMES) == "MERCHANT#acme"
    assert keyheat.key_pattern("MERCHANT#acme", {**NAMES, "acme": "<m>"}) == "MERCHANT#<m>"


@pytest.mark.parametrize(
    ("pattern", "shared_by"),
    [
        ("MERCHANT#<m>", "merchant"),
        ("<m>#new", "merchant"),
        ("DEADLINE", "platform"),
        ("STAGE#requested", "platform"),
        ("M#<m>#O#<order>", "order"),
        ("<m>#<order_no>", "order"),
        ("PACKING#<packing_no>", "order"),
    ],
)
def test_who_shares_a_key(pattern, shared_by):
    assert keyheat.scope(pattern) == shared_by


def test_a_merchants_key_takes_its_share_of_the_orders_a_platform_key_all_of_them():
    assert keyheat.key_rate(8.8, "merchant", 300, 1) == pytest.approx(2_640)
    assert keyheat.key_rate(8.8, "merchant", 1_000, 1_000) == pytest.approx(8.8)
    assert keyheat.key_rate(7.6, "platform", 1_000, 1) == pytest.approx(7_600)
    assert keyheat.key_rate(7.6, "platform", 1_000, 1_000) == pytest.approx(7_600)
    with pytest.raises(ValueError):
        keyheat.key_rate(40, "order", 1_000, 1)


def test_conflict_probability_is_one_minus_e_to_the_minus_rate_times_duration():
    assert keyheat.conflict_probability(0, 0.025) == 0
    assert keyheat.conflict_probability(100, 0.010) == pytest.approx(1 - math.exp(-1))
    assert keyheat.conflict_probability(1, 0.010) == pytest.approx(0.01, rel=0.01)  # about λ·d when small
    assert keyheat.conflict_probability(1_320, 0.010) > 0.999


def _write(pk, sk, wcu, *indexes, tx=True):
    return Write("t", {"pk": pk, "sk": sk}, "update", tx, wcu, [IndexWrite(*i) for i in indexes])


def test_heat_sums_units_per_pattern_and_counts_a_transaction_once_per_item():
    counters = ("MERCHANT#demo", "#COUNTS")
    order = ("M#demo#O#o0001", "#ORDER")
    tx = Call("dynamodb", "TransactWriteItems")
    tx.writes = [
        _write(*order, 8, ("by_due", "DEADLINE", 2), ("by_status_placed", "demo#new", 1, True)),
        _write(*counters, 2),
    ]
    single = Call("dynamodb", "UpdateItem")
    single.writes = [_write(*counters, 1, tx=False)]
    h = keyheat.heat([("confirm", tx), ("confirm", tx), ("other", single)], NAMES)
    assert h.wcu[("table", "MERCHANT#<m>")] == 5
    assert h.wcu[("by_due", "DEADLINE")] == 4
    assert h.wcu[("by_status_placed", "<m>#new")] == 2
    assert h.by_op["other"] == {("table", "MERCHANT#<m>"): 1}
    assert h.tx["MERCHANT#<m>/#COUNTS"] == 2  # the single write is not a transaction
    assert keyheat.label("table", "MERCHANT#<m>", h) == "MERCHANT#<m>/#COUNTS"
    assert keyheat.label("by_due", "DEADLINE", h) == "by_due: DEADLINE"


def test_the_hottest_key_depends_on_how_many_merchants_share_the_orders():
    per_order = {
        ("by_due", "DEADLINE"): 2.0,
        ("by_due", "HOLD"): 1.0,
        ("table", "MERCHANT#<m>"): 9.0,
        ("table", "M#<m>#O#<order>"): 40.0,  # one order's: never the hottest
    }
    one = keyheat.hottest(per_order, 1)
    assert one == {"by_due": ("DEADLINE", 2.0), "table": ("MERCHANT#<m>", 9.0)}
    many = {("table", "MERCHANT#<m>"): 9.0, ("table", "PULL"): 0.01}
    assert keyheat.hottest(many, 1_000)["table"] == ("PULL", 0.01)  # 10 WCU/s against 9 at 1,000/s


def test_a_rate_over_the_limit_is_flagged():
    assert keyheat.rate_cell(1_000) == "1,000"
    assert keyheat.rate_cell(2_640) == "**2,640 over**"


def test_the_keys_over_the_limit_are_listed_hottest_first():
    per_order = {
        ("by_due", "DEADLINE"): 7.6,
        ("table", "MERCHANT#<m>"): 8.8,
        ("by_due", "HOLD"): 0.5,
        ("table", "M#<m>#O#<order>"): 40.0,
    }
    assert keyheat.over_limit(per_order, 300, 1) == [
        ("table", "MERCHANT#<m>", pytest.approx(2_640)),
        ("by_due", "DEADLINE", pytest.approx(2_280)),
    ]
    assert keyheat.over_limit(per_order, 1_000, 1_000) == [("by_due", "DEADLINE", pytest.approx(7_600))]
    assert keyheat.over_limit(per_order, 10, 1) == []


@pytest.mark.parametrize(
    ("where", "pattern", "named", "shards"),
    [
        ("by_due", "DEADLINE#<n>", "DEADLINE#<shard>", keys.DUE_SHARDS),
        ("by_stage", "STAGE#packed#<n>", "STAGE#packed#<shard>", keys.STAGE_SHARDS),
        ("by_placed", "<m>#<n>", "<m>#<shard>", keys.LIST_SHARDS),
        ("by_status_updated", "<m>#new#<n>", "<m>#new#<shard>", keys.LIST_SHARDS),
        ("table", "MERCHANT#<m>#CNT#<n>", "MERCHANT#<m>#CNT#<shard>", keys.COUNTER_SHARDS),
        ("by_due", "DEADLINE", "DEADLINE", 1),  # written before the shards: one key
        ("table", "M#<m>#JOB#<n>", "M#<m>#JOB#<n>", 1),  # a number that is not a shard
        ("by_merchant_stage", "<m>#<n>", "<m>#<n>", 1),
    ],
)
def test_a_sharded_key_is_rated_per_shard(where, pattern, named, shards):
    assert keyheat.sharded_pattern(where, pattern) == (named, shards)
    h = keyheat.Heat()
    h.wcu[(where, named)] = 16.0 * 10
    h.shards[(where, named)] = shards
    assert h.per_order(10) == {(where, named): 16.0 / shards}
