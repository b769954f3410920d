"""The order export on moto (docs/orders.md "Export"): GET /orders/export.csv holds exactly the
orders GET /orders lists for the same tab and filter, in the same order, across many pages; a bad
parameter is the same 400 as the list's; the bounds answer 400 before any file."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from orderhub.domain import actions
from orderhub.kernel import clock
from orderhub.kernel.errors import Unprocessable, ValidationFailed
from orderhub.orders import csvio, export, lifecycle, queries, registration
from tests.integration.test_registration import body
from tests.support.factories import T0

pytestmark = pytest.mark.slowest(20)


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.freeze(T0)
    yield
    clock.freeze(None)


def register(no: str, marketplace: str = "rakuten", name: str = "山田 太郎") -> dict:
    b = body(no)
    b["marketplace"] = marketplace
    b["recipient"]["name"] = name
    b["placed_at"] = clock.iso(T0 - timedelta(minutes=int(no.split("-")[-1])))
    return registration.register_manual("demo", b)


def listed(query: dict) -> list[str]:
    """Every order id GET /orders shows for the query, page after page (25 a page)."""
    out, cursor = [], None
    while True:
        page = queries.list_orders(
            "demo", {**query, "page_size": "25", **({"cursor": cursor} if cursor else {})}
        )
        out += [o["order_id"] for o in page["orders"]]
        cursor = page["next_cursor"]
        if not cursor:
            return out


def exported(query: dict) -> list[dict]:
    out = export.export("demo", query)
    text = out.data.decode("utf-8-sig" if out.encoding == "utf-8" else "cp932")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_the_export_holds_exactly_the_orders_the_list_shows_for_the_same_filter(app_env):
    orders = [register(f"R-{i}") for i in range(230)] + [register(f"Q-{i}", "qoo10") for i in range(30)]
    confirmed = {o["order_id"] for o in orders[::3]}
    for oid in confirmed:
        lifecycle.apply("demo", oid, lambda o, now: actions.confirm(o, now), actor="merchant")
    for query in (
        {"status": "new", "marketplace": "rakuten"},  # 153 orders: several pages of the list
        {"status": "processing"},
        {"marketplace": "qoo10", "q": "Q-7"},
        {},  # the `all` tab: 260 orders, more than one page of the export's own reading (200)
    ):
        ids = listed(query)
        rows = exported(query)
        assert [r["order_id"] for r in rows] == ids, query
    assert len(exported({})) == 260
    new_rakuten = exported({"status": "new", "marketplace": "rakuten"})
    assert len(new_rakuten) == len([o for o in orders[:230] if o["order_id"] not in confirmed]) > 150
    assert {r["status"] for r in new_rakuten} == {"new"} and {r["marketplace"] for r in new_rakuten} == {
        "rakuten"
    }


def test_a_row_shows_the_order_as_the_list_does(app_env):
    o = register("R-5", name='=HYPERLINK("http://x"), "Bob"')
    [row] = exported({"encoding": "cp932"})
    [shown] = queries.list_orders("demo", {})["orders"]
    assert row["order_id"] == o["order_id"] == shown["order_id"]
    assert row["marketplace_order_no"] == "R-5" and row["status"] == shown["status"]
    assert row["recipient_name"] == '\'=HYPERLINK("http://x"), "Bob"'
    assert row["items"] == str(len(shown["items"])) and row["mapping"] == (shown["mapping"] or "")
    assert row["placed_at"].endswith("+09:00")  # the merchant's time zone (Asia/Tokyo)


def test_cp932_reports_or_refuses_the_rows_it_cannot_hold(app_env):
    a = register("R-1", name="𠮷田 一郎")
    register("R-2")
    out = export.export("demo", {"encoding": "cp932"})
    assert out.headers() == {"X-Orderhub-Replaced-Rows": "1", "X-Orderhub-Replaced-Orders": a["order_id"]}
    assert "〓田 一郎".encode("cp932") in out.data
    with pytest.raises(Unprocessable) as exc:
        export.export("demo", {"encoding": "cp932", "unencodable": "refuse"})
    assert exc.value.details["replaced"][0]["marketplace_order_no"] == "R-1"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"preset": "someday"}, "preset"),
        ({"from": "yesterday"}, "from"),
        ({"colour": "red"}, "colour"),
        ({"page_size": "25"}, "page_size"),
        ({"cursor": "abc"}, "cursor"),
        ({"encoding": "latin1"}, "encoding"),
        ({"from": "2026-11-30", "to": "2026-11-01"}, "from"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(app_env, query, field):
    with pytest.raises(ValidationFailed) as exc:
        export.export("demo", query)
    assert exc.value.field == field


def test_more_orders_than_the_cap_is_a_400_naming_the_rule(app_env, monkeypatch):
    for i in range(4):
        register(f"R-{i}")
    monkeypatch.setattr(csvio, "MAX_EXPORT_ROWS", 3)
    with pytest.raises(ValidationFailed) as exc:
        export.export("demo", {})
    assert exc.value.details == {"rule": "export_too_large", "max_rows": 3}
    assert len(exported({"q": "R-1"})) == 1
