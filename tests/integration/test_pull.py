"""Pull ingestion on moto (docs/pull.md): a run that stops half-way (a crash, a page that times
out) is resumed from its last queued page and skips nothing; a 429 is retried after the time it
asks for; a page token the marketplace no longer takes starts the listing again; of two runs at
once only one writes; a sweep re-reads its window and queues only what changed; a malformed
pulled order is quarantined whole and the others are queued."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from localcloud.fake_marketplace import FakeMarketplace
from orderhub.domain import pull as rules
from orderhub.kernel import aws, clock
from orderhub.marketplaces import client as mc
from orderhub.merchants import profiles
from orderhub.pull import service
from orderhub.store import db
from orderhub.sync import integrations
from tests.support.http import load_event
from tests.support.moto_env import SECRETS
from tests.support.outbound import allowing

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def fake():
    with FakeMarketplace() as f, allowing(f.url):
        yield f


@pytest.fixture
def pulled(app_env, fake, monkeypatch):
    fake.reset()
    monkeypatch.setattr(mc, "sleep", lambda s: None)
    monkeypatch.setattr(rules, "PAGE_LIMIT", 2)
    profiles.put_profile(
        "demo",
        SECRETS["demo"],
        integrations={"ecforce": {"api_base_url": fake.base_url("ecforce"), "api_token": "tok-ecforce"}},
    )
    integrations.put("demo", "ecforce", {"pull": True, "pull_backfill_days": 1})
    return app_env


def order_object(no: str, minutes_ago: int) -> dict:
    order = copy.deepcopy(load_event("generic/order_created.json")["order"])
    at = (NOW - timedelta(minutes=minutes_ago)).isoformat()
    order.update(order_no=no, placed_at=at, updated_at=at)
    return order


def taken_from_queue(env, handle=None) -> list[str]:
    """Take every message the pull queued, oldest first (each given to `handle`, as the ingest
    processor would be); their order numbers."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=env["INGEST_QUEUE_URL"], MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"])["change"]["marketplace_order_no"])
            if handle is not None:
                handle(m["Body"])
            sqs.delete_message(QueueUrl=env["INGEST_QUEUE_URL"], ReceiptHandle=m["ReceiptHandle"])


def queued_numbers(env) -> list[str]:
    return taken_from_queue(env)


def iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def the_item() -> dict:
    return db.get_pull_item("demo", "ecforce")


def test_a_run_that_stops_half_way_resumes_from_its_last_queued_page_and_skips_nothing(
    pulled, fake, monkeypatch
):
    for n in range(5):  # 50, 40, 30, 20, 10 minutes ago: pages of two
        fake.put_order("ecforce", order_object(f"R-{n}", 50 - 10 * n))
    real_send = aws.client("sqs").send_message
    sent = []

    def crash_on_the_fourth(**kw):
        if len(sent) == 3:
            raise RuntimeError("the function was stopped")
        sent.append(1)
        return real_send(**kw)

    with pytest.MonkeyPatch.context() as crash, pytest.raises(RuntimeError):
        crash.setattr(aws.client("sqs"), "send_message", crash_on_the_fourth)
        service.run(NOW)
    # page 1 was queued and the item says to go on from page 2; R-2 was queued, R-3
    # was not. The cursor moves only when the listing ends.
    item = the_item()
    assert item["resume"]["token"] and item["resume"]["newest"] == iso(NOW - timedelta(minutes=40))
    assert item.get("cursor") is None
    first = queued_numbers(pulled)
    assert first == ["R-0", "R-1", "R-2"]

    result = service.run(NOW)
    assert result["failed"] == 0
    second = queued_numbers(pulled)
    assert set(first + second) == {f"R-{n}" for n in range(5)}  # nothing skipped
    # R-2 was queued by the stopped run after its last write, so it is queued again: a
    # duplicate delivery, never a gap; are not read again
    assert second == ["R-2", "R-3", "R-4"]
    item = the_item()
    assert item["cursor"] == iso(NOW - timedelta(minutes=10)) and "resume" not in item


def test_of_two_runs_at_once_only_one_moves_the_cursor(pulled, fake):
    fake.put_order("ecforce", order_object("R-A", 30))
    item = the_item()
    a = service.pull_one(dict(item), NOW)
    b = service.pull_one(dict(item), NOW)  # read the same version before a wrote
    assert a["queued"] == b["queued"] == 1  # both queued it: the processor dedupes
    assert a.get("cursor") and "cursor" not in b  # b lost the cursor's condition and stopped
    assert int(the_item()["version"]) == int(item["version"]) + 1


