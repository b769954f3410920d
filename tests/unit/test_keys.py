"""Keys can't be escaped from (store/keys.py, docs/data-model.md "Key segments"), and a merchant id
follows one rule (kernel/ids.py) wherever it is checked: no value placed in a key segment, not even
one holding `#` or `%`, can name another merchant's item or widen a `begins_with` prefix."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderhub.kernel import ids
from orderhub.kernel.errors import ValidationFailed
from orderhub.merchants import onboarding
from orderhub.store import keys

# values a marketplace, a merchant or a crafted token may bring, separators and escapes included
NASTY = ["A#B", "#", "##", "A#", "#A", "%", "%23", "%2523", "A%23B", "a#b#c", "", "O", "NO#shopify"]
texts = st.text(alphabet=st.sampled_from("ab#%23~"), max_size=8)


def unjoin(key: str) -> list[str]:
    """The segments of a key, unescaped."""
    return [p.replace("%23", "#").replace("%25", "%") for p in key.split("#")]


@given(st.lists(texts, min_size=1, max_size=5))
def test_every_segment_round_trips(parts):
    """Split on `#` and unescaped, a key gives back exactly the values it was made of."""
    assert unjoin(keys.merchant_pk(*parts)) == ["M", *parts]
    assert unjoin(keys.time_sk(*parts)) == parts


def test_two_different_inputs_never_share_a_key():
    """Every pair (and triple) of the values above makes a key of its own."""
    pairs = [(a, b) for a in NASTY for b in NASTY]
    for build in (keys.order_no_pk, keys.order_pk, keys.status_pk, keys.sku_sk, keys.time_sk):
        assert len({build(a, b) for a, b in pairs}) == len(pairs), build.__name__
    for build in (keys.tracking_key, keys.order_key):
        assert len({build(a, b)["pk"] for a, b in pairs}) == len(pairs), build.__name__
    triples = [(a, b, c) for a in NASTY for b in NASTY for c in NASTY]
    assert len({keys.lookup_key(*t)["pk"] for t in triples}) == len(triples)
    assert len({keys.merchant_pk(*t) for t in triples}) == len(triples)


def test_a_separator_in_a_merchant_id_or_a_number_names_no_other_merchants_key():
    """`demo`'s order number `A#1001` and a claim `demo#A` searching `1001` were one partition."""
    assert keys.order_no_pk("demo", "A#1001") == "demo#A%231001"
    assert keys.order_no_pk("demo#A", "1001") == "demo%23A#1001"
    assert keys.order_pk("demo", "x#O#y") != keys.order_pk("demo#O#x", "y")
    assert keys.lookup_key("demo", "shopify", "NO#shopify#1") != keys.lookup_key("demo#NO#shopify", "NO", "1")
    assert keys.profile_key("demo#x")["pk"] == "MERCHANT#demo%23x"
    assert keys.list_pk("demo#x") != keys.list_pk("demo")
    assert keys.cancel_pk("demo#x") != keys.status_pk("demo", "x#CANCELLED")
    assert keys.packing_key("PK1#x") != keys.packing_key("PK1%23x")
    assert keys.request_key("r#1")["pk"] == "WHREQ#r%231"
    for value in NASTY:
        for other in NASTY:
            if value != other:
                assert keys.order_no_pk("demo", value) != keys.order_no_pk("demo", other)
                assert keys.tracking_key("demo", value) != keys.tracking_key("demo", other)


def test_a_marketplace_prefix_matches_that_marketplace_alone():
    """A `begins_with` on `marketplace_prefix` (mappings, flagged SKUs): a marketplace that is a
    prefix of another, or holds a `#`, matches only its own SKUs."""
    marketplaces = ["shopify", "shop", "a", "a#b", "a#b#c", "#", "", "%", "%23", "*"]
    for marketplace in marketplaces:
        prefix = keys.marketplace_prefix(marketplace)
        for other in marketplaces:
            for sku in ["X", "b#X", "b#c#X", "#", "", "b"]:
                matches = keys.sku_sk(other, sku).startswith(prefix)
                assert matches == (other == marketplace), (marketplace, other, sku)


def test_keys_of_plain_ids_are_as_stored_before():
    """Ids without `#` and `%` keep the keys already in the table (docs/data-model.md); a `%`
    is escaped too, so that `%23` in a value is not read as a `#`."""
    assert keys.order_key("demo", "ord_01TEST") == {"pk": "M#demo#O#ord_01TEST", "sk": "#ORDER"}
    assert keys.lookup_key("demo", "shopify", "1001")["pk"] == "M#demo#NO#shopify#1001"
    assert keys.time_sk("2026-01-01T00:00:00.000Z", "demo", "ord_1") == "2026-01-01T00:00:00.000Z#demo#ord_1"
    assert (
        keys.history_sk("2026-01-01T00:00:00.000Z", 7, "abc")
        == "H#2026-01-01T00:00:00.000Z#000000000000007#abc"
    )
    assert keys.sku_sk("*", "SKU-1") == "*#SKU-1" and keys.order_no_pk("demo", "1001") == "demo#1001"
    assert keys.order_no_pk("demo", "A%23B") == "demo#A%2523B" != keys.order_no_pk("demo", "A#B")


@pytest.mark.parametrize(
    "value",
    [
        "demo#x",
        "demo#",
        "#demo",
        "Demo",
        "demo\n",
        "demo x",
        "demo/x",
        "demo%23",
        "d",
        "",
        "-demo",
        "a" * 41,
        7,
    ],
)
def test_one_merchant_id_rule_for_operators_and_tokens(value):
    """kernel/ids.py owns the rule; onboarding applies it (a trailing newline passed `$`)."""
    assert not ids.is_merchant_id(value)
    with pytest.raises(ValidationFailed):
        onboarding.check_id(value)


@pytest.mark.parametrize("value", ["demo", "demo2", "acme-shop", "a1", "0" * 40])
def test_merchant_ids_by_the_rule(value):
    assert ids.is_merchant_id(value) and onboarding.check_id(value) == value
