"""The daily digest's content rule (docs/digest.md): a pure function of the orders, the time and the
merchant's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from orderhub.kernel import clock
from orderhub.schedules.digest import DUE_SOON_LIMIT, build_digest, email_text, subject

NOW = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 09:00 on 30 Nov in Tokyo, when the schedule fires


def order(n: int, deadline: datetime, marketplace: str = "shopify") -> dict:
    return {
        "merchant_id": "demo",
        "order_id": f"ord_{n:03d}",
        "marketplace": marketplace,
        "marketplace_order_no": str(1000 + n),
        "deadline_at": clock.iso(deadline),
    }


@pytest.fixture
def frozen():
    def freeze(at: datetime) -> datetime:
        clock.freeze(at)
        return clock.now()

    yield freeze
    clock.freeze(None)


def test_counts_unfulfilled_due_within_24h_and_overdue():
    orders = [
        order(1, NOW - timedelta(hours=1)),  # overdue (the deadline check has not run yet)
        order(2, NOW),  # due right now: not yet passed
        order(3, NOW + timedelta(hours=23, minutes=59)),
        order(4, NOW + timedelta(hours=24)),  # exactly 24 h: within
        order(5, NOW + timedelta(hours=24, milliseconds=1)),  # just outside
        order(6, NOW + timedelta(days=4), marketplace="wish"),
    ]
    d = build_digest("demo", orders, NOW)
    assert (d["merchant_id"], d["date"], d["timezone"]) == ("demo", "2026-11-30", "Asia/Tokyo")
    assert (d["unfulfilled"], d["due_within_24h"], d["overdue"]) == (6, 3, 1)
    assert d["digest_id"] == "demo#2026-11-30"
    assert [o["order_id"] for o in d["due_soon"]] == ["ord_002", "ord_003", "ord_004", "ord_005", "ord_006"]
    assert d["due_soon"][-1] == {
        "order_id": "ord_006",
        "marketplace": "wish",
        "marketplace_order_no": "1006",
        "deadline_at": "2026-12-04T00:00:00.000Z",
    }


def test_overdue_orders_are_named_longest_overdue_first():
    """Orders left overdue (auto-refund off, or the warehouse has them) stay in the digest for as
    long as they are unshipped, named so the merchant can act on them."""
    orders = [
        order(1, NOW - timedelta(hours=1)),
        order(2, NOW - timedelta(days=3), marketplace="manual"),
        order(3, NOW + timedelta(hours=2)),
    ]
    d = build_digest("demo", orders, NOW, language="en")
    assert (d["unfulfilled"], d["overdue"]) == (3, 2)
    assert [o["order_id"] for o in d["overdue_orders"]] == ["ord_002", "ord_001"]
    assert d["overdue_orders"][0] == {
        "order_id": "ord_002",
        "marketplace": "manual",
        "marketplace_order_no": "1002",
        "deadline_at": "2026-11-27T00:00:00.000Z",
    }
    assert [o["order_id"] for o in d["due_soon"]] == ["ord_003"]
    assert subject(d).endswith(", 2 overdue")
    late = [order(n, NOW - timedelta(hours=n + 1)) for n in range(25)]
    assert len(build_digest("demo", late, NOW)["overdue_orders"]) == DUE_SOON_LIMIT


def test_due_soon_is_the_twenty_soonest_in_deadline_order():
    orders = [order(n, NOW + timedelta(hours=100 - n)) for n in range(30)]  # given latest first
    d = build_digest("demo", orders, NOW)
    assert d["unfulfilled"] == 30 and len(d["due_soon"]) == DUE_SOON_LIMIT == 20
    assert [o["order_id"] for o in d["due_soon"]] == [f"ord_{n:03d}" for n in range(29, 9, -1)]


def test_no_orders_is_an_empty_digest():
    d = build_digest("demo", [], NOW)
    assert (d["unfulfilled"], d["due_within_24h"], d["overdue"], d["due_soon"]) == (0, 0, 0, [])
    assert d["overdue_orders"] == []


def test_local_date_turns_at_midnight_in_tokyo(frozen):
    # 23:59 on 30 Nov in Tokyo is 14:59 UTC; one minute later it is 1 Dec in Tokyo, still 30 Nov in UTC
    before = frozen(datetime(2026, 11, 30, 14, 59, tzinfo=UTC))
    assert build_digest("demo", [], clock.now())["date"] == "2026-11-30"
    after = frozen(datetime(2026, 11, 30, 15, 0, tzinfo=UTC))
    assert after.date().isoformat() == "2026-11-30"
    assert build_digest("demo", [], clock.now())["date"] == "2026-12-01"
    assert build_digest("demo", [], clock.now(), "America/New_York")["date"] == "2026-11-30"
    # the end of the Tokyo day (a deadline) is overdue one millisecond later, not before
    deadline = order(1, datetime(2026, 11, 30, 14, 59, 59, 999000, tzinfo=UTC))
    assert build_digest("demo", [deadline], before)["overdue"] == 0
    assert build_digest("demo", [deadline], before)["due_within_24h"] == 1
    assert build_digest("demo", [deadline], after)["overdue"] == 1


def test_unknown_or_missing_time_zone_falls_back_to_tokyo():
    late = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)  # 1 Dec in Tokyo
    assert build_digest("demo", [], late, None)["date"] == "2026-12-01"
    assert build_digest("demo", [], late, "Not/AZone")["timezone"] == "Asia/Tokyo"


def test_subject_is_short_and_says_the_counts_in_the_merchants_language():
    two = [order(1, NOW - timedelta(hours=1)), order(2, NOW + timedelta(hours=2))]
    text = subject(build_digest("demo", two, NOW, language="en"))
    assert text == "orderhub 2026-11-30: 2 unfulfilled, 1 due within 24 h, 1 overdue"
    assert len(text) < 100
    one = [order(2, NOW + timedelta(hours=2))]
    assert "overdue" not in subject(build_digest("demo", one, NOW, language="en"))
    # Japanese unless the merchant chose English (or an unknown language was stored)
    assert (
        subject(build_digest("demo", two, NOW))
        == "orderhub 2026-11-30: 未出荷 2件、24時間以内に期限 1件、期限切れ 1件"
    )
    assert build_digest("demo", two, NOW, language="fr")["language"] == "ja"


def test_the_email_names_the_orders_with_deadlines_in_the_merchants_time_and_language():
    late = [order(n, NOW - timedelta(hours=n + 1)) for n in range(22)]  # more than the list holds
    soon = [order(50, NOW + timedelta(hours=2))]
    ja = email_text(build_digest("demo", late + soon, NOW))
    assert "未出荷: 23件" in ja and "出荷期限切れ: 22件" in ja and "24時間以内に出荷期限: 1件" in ja
    assert "■ 出荷期限を過ぎた受注" in ja and "ほか 2件" in ja  # 20 listed of 22
    deadline = clock.parse_iso(soon[0]["deadline_at"]).astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"shopify #1050  期限 {deadline:%Y-%m-%d %H:%M}" in ja
    en = email_text(build_digest("demo", soon, NOW, "America/New_York", "en"))
    ny = clock.parse_iso(soon[0]["deadline_at"]).astimezone(ZoneInfo("America/New_York"))
    assert "Unfulfilled: 1" in en and f"deadline {ny:%Y-%m-%d %H:%M}" in en and "America/New_York" in en
    assert "Past the shipping deadline (ship" not in en  # no overdue list when none is overdue