def test_a_malformed_pulled_order_is_quarantined_whole_and_the_others_queued(pulled, fake):
    bad = order_object("R-BAD", 20)
    bad["recipient"]["country"] = "JPN"
    fake.put_order("ecforce", bad)
    fake.put_order("ecforce", order_object("R-GOOD", 10))
    result = service.run(NOW)
    assert (result["queued"], result["quarantined"]) == (1, 1)
    assert queued_numbers(pulled) == ["R-GOOD"]
    table = aws.table(pulled["TABLE_NAME"])
    from boto3.dynamodb.conditions import Key

    from orderhub.store import keys

    [q] = table.query(KeyConditionExpression=Key("pk").eq(keys.quarantine_pk("demo")))["Items"]
    assert q["adapter"] == "pull" and q["reason"]["field"] == "order.recipient.country"
    assert json.loads(q["body"])["order_no"] == "R-BAD"


def test_a_refused_settings_change_leaves_the_pull_s_list_alone(app_env, fake):
    from orderhub.kernel.errors import ValidationFailed

    profiles.put_profile(
        "demo",
        SECRETS["demo"],
        integrations={"ecforce": {"api_base_url": fake.base_url("ecforce"), "api_token": "tok-ecforce"}},
    )
    with pytest.raises(ValidationFailed):
        integrations.put("demo", "ecforce", {"pull": True, "warehouse_heartbeat_seconds": 90000})
    assert db.get_pull_item("demo", "ecforce") is None
    integrations.put("demo", "ecforce", {"pull": True})
    assert db.get_pull_item("demo", "ecforce")["enabled"] is True
    integrations.put("demo", "ecforce", {"pull": False})
    item = db.get_pull_item("demo", "ecforce")
    assert item["enabled"] is False and integrations.get("demo", "ecforce")["pull_status"]["state"] == "off"


def test_a_page_that_times_out_mid_listing_is_read_again_by_the_next_run_and_nothing_is_skipped(
    pulled, fake, monkeypatch
):
    from orderhub.marketplaces.generic.client import GenericClient

    for n in range(5):
        fake.put_order("ecforce", order_object(f"R-{n}", 50 - 10 * n))
    monkeypatch.setattr(mc, "TIMEOUT_SECONDS", 0.2)
    real, pages = GenericClient.list_changed, []

    def second_page_times_out(self, since, token, limit):
        pages.append(token)
        if len(pages) == 2:  # every attempt at page 2 outlasts the client's timeout
            fake.fail("ecforce", "timeout", count=mc.ATTEMPTS, operation="list", delay=0.6)
        return real(self, since, token, limit)

    monkeypatch.setattr(GenericClient, "list_changed", second_page_times_out)
    first = service.run(NOW)
    assert (first["queued"], first["failed"]) == (2, 1)
    item = the_item()
    assert item["failures"] == 1 and item["last_error"]["kind"] == "timeout"
    assert item["resume"]["token"] == pages[1]  # page 2 is where the next run goes on
    assert queued_numbers(pulled) == ["R-0", "R-1"]

    second = service.run(NOW)
    assert (second["queued"], second["failed"]) == (3, 0)
    assert queued_numbers(pulled) == ["R-2", "R-3", "R-4"]
    item = the_item()
    assert item["failures"] == 0 and "resume" not in item and "last_error" not in item
    assert item["cursor"] == iso(NOW - timedelta(minutes=10))


def test_a_429_is_retried_after_the_time_it_asks_for_then_the_run_ends_and_the_next_one_resumes(
    pulled, fake, monkeypatch
):
    sleeps: list[float] = []
    monkeypatch.setattr(mc, "sleep", sleeps.append)
    fake.put_order("ecforce", order_object("R-1", 20))
    fake.fail("ecforce", "error", count=mc.ATTEMPTS, operation="list", status=429, retry_after=1.5)
    result = service.run(NOW)
    assert result["failed"] == 1 and queued_numbers(pulled) == []
    assert len(sleeps) == mc.ATTEMPTS - 1 and min(sleeps) >= 1.5  # Retry-After honoured
    assert the_item()["last_error"]["status"] == 429
    assert service.run(NOW)["queued"] == 1  # the next run reads it; the streak ends
    assert the_item()["failures"] == 0


def test_a_page_token_the_marketplace_no_longer_takes_is_dropped_and_the_listing_starts_again(pulled, fake):
    fake.put_order("ecforce", order_object("R-1", 20))
    table = aws.table(pulled["TABLE_NAME"])
    stale = {"since": iso(NOW - timedelta(days=1)), "token": "expired-token", "newest": None}
    table.update_item(
        Key=db.keys.pull_key("demo", "ecforce"),
        UpdateExpression="SET #r = :r",
        ExpressionAttributeNames={"#r": "resume"},
        ExpressionAttributeValues={":r": stale},
    )
    failed = service.run(NOW)
    assert failed["failed"] == 1 and the_item()["last_error"]["status"] == 400
    assert "resume" not in the_item()
    assert service.run(NOW)["queued"] == 1
    assert queued_numbers(pulled) == ["R-1"]


