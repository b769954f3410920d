"""Pull ingestion on the local cloud (docs/pull.md): a merchant turns pull on for a marketplace
whose API lists changed orders (the fake marketplace speaks the orderhub protocol); the
scheduled PullFunction reads them into the same ingest path as webhooks, moves its cursor, reads
an update or a cancel on a later run, records a failing marketplace and recovers."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.http import load_event

pytestmark = pytest.mark.usefixtures("fake")

MARKETPLACE = "ecforce"  # seeded with the fake marketplace as its API (local.json): the orderhub protocol


def order_object(no: str, minutes_ago: int, **changes) -> dict:
    order = copy.deepcopy(load_event("generic/order_created.json")["order"])
    at = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(timespec="seconds")
    order.update(
        order_no=no, placed_at=at, updated_at=at, payment={"method": "card", "paid_at": at}, **changes
    )
    return order


def listed(api, no: str) -> list[dict]:
    return api.get(f"/orders?q={no}&include_deleted=true").json["orders"]


def test_pulled_orders_arrive_through_the_ingest_path_and_the_cursor_moves(api, cloud, fake):
    put = api.call("PUT", f"/integrations/{MARKETPLACE}", {"pull": True, "pull_backfill_days": 1})
    assert put.status == 200, put
    assert put.json["pull"] is True and put.json["pull_status"]["state"] == "waiting"
    for n in range(3):  # 90, 60 and 30 minutes ago: farther apart than the overlap
        fake.put_order(MARKETPLACE, order_object(f"Q-PULL-{n}", 90 - 30 * n))
    fake.put_order(MARKETPLACE, order_object("Q-PULL-OLD", 3 * 24 * 60))  # before the back-fill window

    first = cloud.fire("PullFunction")
    assert (first["integrations"], first["queued"], first["failed"]) == (1, 3, 0), first
    cloud.drain(timeout=10)
    for n in range(3):
        [order] = listed(api, f"Q-PULL-{n}")
        assert (order["marketplace"], order["origin"]) == (MARKETPLACE, "api")
    assert listed(api, "Q-PULL-OLD") == []
    status = api.get(f"/integrations/{MARKETPLACE}").json["pull_status"]
    assert status["state"] == "ok" and status["cursor"] and status["failures"] == 0

    # nothing new: one marketplace call and no write; the overlap reads the newest order again,
    # which the last run remembers queuing, so it is not queued twice
    calls = len(fake.calls(MARKETPLACE))
    before = cloud.table_items()
    quiet = cloud.fire("PullFunction")
    assert (quiet["queued"], quiet["already_queued"]) == (0, 1), quiet
    cloud.drain(timeout=10)
    assert len(fake.calls(MARKETPLACE)) == calls + 1
    assert cloud.table_items() == before

    # a later change at the marketplace: the cancel reaches the order
    fake.update_order(
        MARKETPLACE,
        "Q-PULL-0",
        cancelled_at=datetime.now(UTC).isoformat(timespec="seconds"),
        updated_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    assert cloud.fire("PullFunction")["queued"] >= 1
    cloud.drain(timeout=10)
    [cancelled] = listed(api, "Q-PULL-0")
    assert cancelled["status"] == "cancelled"
    deliveries = api.get(f"/orders/{cancelled['order_id']}").json["history"]
    assert [h["action"] for h in deliveries][-1] == "cancelled"


def test_a_failing_marketplace_is_shown_and_a_later_run_recovers(api, cloud, fake):
    assert api.call("PUT", f"/integrations/{MARKETPLACE}", {"pull": True}).status == 200
    fake.fail(MARKETPLACE, "error", count=-1, status=429, operation="list")
    for _ in range(3):
        result = cloud.fire("PullFunction")
        assert result["failed"] == 1
    status = api.get(f"/integrations/{MARKETPLACE}").json["pull_status"]
    assert status["state"] == "failing" and status["failures"] == 3
    assert status["last_error"]["kind"] == "unavailable" and status["last_error"]["status"] == 429

    fake.reset()
    fake.put_order(MARKETPLACE, order_object("Q-PULL-BACK", 5))
    assert cloud.fire("PullFunction")["failed"] == 0
    cloud.drain(timeout=10)
    assert len(listed(api, "Q-PULL-BACK")) == 1
    assert api.get(f"/integrations/{MARKETPLACE}").json["pull_status"]["state"] == "ok"


def test_pull_is_refused_where_the_marketplace_pushes_or_no_api_is_set(api):
    shopify = api.call("PUT", "/integrations/shopify", {"pull": True})
    assert shopify.status == 400 and shopify.json["error"]["rule"] == "pull_unsupported"
    no_api = api.call("PUT", "/integrations/base", {"pull": True})  # no api_base_url set
    assert no_api.status == 400 and no_api.json["error"]["rule"] == "pull_needs_api"
    assert api.get("/integrations/base").json["pull"] is False
