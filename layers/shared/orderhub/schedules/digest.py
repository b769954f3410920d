"""The daily fulfillment digest (docs/digest.md): once a day each merchant with unfulfilled orders gets
one digest (how many, how many are due within 24 h, how many are overdue and which, the soonest
ones) as an EventBridge event and an SNS notification. See docs/digest.md.

Unfulfilled orders are the DEADLINE and OVERDUE items of the sparse `by_due` index (released,
not shipped: store.index_attrs), read with one Query per shard of each kind (paged, the shards in
parallel: store/sharded.py), never a Scan. store/sharded.py, not store/db.py: the digest's cold
start imports no more than it reads with.

Once per merchant per local date: a marker item (pk MERCHANT#<m>, sk DIGEST#<yyyy-mm-dd>,
expiring after 35 days) records which of the two sends happened. Order of operations, chosen
so that a digest is never silently lost (at-least-once, never at-most-once):

  1. GetItem the marker; both sends recorded -> nothing to do (a re-fired schedule).
  2. put the event unless the marker records it, then UpdateItem `event_sent_at`;
  3. publish the notification unless recorded, then UpdateItem `notified_at`.

A failure before a send is recorded leaves it unrecorded, so the next run sends it again; the
run raises at the end (after the other merchants), so Lambda retries the invocation and the
error is visible. A crash between a send and its record, or two runs at the same time, can
send a digest twice: consumers de-duplicate on `digest_id` (<merchant>#<date>).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aws_lambda_powertools import Logger
from boto3.dynamodb.conditions import Key

from orderhub.domain.deadline import DEFAULT_TIMEZONE, DUE_24H, PAST, urgency
from orderhub.kernel import aws, clock
from orderhub.kernel.config import settings
from orderhub.kernel.http import dumps
from orderhub.merchants import profiles
from orderhub.store import keys, sharded

logger = Logger(child=True)

SOURCE = "orderhub"
DETAIL_TYPE = "FulfillmentDigest"
DUE_SOON_LIMIT = 20
MARKER_TTL_DAYS = 35
_ORDER_FIELDS = ("merchant_id", "order_id", "marketplace", "marketplace_order_no", "deadline_at")


class DigestFailed(RuntimeError):
    """Some merchants' digests could not be sent (they will be sent by the next run)."""


