"""Pull ingestion on moto (docs/pull.md): a run that stops half-way leaves the cursor at its last
queued page and the next run skips nothing; of two runs at once only one moves the cursor; a
malformed pulled order is quarantined whole and the others are queued."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from localcloud.fake_marketplace import FakeMarketplace
from orderhub.domain import pull as rules
from orderhub.kernel import aws
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


def queued_numbers(env) -> list[str]:
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
            sqs.delete_message(QueueUrl=env["INGEST_QUEUE_URL"], ReceiptHandle=m["ReceiptHandle"])


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
