"""GET /orders query planning: which key or index, which filters; always a Query."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from orderhub.kernel.errors import ValidationFailed
from orderhub.orders.queries import parse_list_params, plan
from orderhub.store import paging
from orderhub.store.paging import decode_cursor, encode_cursor

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def plan_of(**qs):
    return plan("demo", parse_list_params(qs), TOKYO, NOW)


def p(**qs):
    """The plan's first Query (every shard's Query differs only by its partition value)."""
    return {"query": plan_of(**qs)["queries"][0]}


def key_values(expr):
    """Flatten a boto3 condition into its (attribute, operator, values) tuples."""
    out = []

    def walk(c):
        vals = c.get_expression()["values"]
        if c.expression_operator in ("AND", "OR"):
            for v in vals:
                walk(v)
        else:
            out.append((vals[0].name, c.expression_operator, tuple(vals[1:])))

    walk(expr)
    return out


def partitions(plan: dict) -> list:
    return [key_values(q["KeyConditionExpression"])[0] for q in plan["queries"]]


def test_all_tab_reads_every_shard_of_the_merchant_list_and_the_legacy_value():
    planned = plan_of()
    assert partitions(planned) == [("list_pk", "=", (f"demo#{n}",)) for n in range(8)] + [
        ("list_pk", "=", ("demo",))
    ]
    for q in planned["queries"]:
        assert q["IndexName"] == "by_placed_slim" and q["ScanIndexForward"] is False
        assert "FilterExpression" not in q
    assert planned["sk_attr"] == "placed_sk"
    assert planned["key_attrs"] == ("pk", "sk", "list_pk", "placed_sk")


def test_an_older_stack_reads_the_whole_order_indexes_until_its_migration_switches(monkeypatch):
    monkeypatch.setenv("ORDER_INDEXES", "whole")
    assert {q["IndexName"] for q in plan_of()["queries"]} == {"by_placed"}
    assert {q["IndexName"] for q in plan_of(status="new", date_basis="updated")["queries"]} == {
        "by_status_updated"
    }
    assert p(q="1001")["query"]["IndexName"] == "by_order_no"
    monkeypatch.setenv("ORDER_INDEXES", "slim")
    assert {q["IndexName"] for q in plan_of()["queries"]} == {"by_placed_slim"}


def test_status_tab_and_updated_basis():
    planned = plan_of(status="new", date_basis="updated")
    assert {q["IndexName"] for q in planned["queries"]} == {"by_status_updated_slim"}
    assert partitions(planned) == [("status_pk", "=", (f"demo#new#{n}",)) for n in range(8)] + [
        ("status_pk", "=", ("demo#new",))
    ]
    assert planned["sk_attr"] == "updated_sk"
    assert planned["key_attrs"] == ("pk", "sk", "status_pk", "updated_sk")


def test_every_shard_query_has_the_same_range_and_filters():
    planned = plan_of(status="new", marketplace="shopify", preset="today")
    conds = [key_values(q["KeyConditionExpression"])[1:] for q in planned["queries"]]
    filters = [key_values(q["FilterExpression"]) for q in planned["queries"]]
    assert len(planned["queries"]) == 9
    assert all(c == conds[0] == [("placed_sk", ">=", ("2026-11-24T15:00:00.000Z",))] for c in conds)
    assert all(f == filters[0] == [("marketplace", "=", ("shopify",))] for f in filters)


def test_dates_are_whole_days_in_the_merchant_time_zone():
    q = p(**{"from": "2026-11-01", "to": "2026-11-02"})["query"]
    [_, (attr, op, (lo, hi))] = key_values(q["KeyConditionExpression"])
    assert (attr, op) == ("placed_sk", "BETWEEN")
    assert lo == "2026-10-31T15:00:00.000Z"  # 00:00 JST
    assert hi == "2026-11-02T14:59:59.999Z#~"  # end of 2 Nov JST


def test_order_number_search_is_one_query_on_its_index_and_hides_deleted():
    planned = plan_of(q="1001", date_basis="updated")
    assert len(planned["queries"]) == 1 and planned["sk_attr"] == "placed_sk"
    assert planned["key_attrs"] == ("pk", "sk", "order_no_pk", "placed_sk")
    q = p(q="1001")["query"]
    assert q["IndexName"] == "by_order_no_slim"
    assert key_values(q["KeyConditionExpression"]) == [("order_no_pk", "=", ("demo#1001",))]
    assert key_values(q["FilterExpression"]) == [("status", "<>", ("deleted",))]
    assert "FilterExpression" not in p(q="1001", include_deleted="true")["query"]


def test_filters():
    q = p(marketplace="shopify", country="jp", mapping="fail", tag="vip")["query"]
    assert key_values(q["FilterExpression"]) == [
        ("marketplace", "=", ("shopify",)),
        ("recipient.country", "=", ("JP",)),
        ("mapping", "=", ("fail",)),
        ("tags", "contains", ("vip",)),
    ]


def test_presets():
    today = key_values(p(preset="today")["query"]["KeyConditionExpression"])
    assert today[1] == ("placed_sk", ">=", ("2026-11-24T15:00:00.000Z",))
    week = key_values(p(preset="last_7_days")["query"]["KeyConditionExpression"])
    assert week[1] == ("placed_sk", ">=", ("2026-11-18T15:00:00.000Z",))
    assert key_values(p(preset="unmapped")["query"]["FilterExpression"]) == [("mapping", "=", ("fail",))]
    due = key_values(p(preset="due_24h")["query"]["FilterExpression"])
    assert due[0] == ("deadline_at", "<=", ("2026-11-26T03:00:00.000Z",))
    assert due[1][0:2] == ("status", "IN")


def test_overdue_preset_lists_the_orders_flagged_overdue():
    q = p(preset="overdue")["query"]
    assert q["IndexName"] == "by_placed_slim"
    assert key_values(q["FilterExpression"]) == [("overdue", "=", (True,))]
    assert key_values(p(preset="overdue", status="processing")["query"]["FilterExpression"]) == [
        ("overdue", "=", (True,))
    ]
    with pytest.raises(ValidationFailed) as exc:
        p(preset="overdue", status="shipped")
    assert exc.value.field == "status"


@pytest.mark.parametrize(
    ("qs", "field"),
    [
        ({"page_size": "30"}, "page_size"),
        ({"page_size": "abc"}, "page_size"),
        ({"status": "shipping"}, "status"),
        ({"mapping": "maybe"}, "mapping"),
        ({"date_basis": "created"}, "date_basis"),
        ({"country": "JPN"}, "country"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-11-05", "to": "2026-11-01"}, "from"),
        ({"colour": "red"}, "colour"),
        ({"preset": "someday"}, "preset"),
        ({"include_deleted": "true"}, "include_deleted"),
    ],
)
def test_bad_query_strings_name_the_field(qs, field):
    with pytest.raises(ValidationFailed) as exc:
        p(**qs)
    assert exc.value.field == field
    assert exc.value.status == 400


def test_page_sizes():
    for size in ("25", "50", "100", "200"):
        assert parse_list_params({"page_size": size}).page_size == int(size)
    assert parse_list_params({}).page_size == 50


def test_cursor_is_bound_to_its_query(monkeypatch):
    monkeypatch.setattr(paging, "signing_key", lambda: b"k" * 32)  # tests/unit/test_cursor_signature.py
    c = encode_cursor({"pk": "x", "sk": "y"}, "f1")
    assert decode_cursor(c, "f1") == {"pk": "x", "sk": "y"}
    for bad_fp, bad in (("f2", c), ("f1", "garbage!"), ("f1", "")):
        with pytest.raises(ValidationFailed) as exc:
            decode_cursor(bad, bad_fp)
        assert exc.value.field == "cursor"


def test_index_attrs_spread_a_merchants_orders_over_the_list_shards():
    from collections import Counter

    from orderhub.store import db, keys
    from tests.unit.test_shipment_list import order

    def attrs(oid: str, status: str = "processing") -> dict:
        return db.index_attrs(order(order_id=oid, status=status))

    shard_of = {f"ord_{n:04d}": keys.shard_of(f"ord_{n:04d}", keys.LIST_SHARDS) for n in range(400)}
    for oid, shard in shard_of.items():
        a = attrs(oid)
        assert a["list_pk"] == f"demo#{shard}" and a["status_pk"] == f"demo#processing#{shard}"
        assert a["placed_sk"].endswith("#" + oid)  # the sort keys are unchanged
    spread = Counter(shard_of.values())
    assert set(spread) == set(range(keys.LIST_SHARDS)) and max(spread.values()) < 2 * 400 / 8
    # The shard is fixed by the order id: a new status moves the order to that tab's same shard.
    assert attrs("ord_0007", "shipped")["status_pk"] == f"demo#shipped#{shard_of['ord_0007']}"
    assert attrs("ord_0007", "shipped")["list_pk"] == attrs("ord_0007")["list_pk"]
    assert "list_pk" not in attrs("ord_0007", "deleted") and "status_pk" not in attrs("ord_0007", "deleted")


def test_the_longest_shard_cursor_is_a_cursor_get_orders_accepts(monkeypatch):
    from orderhub.store import keys
    from orderhub.store.paging import decode_shard_cursor, encode_shard_cursor

    monkeypatch.setattr(paging, "signing_key", lambda: b"k" * 32)
    m, oid = "m" * 40, "ord_" + "Z" * 26  # the longest merchant id; an order id (kernel/ids.py)
    params = parse_list_params({"status": "processing", "date_basis": "updated"})
    planned = plan(m, params, TOKYO, NOW)
    state = [
        {
            "pk": keys.order_pk(m, oid),
            "sk": keys.ORDER_SK,
            "status_pk": pk,
            "updated_sk": keys.time_sk("2026-11-25T03:00:00.000Z", oid),
        }
        for pk in keys.all_shards(keys.status_pk(m, "processing"), keys.LIST_SHARDS)
    ]
    cursor = encode_shard_cursor(state, "0123456789abcdef")
    assert parse_list_params({"cursor": cursor}).cursor == cursor  # within the cursor's length rule
    assert decode_shard_cursor(cursor, "0123456789abcdef", 9, planned["key_attrs"]) == state