def test_a_sweep_re_reads_its_window_every_run_and_queues_only_what_changed(pulled, fake, monkeypatch):
    """A marketplace with no change-time filter (Rakuten, Qoo10) is swept: every run lists the
    orders of the back-fill window; `seen` keeps the unchanged ones out of the queue."""
    from orderhub.marketplaces.generic.client import GenericClient

    monkeypatch.setattr(GenericClient, "pull_mode", "sweep")
    windows: list[datetime] = []
    real = GenericClient.list_changed

    def listing(self, since, token, limit):
        windows.append(since)
        return real(self, since, token, limit)

    monkeypatch.setattr(GenericClient, "list_changed", listing)
    for n in range(3):
        fake.put_order("ecforce", order_object(f"S-{n}", 600 - 200 * n))  # 10 h, 6 h 40, 3 h 20 ago
    assert service.run(NOW)["queued"] == 3
    assert queued_numbers(pulled) == ["S-0", "S-1", "S-2"]

    later = NOW + timedelta(hours=2)
    windows.clear()
    quiet = service.run(later)
    assert (quiet["queued"], quiet["already_queued"]) == (0, 3)
    assert windows[0] == later - timedelta(days=1)  # the whole window again, not from the cursor

    changed = order_object("S-0", 600)
    changed["updated_at"] = (later - timedelta(minutes=1)).isoformat()
    fake.put_order("ecforce", changed)
    again = service.run(later)
    assert (again["queued"], again["already_queued"]) == (1, 2)
    assert queued_numbers(pulled) == ["S-0"]
    # a malformed order is quarantined once, not again each time the sweep reads it unchanged
    bad = order_object("S-BAD", 30)
    bad["recipient"]["country"] = "JPN"
    fake.put_order("ecforce", bad)
    assert service.run(later)["quarantined"] == 1
    assert (service.run(later)["quarantined"], service.run(later)["already_quarantined"]) == (0, 1)
    fake.update_order("ecforce", "S-BAD", updated_at=(later - timedelta(seconds=5)).isoformat())
    assert service.run(later)["quarantined"] == 1  # changed: it is news again
    fake.reset()
    for n in range(3):
        fake.put_order("ecforce", order_object(f"S-{n}", 600 - 200 * n))
    fake.put_order("ecforce", changed)
    # what the window no longer reaches is forgotten at the next write
    assert {k for k in the_item()["seen"] if not k.startswith("#")} == {"S-0", "S-1", "S-2"}
    days_later = NOW + timedelta(days=3)
    fake.put_order("ecforce", order_object("S-NEW", -3 * 24 * 60 + 5))  # 5 minutes before then
    clock.freeze(days_later)
    try:
        assert service.run(days_later)["queued"] == 1
    finally:
        clock.freeze(None)
    assert set(the_item()["seen"]) == {"S-NEW"}


def test_the_item_remembers_only_the_changes_a_later_run_can_read_again(pulled, fake):
    """The item is rewritten at each page: `seen` keeps it small (its WCU) by holding only the
    changes within the overlap of the newest one, which is where the next run starts."""
    for n in range(10):  # 100, 90, ... 10 minutes ago: five pages of two
        fake.put_order("ecforce", order_object(f"R-{n}", 100 - 10 * n))
    assert service.run(NOW)["queued"] == 10
    item = the_item()
    assert item["cursor"] == iso(NOW - timedelta(minutes=10))
    assert set(item["seen"]) == {"R-9"}
    fake.put_order("ecforce", order_object("R-10", 8))  # 2 minutes after R-9: within the overlap
    assert (service.run(NOW)["queued"], the_item()["cursor"]) == (1, iso(NOW - timedelta(minutes=8)))
    assert set(the_item()["seen"]) == {"R-9", "R-10"}


