"""The daily digest (docs/digest.md) on moto: one event and one notification per merchant with
unfulfilled orders, once per local day, read from the DEADLINE and OVERDUE items of by_due."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from orderhub.domain.actions import Outcome
from orderhub.domain.models import Envelope
from orderhub.kernel import aws, clock
from orderhub.kernel.config import settings
from orderhub.orders import lifecycle, queries
from orderhub.schedules import digest, sweeps
from orderhub.store import keys
from orderhub.webhooks import ingest
from tests.support.factories import T0, change

DAY = timedelta(days=1)
# Released 13:01 on 25 Nov in Tokyo: due 5 × 24 h later, 13:01 on 30 Nov (04:01Z)
RELEASED = T0 + timedelta(minutes=61)
MORNING = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 09:00 on 30 Nov in Tokyo (the schedule)
NEXT_LOCAL_DAY = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 00:00 on 1 Dec in Tokyo


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.freeze(T0)
    yield
    clock.freeze(None)


@pytest.fixture
def inbox(app_env):
    """What subscribers receive: an SQS queue on the digest topic, another behind a rule on the bus."""
    sqs, sns, events = (boto3.client(s, region_name="us-east-1") for s in ("sqs", "sns", "events"))

    def queue(name: str) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    notes_url, notes_arn = queue("test-digest-notes")
    sns.subscribe(TopicArn=app_env["DIGEST_TOPIC_ARN"], Protocol="sqs", Endpoint=notes_arn)
    events_url, events_arn = queue("test-digest-events")
    bus = app_env["EVENT_BUS_NAME"]
    events.put_rule(
        Name="test-digest",
        EventBusName=bus,
        EventPattern=json.dumps({"source": ["orderhub"], "detail-type": ["FulfillmentDigest"]}),
    )
    events.put_targets(Rule="test-digest", EventBusName=bus, Targets=[{"Id": "q", "Arn": events_arn}])

    def read(url: str) -> list[dict]:
        out = []
        while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for m in msgs:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return out

    class Inbox:
        def notifications(self) -> list[dict]:
            return read(notes_url)

        def events(self) -> list[dict]:
            return read(events_url)

    return Inbox()


def released(merchant: str, order_no: str, placed: datetime = T0) -> dict:
    """A paid card order placed at `placed`, released by the hold sweep an hour later."""
    clock.freeze(placed)
    env = Envelope(
        merchant_id=merchant,
        adapter="shopify",
        delivery_id=f"d-{merchant}-{order_no}",
        received_at=placed,
        change=change(order_no, placed_at=placed),
    )
    ingest.process(env.model_dump_json())
    release = placed + timedelta(minutes=61)
    clock.freeze(release)
    sweeps.hold_sweep(release)
    [o] = queries.list_orders(merchant, {"q": order_no})["orders"]
    assert o["status"] == "new" and o["deadline_at"]
    return o


def ship(merchant: str, order: dict) -> None:
    tracking = {"carrier": "yamato", "tracking_number": "4444-5555-6666"}
    lifecycle.apply(
        merchant,
        order["order_id"],
        lambda o, now: Outcome(
            {**o, "status": "shipped", "shipment_stage": "shipped", "tracking": tracking}, "t"
        ),
        actor="test",
    )


def run(at: datetime) -> dict:
    clock.freeze(at)
    return digest.daily_digest(at)


def test_one_digest_per_merchant_with_unfulfilled_orders(app_env, inbox):
    a = released("demo", "A1")  # due 13:01 on 30 Nov
    b = released("demo", "A2")
    c = released("demo", "A3", placed=T0 + DAY)  # due 13:01 on 1 Dec: 28 h after the digest
    ship("demo2", released("demo2", "B1"))  # demo2's only order is shipped: nothing unfulfilled

    assert run(MORNING) == {"merchants": 1, "sent": 1, "already_sent": 0, "errors": 0}

    [event] = inbox.events()
    assert (event["source"], event["detail-type"]) == ("orderhub", "FulfillmentDigest")
    detail = event["detail"]
    assert (detail["merchant_id"], detail["date"], detail["digest_id"]) == (
        "demo",
        "2026-11-30",
        "demo#2026-11-30",
    )
    assert (detail["unfulfilled"], detail["due_within_24h"], detail["overdue"]) == (3, 2, 0)
    assert {o["order_id"] for o in detail["due_soon"][:2]} == {a["order_id"], b["order_id"]}
    assert detail["due_soon"][2] == {
        "order_id": c["order_id"],
        "marketplace": "shopify",
        "marketplace_order_no": "A3",
        "deadline_at": "2026-12-01T04:01:00.000Z",
    }
    assert detail["overdue_orders"] == []

    [note] = inbox.notifications()
    assert note["Subject"] == "orderhub 2026-11-30: 未出荷 3件、24時間以内に期限 2件"  # the default language
    assert note["MessageAttributes"]["merchant_id"] == {"Type": "String", "Value": "demo"}
    assert json.loads(note["Message"]) == detail

    marker = aws.table(settings().table_name).get_item(
        Key={"pk": "MERCHANT#demo", "sk": "DIGEST#2026-11-30"}
    )["Item"]
    assert marker["event_sent_at"] and marker["notified_at"]
    assert int(marker["expires_at"]) == int(MORNING.timestamp()) + 35 * 86400


def test_once_a_day_in_the_merchants_time_zone(app_env, inbox):
    released("demo", "A1")
    run(MORNING)
    assert len(inbox.notifications()) == 1 and len(inbox.events()) == 1

    # re-fired the same (Tokyo) day, even late in the evening: nothing more
    assert run(MORNING + timedelta(hours=14, minutes=59))["already_sent"] == 1
    assert inbox.notifications() == [] and inbox.events() == []

    # midnight in Tokyo (still 30 Nov in UTC): a new day, a new digest; the deadline has passed
    assert run(NEXT_LOCAL_DAY)["sent"] == 1
    [note] = inbox.notifications()
    [event] = inbox.events()
    assert event["detail"]["date"] == "2026-12-01" and event["detail"]["overdue"] == 1
    assert json.loads(note["Message"])["date"] == "2026-12-01"


def test_no_digest_without_unfulfilled_orders(app_env, inbox):
    assert run(MORNING) == {"merchants": 0, "sent": 0, "already_sent": 0, "errors": 0}
    assert inbox.notifications() == [] and inbox.events() == []


def test_a_failed_notification_is_sent_by_the_next_run_and_the_event_is_not_repeated(
    app_env, inbox, monkeypatch
):
    released("demo", "A1")
    released("demo2", "B1")
    real_publish = digest.publish

    def failing_for_demo(d: dict) -> None:
        if d["merchant_id"] == "demo":
            raise RuntimeError("SNS is down")
        real_publish(d)

    monkeypatch.setattr(digest, "publish", failing_for_demo)
    with pytest.raises(digest.DigestFailed):
        run(MORNING)  # the run fails (Lambda retries it) after demo2 got its digest
    assert [e["detail"]["merchant_id"] for e in inbox.events()] == ["demo", "demo2"]
    assert [n["MessageAttributes"]["merchant_id"]["Value"] for n in inbox.notifications()] == ["demo2"]

    monkeypatch.setattr(digest, "publish", real_publish)
    assert run(MORNING + timedelta(minutes=1)) == {"merchants": 2, "sent": 1, "already_sent": 1, "errors": 0}
    assert inbox.events() == []  # the event had gone out: not sent twice
    [note] = inbox.notifications()
    assert note["MessageAttributes"]["merchant_id"]["Value"] == "demo"


def test_reads_the_index_never_scans(app_env, inbox):
    """Every shard of DEADLINE and OVERDUE (and each unsharded legacy value) is read with a
    Query on by_due; nothing scans."""
    released("demo", "A1")
    calls = []

    def note(params, model, **_):
        calls.append((model.name, params.get("IndexName"), params.get("KeyConditionExpression")))
        calls[-1] += (params.get("ExpressionAttributeValues") or {},)

    clients = {aws.client("dynamodb"), aws.table(settings().table_name).meta.client}
    for c in clients:
        c.meta.events.register("provide-client-params.dynamodb.*", note)
    try:
        run(MORNING)
    finally:
        for c in clients:
            c.meta.events.unregister("provide-client-params.dynamodb.*", note)
    reads = [c for c in calls if c[0] in ("Query", "Scan")]
    assert {(op, index) for op, index, *_ in reads} == {("Query", "by_due_slim")}
    partitions = sorted(v["S"] for *_, values in reads for v in values.values())
    expected = keys.all_shards("DEADLINE", keys.DUE_SHARDS) + keys.all_shards("OVERDUE", keys.DUE_SHARDS)
    assert partitions == sorted(expected)  # each once: one order, a single page per shard


def test_orders_left_overdue_stay_in_the_digest_and_are_named(app_env, inbox):
    """A Shopify order is not refunded by the deadline check (Shopify does not refund by itself):
    flagged overdue, it leaves the check's queue but not the digest, which names it."""
    a = released("demo", "A1")
    released("demo", "A2", placed=T0 + DAY)
    clock.freeze(NEXT_LOCAL_DAY)
    assert sweeps.deadline_check(NEXT_LOCAL_DAY)["overdue"] == 1
    assert run(NEXT_LOCAL_DAY + timedelta(hours=1))["sent"] == 1
    [event] = inbox.events()
    detail = event["detail"]
    assert (detail["unfulfilled"], detail["overdue"]) == (2, 1)
    assert [o["order_id"] for o in detail["overdue_orders"]] == [a["order_id"]]
    assert [note["Subject"] for note in inbox.notifications()] == [
        "orderhub 2026-12-01: 未出荷 2件、24時間以内に期限 1件、期限切れ 1件"
    ]