# ---------------------------------------------------------------------- the rule (pure)
def zone_of(tz_name: str | None) -> ZoneInfo:
    """The merchant's time zone; an empty or unknown name falls back to Asia/Tokyo."""
    try:
        return ZoneInfo(tz_name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def build_digest(
    merchant_id: str,
    orders: list[dict],
    now: datetime,
    tz_name: str | None = None,
    language: str | None = None,
) -> dict:
    """One merchant's digest at `now`. `orders` are its unfulfilled orders (each with order_id,
    marketplace, marketplace_order_no and deadline_at as stored). `date` is the merchant's local
    date; an order is overdue once its deadline has passed (deadline < now), due within 24 h when
    now <= deadline <= now + 24 h; `due_soon` lists up to 20 not yet overdue, soonest first;
    `overdue_orders` up to 20 overdue ones, the longest overdue first."""
    zone = zone_of(tz_name)
    local_date = now.astimezone(zone).date().isoformat()
    upcoming: list[tuple[datetime, dict]] = []
    late: list[tuple[datetime, dict]] = []
    within_24h = 0
    for order in orders:
        deadline = clock.parse_iso(order["deadline_at"])
        near = urgency(order["deadline_at"], now)
        if near == PAST:
            late.append((deadline, order))
            continue
        if near == DUE_24H:
            within_24h += 1
        upcoming.append((deadline, order))
    upcoming.sort(key=lambda pair: (pair[0], pair[1]["order_id"]))
    late.sort(key=lambda pair: (pair[0], pair[1]["order_id"]))
    return {
        "digest_id": f"{merchant_id}#{local_date}",
        "merchant_id": merchant_id,
        "date": local_date,
        "timezone": zone.key,
        "language": language_of(language),
        "generated_at": clock.iso(now),
        "unfulfilled": len(orders),
        "due_within_24h": within_24h,
        "overdue": len(late),
        "due_soon": [_entry(o) for _, o in upcoming[:DUE_SOON_LIMIT]],
        "overdue_orders": [_entry(o) for _, o in late[:DUE_SOON_LIMIT]],
    }


def _entry(order: dict) -> dict:
    return {
        "order_id": order["order_id"],
        "marketplace": order.get("marketplace"),
        "marketplace_order_no": order.get("marketplace_order_no"),
        "deadline_at": order["deadline_at"],
    }


LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"
_WORDS = {
    "en": {
        "subject": "orderhub {date}: {unfulfilled} unfulfilled, {due} due within 24 h",
        "subject_overdue": ", {overdue} overdue",
        "intro": "Your orders not shipped yet, as of {date} ({tz}).",
        "unfulfilled": "Unfulfilled: {n}",
        "due": "Due within 24 hours: {n}",
        "overdue": "Past the shipping deadline: {n}",
        "overdue_list": "Past the shipping deadline (ship or cancel them):",
        "due_list": "Nearest shipping deadlines:",
        "entry": "- {marketplace} #{no}  deadline {deadline}",
        "more": "  ...and {n} more",
        "footer": "Ship them from Fulfillment in the orderhub console. This digest comes once a day.",
    },
    "ja": {
        "subject": "orderhub {date}: 未出荷 {unfulfilled}件、24時間以内に期限 {due}件",
        "subject_overdue": "、期限切れ {overdue}件",
        "intro": "{date} 時点（{tz}）で、まだ出荷されていない受注をお知らせします。",
        "unfulfilled": "未出荷: {n}件",
        "due": "24時間以内に出荷期限: {n}件",
        "overdue": "出荷期限切れ: {n}件",
        "overdue_list": "■ 出荷期限を過ぎた受注（出荷またはキャンセルしてください）",
        "due_list": "■ 出荷期限の近い受注",
        "entry": "- {marketplace} #{no}  期限 {deadline}",
        "more": "  ほか {n}件",
        "footer": "orderhub 管理画面の「出荷」から出荷できます。このお知らせは1日1回送信されます。",
    },
}


def language_of(value: object) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def subject(digest: dict) -> str:
    """The notification's subject in the merchant's language (SNS: UTF-8, under 100 characters)."""
    words = _WORDS[language_of(digest.get("language"))]
    text = words["subject"].format(
        date=digest["date"], unfulfilled=digest["unfulfilled"], due=digest["due_within_24h"]
    )
    if digest["overdue"]:
        text += words["subject_overdue"].format(overdue=digest["overdue"])
    return text[:99]


def email_text(digest: dict) -> str:
    """The digest as a merchant reads it in an e-mail, in the merchant's language, times in the
    merchant's time zone. Pure."""
    words = _WORDS[language_of(digest.get("language"))]
    zone = zone_of(digest.get("timezone"))

    def entry(o: dict) -> str:
        at = clock.parse_iso(o["deadline_at"]).astimezone(zone).strftime("%Y-%m-%d %H:%M")
        return words["entry"].format(
            marketplace=o.get("marketplace") or "", no=o.get("marketplace_order_no") or "", deadline=at
        )

    lines = [
        words["intro"].format(date=digest["date"], tz=zone.key),
        "",
        words["unfulfilled"].format(n=digest["unfulfilled"]),
        words["due"].format(n=digest["due_within_24h"]),
        words["overdue"].format(n=digest["overdue"]),
    ]
    for title, listed, total in (
        ("overdue_list", digest["overdue_orders"], digest["overdue"]),
        ("due_list", digest["due_soon"], digest["unfulfilled"] - digest["overdue"]),
    ):
        if listed:
            lines += ["", words[title], *(entry(o) for o in listed)]
            if total > len(listed):
                lines.append(words["more"].format(n=total - len(listed)))
    lines += ["", words["footer"]]
    return "\n".join(lines)


# ---------------------------------------------------------------------- reading
def unfulfilled_by_merchant() -> dict[str, list[dict]]:
    """Every DEADLINE and OVERDUE item of by_due (a paged Query per shard of each kind, and per
    legacy unsharded value, on the sparse index; the shards read in parallel), grouped by
    merchant."""
    grouped: dict[str, list[dict]] = defaultdict(list)
    queries = [
        {
            "IndexName": keys.index(keys.BY_DUE),
            "KeyConditionExpression": Key("due_kind").eq(pk),
            "ProjectionExpression": ", ".join(_ORDER_FIELDS),
        }
        for kind in (keys.DUE_DEADLINE, keys.DUE_OVERDUE)
        for pk in keys.all_shards(kind, keys.DUE_SHARDS)
    ]
    for item in sharded.every_item(queries):  # in no order: the digest sorts what it shows
        grouped[item["merchant_id"]].append({k: item.get(k) for k in _ORDER_FIELDS})
    return dict(grouped)


# ---------------------------------------------------------------------- sending
def _record(table, digest: dict, field: str, now: datetime) -> None:
    """Note one send on the marker (created by the first note, expiring after 35 days)."""
    table.update_item(
        Key=keys.digest_marker_key(digest["merchant_id"], digest["date"]),
        UpdateExpression=(
            "SET #f = :at, entity = :e, merchant_id = :m, #d = :d, digest_id = :id, "
            "unfulfilled = :u, due_within_24h = :w, overdue = :o, expires_at = :x"
        ),
        ExpressionAttributeNames={"#f": field, "#d": "date"},
        ExpressionAttributeValues={
            ":at": clock.iso(now),
            ":e": "digest",
            ":m": digest["merchant_id"],
            ":d": digest["date"],
            ":id": digest["digest_id"],
            ":u": digest["unfulfilled"],
            ":w": digest["due_within_24h"],
            ":o": digest["overdue"],
            ":x": int(now.timestamp()) + MARKER_TTL_DAYS * 86400,
        },
    )


def put_event(digest: dict) -> None:
    resp = aws.client("events").put_events(
        Entries=[
            {
                "Source": SOURCE,
                "DetailType": DETAIL_TYPE,
                "Detail": dumps(digest),
                "EventBusName": settings().event_bus_name,
            }
        ]
    )
    if resp.get("FailedEntryCount"):
        raise DigestFailed(f"event not put: {resp.get('Entries')}")


def publish(digest: dict) -> None:
    topic = settings().digest_topic_arn
    if not topic:
        raise DigestFailed("DIGEST_TOPIC_ARN is not set")
    # One message per protocol: e-mail subscribers (the merchant's own address, merchants/
    # notifications.py) read the text; every other subscriber gets the JSON digest.
    aws.client("sns").publish(
        TopicArn=topic,
        Subject=subject(digest),
        MessageStructure="json",
        Message=dumps({"default": dumps(digest), "email": email_text(digest)}),
        MessageAttributes={"merchant_id": {"DataType": "String", "StringValue": digest["merchant_id"]}},
    )


def send_once(digest: dict, now: datetime) -> str:
    """Send one digest unless the marker says it went out: 'sent', 'resent' (part of it had
    gone already) or 'already_sent'."""
    table = aws.table(settings().table_name)
    marker = (
        table.get_item(
            Key=keys.digest_marker_key(digest["merchant_id"], digest["date"]), ConsistentRead=True
        ).get("Item")
        or {}
    )
    if marker.get("event_sent_at") and marker.get("notified_at"):
        return "already_sent"
    if not marker.get("event_sent_at"):
        put_event(digest)
        _record(table, digest, "event_sent_at", now)
    if not marker.get("notified_at"):
        publish(digest)
        _record(table, digest, "notified_at", now)
    return "resent" if marker else "sent"


def daily_digest(now: datetime | None = None) -> dict[str, int]:
    """Send today's digest to every merchant with unfulfilled orders (docs/digest.md). Raises
    DigestFailed after trying every merchant when any of them failed."""
    now = now or clock.now()
    result = {"merchants": 0, "sent": 0, "already_sent": 0, "errors": 0}
    for merchant_id, orders in sorted(unfulfilled_by_merchant().items()):
        result["merchants"] += 1
        try:
            profile = profiles.get_profile(merchant_id) or {}
            digest = build_digest(
                merchant_id, orders, now, profile.get("timezone"), profile.get("digest_language")
            )
            outcome = send_once(digest, now)
        except Exception:  # one merchant must not stop the others; the run fails at the end
            logger.exception("digest failed", extra={"merchant_id": merchant_id})
            result["errors"] += 1
            continue
        result["already_sent" if outcome == "already_sent" else "sent"] += 1
    logger.info("daily digest done", extra=result)
    if result["errors"]:
        raise DigestFailed(f"{result['errors']} digest(s) not sent; the next run sends them: {result}")
    return result
