"""domain/pull.py: where a pull reads from, a pulled change's delivery id, the cursor, the state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orderhub.domain import pull

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_a_run_reads_from_the_cursor_less_the_overlap_or_the_back_fill_window():
    assert pull.window_start("2026-11-27T11:00:00.000Z", NOW, 7) == NOW - timedelta(hours=1) - pull.OVERLAP
    assert pull.window_start(None, NOW, 7) == NOW - timedelta(days=7)
    assert pull.window_start(None, NOW, 0) == NOW


def test_the_same_change_read_twice_is_one_delivery_and_a_later_one_is_another():
    a = pull.delivery_id("qoo10", "Q-1", NOW)
    assert a == pull.delivery_id("qoo10", "Q-1", NOW) == "pull:qoo10:Q-1:2026-11-27T12:00:00.000Z"
    assert a != pull.delivery_id("qoo10", "Q-1", NOW + timedelta(seconds=1))
    assert a != pull.delivery_id("rakuten", "Q-1", NOW)


def test_the_cursor_is_the_newest_stamp_and_never_moves_back():
    assert pull.newest(None, []) is None
    assert pull.newest(None, [NOW, NOW - timedelta(hours=1)]) == "2026-11-27T12:00:00.000Z"
    assert pull.newest("2026-11-27T13:00:00.000Z", [NOW]) == "2026-11-27T13:00:00.000Z"


def test_the_state_shown():
    assert pull.status_view(None, False)["state"] == "off"
    assert pull.status_view(None, True)["state"] == "waiting"
    assert pull.status_view({"cursor": "2026-11-27T12:00:00.000Z", "failures": 0}, True)["state"] == "ok"
    failing = pull.status_view({"failures": pull.FAILING_AFTER, "last_error": {"kind": "timeout"}}, True)
    assert failing["state"] == "failing" and failing["last_error"] == {"kind": "timeout"}
    assert pull.status_view({"failures": 1, "cursor": "x"}, True)["state"] == "ok"


def test_the_overlap_remembers_what_it_queued_and_forgets_what_it_can_no_longer_read():
    t = "2026-11-27T12:00:00.000Z"
    assert pull.already_queued({"Q-1": t}, "Q-1", NOW)
    assert not pull.already_queued({"Q-1": t}, "Q-1", NOW + timedelta(seconds=1))  # a later change
    assert not pull.already_queued({}, "Q-1", NOW)
    old = "2026-11-27T11:50:00.000Z"  # 10 minutes before the cursor: out of the overlap
    assert pull.remember({"Q-0": old}, {"Q-1": t}, t) == {"Q-1": t}
    many = {f"Q-{n}": f"2026-11-27T12:00:{n % 60:02d}.{n // 60:03d}Z" for n in range(pull.SEEN_MAX + 10)}
    kept = pull.remember({}, many, t)
    assert len(kept) == pull.SEEN_MAX and min(kept.values()) > min(many.values())


def test_an_order_read_again_is_queued_when_its_stamp_moved_or_its_claim_opened_or_closed():
    stored = {"marketplace_updated_at": "2026-11-27T12:00:00.000Z", "claim": None}
    assert pull.reread_reason(stored, NOW, None) is None  # the same stamp, nothing else known
    assert pull.reread_reason(stored, NOW + timedelta(seconds=1), None) == "changed"
    assert pull.reread_reason(stored, NOW, "open") == "claim-open"
    held = {**stored, "claim": {"state": "open"}}
    assert pull.reread_reason(held, NOW, "open") is None
    assert pull.reread_reason(held, NOW, "closed") == "claim-closed"
    assert pull.reread_reason(held, NOW - timedelta(hours=1), "closed") == "claim-closed"
    assert (
        pull.delivery_id("qoo10", "Q-1", NOW, "claim-closed")
        == pull.delivery_id("qoo10", "Q-1", NOW) + ":claim-closed"
    )