def test_order_counts_give_the_unfulfilled_total_and_how_near_their_deadlines_are(app_env):
    released("demo", "A1")  # due 13:01 on 30 Nov
    released("demo", "A2")
    released("demo", "A3", placed=T0 + DAY)  # due 13:01 on 1 Dec
    ship("demo", released("demo", "A4"))  # shipped: not unfulfilled
    released("demo2", "B1")  # another merchant's

    counts = queries.order_counts("demo", MORNING)
    assert (counts["unfulfilled"], counts["due_within_24h"], counts["past_deadline"]) == (3, 2, 0)
    assert counts["urgency_complete"] is True and counts["new"] == 3 and counts["shipped"] == 1
    # the same rule as the digest of that morning
    later = queries.order_counts("demo", MORNING + timedelta(hours=5))  # 14:00 in Tokyo: A1, A2 passed
    assert (later["unfulfilled"], later["due_within_24h"], later["past_deadline"]) == (3, 1, 2)
    assert queries.order_counts("demo2", MORNING)["unfulfilled"] == 1


def sent_messages(app_env) -> list[dict]:
    """What was published to the digest topic, as published (moto keeps it)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    topic = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].topics[app_env["DIGEST_TOPIC_ARN"]]
    return [{"message": m[1], "subject": m[2], "attributes": m[3]} for m in topic.sent_notifications]


def test_the_merchants_own_address_gets_its_digest_as_text_in_its_language(app_env, inbox):
    from orderhub.kernel.errors import ValidationFailed
    from orderhub.schedules import digest_settings

    sns = boto3.client("sns", region_name="us-east-1")
    with pytest.raises(ValidationFailed) as err:
        digest_settings.put("demo", {"email": "not an address"})
    assert err.value.field == "email"
    with pytest.raises(ValidationFailed) as err:
        digest_settings.put("demo", {"language": "fr"})
    assert err.value.field == "language"
    assert digest_settings.get("demo") == {"email": None, "language": "ja", "subscription": "none"}

    first = digest_settings.put("demo", {"email": "shop@example.jp", "language": "en"})
    assert (first["email"], first["language"]) == ("shop@example.jp", "en")
    assert first["subscription"] in ("pending_confirmation", "confirmed")
    subs = sns.list_subscriptions_by_topic(TopicArn=app_env["DIGEST_TOPIC_ARN"])["Subscriptions"]
    [mail] = [s for s in subs if s["Protocol"] == "email"]
    assert mail["Endpoint"] == "shop@example.jp"
    attrs = sns.get_subscription_attributes(SubscriptionArn=mail["SubscriptionArn"])["Attributes"]
    assert json.loads(attrs["FilterPolicy"]) == {"merchant_id": ["demo"]}  # demo's digests only

    # a new address replaces the old subscription
    digest_settings.put("demo", {"email": "orders@example.jp"})
    subs = sns.list_subscriptions_by_topic(TopicArn=app_env["DIGEST_TOPIC_ARN"])["Subscriptions"]
    assert [s["Endpoint"] for s in subs if s["Protocol"] == "email"] == ["orders@example.jp"]

    released("demo", "A1")
    run(MORNING)
    [published] = sent_messages(app_env)
    assert published["subject"] == "orderhub 2026-11-30: 1 unfulfilled, 1 due within 24 h"
    by_protocol = json.loads(published["message"])
    assert (
        "Unfulfilled: 1" in by_protocol["email"]
        and "shopify #A1  deadline 2026-11-30 13:01" in by_protocol["email"]
    )
    assert json.loads(by_protocol["default"])["language"] == "en"
    [note] = inbox.notifications()  # a queue subscriber still gets the JSON
    assert json.loads(note["Message"])["merchant_id"] == "demo"

    digest_settings.put("demo", {"email": None})
    subs = sns.list_subscriptions_by_topic(TopicArn=app_env["DIGEST_TOPIC_ARN"])["Subscriptions"]
    assert [s for s in subs if s["Protocol"] == "email"] == []
    assert digest_settings.get("demo")["subscription"] == "none"