def test_a_run_that_queues_a_page_then_fails_starts_a_new_failure_streak(pulled, fake, monkeypatch):
    """A failing integration that makes progress again: the page it queued ends the old streak,
    so the failure after it counts 1 and the state is not `failing` with no `failing_since`."""
    from orderhub.domain.pull import status_view
    from orderhub.marketplaces.generic.client import GenericClient

    for n in range(3):
        fake.put_order("ecforce", order_object(f"R-{n}", 30 - 10 * n))
    fake.fail("ecforce", "error", count=-1, status=503, operation="list")
    for _ in range(rules.FAILING_AFTER):
        service.run(NOW)
    assert status_view(the_item(), True)["state"] == "failing" and the_item()["failing_since"]
    fake.reset()
    for n in range(3):
        fake.put_order("ecforce", order_object(f"R-{n}", 30 - 10 * n))
    real, pages = GenericClient.list_changed, []

    def second_page_fails(self, since, token, limit):
        pages.append(token)
        if len(pages) == 2:
            fake.fail("ecforce", "error", count=-1, status=503, operation="list")
        return real(self, since, token, limit)

    monkeypatch.setattr(GenericClient, "list_changed", second_page_fails)
    result = service.run(NOW)
    assert (result["queued"], result["failed"]) == (2, 1)
    item = the_item()
    assert item["failures"] == 1 and "failing_since" not in item
    view = status_view(item, True)
    assert (view["state"], view["failures"]) == ("ok", 1)


def _sweeping(monkeypatch):
    """The orderhub-protocol client as a swept marketplace that can read orders by number, as
    Rakuten's and Qoo10's clients do."""
    from orderhub.marketplaces.generic.client import GenericClient

    def read_orders(self, numbers):
        return [self.get_order_object(no)[1] for no in numbers]

    real = GenericClient.list_changed

    def by_placing(self, since, token, limit):  # a sweep lists the orders placed in its window
        orders, token = real(self, since, token, limit)
        return [o for o in orders if clock.parse_iso(o["placed_at"]) >= since], token

    monkeypatch.setattr(GenericClient, "list_changed", by_placing)
    monkeypatch.setattr(GenericClient, "pull_mode", "sweep")
    monkeypatch.setattr(GenericClient, "read_orders", read_orders, raising=False)


def _apply_queued(env) -> list[str]:
    """Process what the pull queued (the ingest processor's work), oldest first; the numbers."""
    from orderhub.webhooks import ingest

    return taken_from_queue(env, ingest.process)


def test_a_sweep_reads_again_the_open_orders_its_window_no_longer_reaches(pulled, fake, monkeypatch):
    """An unshipped order placed before the sweep's window is cancelled at the marketplace: the
    sweep's listing does not show it, the read by number after it does."""
    _sweeping(monkeypatch)
    integrations.put("demo", "ecforce", {"pull_backfill_days": 5})
    fake.put_order("ecforce", order_object("OLD-1", 3 * 24 * 60))  # placed and changed 3 days ago
    assert service.run(NOW)["queued"] == 1
    assert _apply_queued(pulled) == ["OLD-1"]
    integrations.put("demo", "ecforce", {"pull_backfill_days": 1})  # OLD-1 is now before the window

    quiet = service.run(NOW)
    assert (quiet["queued"], quiet["reread"]) == (0, 1)  # read again, unchanged: not queued
    cancelled_at = (NOW - timedelta(minutes=5)).isoformat()
    fake.update_order("ecforce", "OLD-1", cancelled_at=cancelled_at, updated_at=cancelled_at)
    assert service.run(NOW)["queued"] == 1
    assert _apply_queued(pulled) == ["OLD-1"]
    [order] = [
        o
        for o in aws.table(pulled["TABLE_NAME"]).scan()["Items"]
        if o.get("entity") == "order" and o.get("marketplace_order_no") == "OLD-1"
    ]
    assert order["status"] == "cancelled"
    after = service.run(NOW)  # a cancelled order is no longer open: not read again
    assert (after["queued"], after["reread"]) == (0, 0)


def test_a_claim_the_marketplace_closes_without_a_new_stamp_releases_the_order(pulled, fake, monkeypatch):
    """Qoo10 shows a withdrawn claim only by its absence: the order on hold is read again by
    number each run, and a closed claim with an unchanged stamp is queued as its own delivery."""
    _sweeping(monkeypatch)
    held = order_object("HELD-1", 60)
    held["claim"] = {"state": "open", "kind": "cancel", "reason": "buyer asked"}
    fake.put_order("ecforce", held)
    assert service.run(NOW)["queued"] == 1
    _apply_queued(pulled)
    fake.update_order("ecforce", "HELD-1", claim={"state": "closed", "kind": "cancel", "reason": "withdrawn"})
    result = service.run(NOW)
    assert result["queued"] == 1, result  # the listing's copy is remembered; the read by number is news
    _apply_queued(pulled)
    [order] = [
        o
        for o in aws.table(pulled["TABLE_NAME"]).scan()["Items"]
        if o.get("entity") == "order" and o.get("marketplace_order_no") == "HELD-1"
    ]
    assert order["status"] != "on_hold" and order["claim"]["state"] == "closed"
    assert service.run(NOW)["queued"] == 0
