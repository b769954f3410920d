"""Pull ingestion (docs/pull.md): for each pulled integration, read the orders changed since its
cursor from the marketplace API, page by page, and queue each as the same envelope a webhook
makes, on the same ingest queue, for the same processor (dedupe, stale rule, sync rules).

After each page that queued something, the item records the page token to go on from
(`resume`), by a write conditional on the version the run read; the cursor (the newest change
stamp queued) moves when a listing ends. A run that stops half-way leaves the item at its last
queued page: the next run reads on from there and never skips an order; of two runs at once
only one writes. A run with nothing new makes one marketplace call per integration (a sweep:
one per page of its window) and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from orderhub.domain import pull as rules
from orderhub.kernel import aws, clock, metrics
from orderhub.kernel.config import settings
from orderhub.kernel.errors import MalformedPayload
from orderhub.kernel.http import dumps
from orderhub.marketplaces import registry
from orderhub.marketplaces.client import MarketplaceError
from orderhub.store import db, keys
from orderhub.sync import integrations
from orderhub.webhooks import payloads

logger = Logger(child=True)

# A run stops starting pages when less than this is left of its invocation.
STOP_MARGIN_SECONDS = 30


def _table():
    return aws.table(settings().table_name)


def run(now: datetime | None = None, time_left: Callable[[], float] | None = None) -> dict:
    """One scheduled run over every pulled integration (a Query of the pull's partition)."""
    now = now or clock.now()
    summary = {
        "integrations": 0,
        "queued": 0,
        "already_queued": 0,
        "quarantined": 0,
        "already_quarantined": 0,
        "reread": 0,
        "failed": 0,
    }
    query = {"KeyConditionExpression": Key("pk").eq(keys.PULL_PK), "ConsistentRead": True}
    for item in db.query_items(query, _table()):
        if not item.get("enabled"):
            continue
        if time_left is not None and time_left() < STOP_MARGIN_SECONDS:
            return summary
        result = pull_one(item, now, time_left)
        summary["integrations"] += 1
        summary["queued"] += result["queued"]
        summary["quarantined"] += result["quarantined"]
        summary["already_queued"] += result["already_queued"]
        summary["already_quarantined"] += result["already_quarantined"]
        summary["reread"] += result.get("reread", 0)
        summary["failed"] += 1 if result.get("error") else 0
    return summary


def pull_one(item: dict, now: datetime, time_left: Callable[[], float] | None = None) -> dict:
    """Read and queue one integration's changed orders; record a failure instead of raising."""
    m, mp = item["merchant_id"], item["marketplace"]
    result: dict[str, Any] = {
        "merchant_id": m,
        "marketplace": mp,
        "queued": 0,
        "already_queued": 0,
        "quarantined": 0,
        "already_quarantined": 0,
    }
    conf = integrations.for_merchant(m, mp)
    if not conf.get("pull"):  # the settings are the truth; this item is only the pull's list
        return result
    client = registry.client_for(m, mp)
    if client is None or not hasattr(client, "list_changed"):
        error = {"kind": "no_marketplace_api", "message": f"{mp} has no api_base_url to pull from"}
        return {**result, "error": _failed(item, error, now)}
    mode = client.pull_mode
    limit = min(rules.PAGE_LIMIT, int(client.page_limit))
    cursor, version = item.get("cursor"), int(item.get("version", 0))
    # A listing the last run did not finish goes on from its page token (docs/pull.md).
    stored_resume = item.get("resume") if isinstance(item.get("resume"), dict) else None
    if stored_resume:
        since = clock.parse_iso(stored_resume["since"])
        token, newest = stored_resume.get("token"), stored_resume.get("newest")
    else:
        since = rules.window_start(cursor, now, int(conf["pull_backfill_days"]), mode)
        token, newest = None, cursor
    seen: dict[str, str] = dict(item.get("seen") or {})
    failures = int(item.get("failures", 0))
    for page in range(rules.MAX_PAGES_PER_RUN):
        try:
            orders, next_token = client.list_changed(since, token, limit)
        except MarketplaceError as exc:
            # A page token the marketplace no longer takes (4xx) is dropped with the failure:
            # the next run lists again from the cursor.
            drop = bool(token) and exc.kind == "http_error"
            # The streak as the item stands now: a page this run wrote has ended the old one.
            failed = {**item, "version": version, "failures": failures}
            return {**result, "error": _failed(failed, exc.to_dict(), now, drop_resume=drop)}
        stamps, queued, quarantined_before = [], {}, result["quarantined"]
        for raw in orders:
            outcome, change = _queue(m, client, raw, now, seen)
            result[outcome] += 1
            if outcome == "queued":
                stamps.append(change.marketplace_updated_at)
                queued[change.marketplace_order_no] = clock.iso(change.marketplace_updated_at)
        newest = rules.newest(newest, stamps)
        token = next_token
        done = not token
        out_of_time = page == rules.MAX_PAGES_PER_RUN - 1 or (
            time_left is not None and time_left() < STOP_MARGIN_SECONDS
        )
        position = None if done else {"since": clock.iso(since), "token": token, "newest": newest}
        # Written when a page queued something (before its orders could be lost: the next run
        # reads on from here), when a listing ends that left a position or a failure streak, and
        # when the run stops with pages left. A quiet listing read in one run writes nothing.
        last_page = done or out_of_time
        marked = result["quarantined"] > quarantined_before  # its marker in `seen` is written too
        if (
            queued
            or marked
            or (last_page and (failures or position != stored_resume or (done and newest != cursor)))
        ):
            # Only what a later read can reach is remembered: the next listing starts at the
            # newest stamp less the overlap (a sweep: at its window's start).
            seen = rules.remember(seen, queued, rules.seen_floor(newest, since, mode))
            moved = newest if done else cursor
            version = _advance(m, mp, version, moved, seen, position)
            if version is None:  # another run wrote first: that run goes on from there
                return result
            cursor, failures, stored_resume = moved, 0, position
        if last_page:
            if done and mode == "sweep" and hasattr(client, "read_orders"):
                _reread_open(m, client, since, now, result, seen)
            break
    result["cursor"] = cursor
    return result


def _reread_open(
    merchant_id: str, client, since: datetime, now: datetime, result: dict, seen: dict[str, str]
) -> None:
    """After a sweep's listing: read again, by number, the open orders its window does not reach
    and the orders on hold, and queue those that changed (docs/pull.md). Compared with the order
    orderhub holds, so an unchanged one is not queued again; nothing is written to the item. A
    failing read is logged and left to the next run."""
    mp = client.marketplace
    stored: dict[str, dict] = {}
    for placed_before, statuses in (
        (clock.iso(since), rules.REREAD_BEFORE_WINDOW),
        (None, rules.REREAD_ANY_AGE),
    ):
        for order in db.open_orders(merchant_id, mp, placed_before, statuses, rules.REREAD_MAX):
            stored.setdefault(str(order["marketplace_order_no"]), order)
    numbers = list(stored)[: rules.REREAD_MAX]
    result["reread"] = 0
    if not numbers:
        return
    try:
        raws = client.read_orders(numbers)
    except MarketplaceError as exc:
        logger.warning("pull reread failed", extra={"marketplace": mp, "error": exc.to_dict()})
        return
    result["reread"] = len(raws)
    for raw in raws:
        try:
            change = client.to_change(raw)
        except MalformedPayload:
            continue  # the sweep's listing quarantines a malformed order; it is not read here
        order = stored.get(change.marketplace_order_no)
        claim = change.claim.state if change.claim is not None else None
        reason = rules.reread_reason(order, change.marketplace_updated_at, claim) if order else None
        if reason is None or (
            reason == "changed"
            and rules.already_queued(seen, change.marketplace_order_no, change.marketplace_updated_at)
        ):
            continue  # nothing new, or the listing queued this change already (this run or before)
        variant = "" if reason == "changed" else reason
        delivery = rules.delivery_id(mp, change.marketplace_order_no, change.marketplace_updated_at, variant)
        payloads.enqueue(merchant_id, rules.ADAPTER, delivery, change, now)
        metrics.count("OrdersPulled", marketplace=change.marketplace, merchant_id=merchant_id)
        result["queued"] += 1


def _queue(merchant_id: str, client, raw: Any, now: datetime, seen: dict[str, str]) -> tuple[str, Any]:
    """Queue one pulled order as a delivery; a malformed one is quarantined whole, and one read
    again (in `seen`: the overlap, a sweep) is left alone. (queued | quarantined | already_queued
    | already_quarantined, the change or None)."""
    try:
        change = client.to_change(raw) if isinstance(raw, dict) else None
        if change is None:
            raise MalformedPayload("each order must be an object", field="orders[]")
    except MalformedPayload as exc:
        text = dumps(raw).encode("utf-8")
        marker = rules.quarantine_marker(text)
        if marker in seen:  # a sweep reads it again, unchanged: it is in the quarantine already
            return "already_quarantined", None
        seen[marker] = clock.iso(now)
        body = payloads.quarantined_body(merchant_id, text)
        reason = {"code": exc.code, "message": exc.message, "field": exc.field}
        qid = db.put_quarantine(
            merchant_id, rules.ADAPTER, reason, {"marketplace": client.marketplace}, body, now
        )
        logger.warning("pulled order quarantined", extra={"quarantine_id": qid, "field": exc.field})
        return "quarantined", None
    if rules.already_queued(seen, change.marketplace_order_no, change.marketplace_updated_at):
        return "already_queued", change
    delivery = rules.delivery_id(
        change.marketplace, change.marketplace_order_no, change.marketplace_updated_at
    )
    payloads.enqueue(merchant_id, rules.ADAPTER, delivery, change, now)
    metrics.count("OrdersPulled", marketplace=change.marketplace, merchant_id=merchant_id)
    return "queued", change


def _advance(
    merchant_id: str,
    marketplace: str,
    version: int,
    cursor: str | None,
    seen: dict[str, str],
    resume: dict | None,
) -> int | None:
    """Move the cursor, the page to resume from and the changes remembered for the overlap (and
    clear a failure streak), on the condition that no other run has written since this one
    read; the new version, or None when another run did."""
    values: dict[str, Any] = {":c": cursor, ":seen": seen, ":v": version, ":next": version + 1, ":zero": 0}
    expression = "SET #c = :c, seen = :seen, version = :next, failures = :zero"
    remove = ["last_error", "failing_since"]
    if resume:
        expression += ", #r = :r"
        values[":r"] = resume
    else:
        remove.append("#r")
    try:
        _table().update_item(
            Key=keys.pull_key(merchant_id, marketplace),
            UpdateExpression=f"{expression} REMOVE {', '.join(remove)}",
            ConditionExpression="version = :v",
            ExpressionAttributeNames={"#c": "cursor", "#r": "resume"},
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return None
    return version + 1


def _failed(item: dict, error: dict, now: datetime, *, drop_resume: bool = False) -> dict:
    """Count a failed run. The FAILING_AFTER-th in a row logs `pull failing`, which the
    template's PullFailingAlarm counts; GET /integrations/{marketplace} shows the state."""
    failures = int(item.get("failures", 0)) + 1
    values: dict[str, Any] = {":e": error, ":n": failures, ":v": int(item.get("version", 0))}
    expression = "SET last_error = :e, failures = :n, version = :v + :one"
    values[":one"] = 1
    if failures == rules.FAILING_AFTER:
        expression += ", failing_since = :now"
        values[":now"] = clock.iso(now)
    if drop_resume:
        expression += " REMOVE resume"
    try:
        _table().update_item(
            Key=keys.pull_key(item["merchant_id"], item["marketplace"]),
            UpdateExpression=expression,
            ConditionExpression="version = :v",
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return error  # another run wrote first: its outcome stands
    extra = {"merchant_id": item["merchant_id"], "marketplace": item["marketplace"], "failures": failures}
    if failures >= rules.FAILING_AFTER:
        logger.error("pull failing", extra={**extra, "error": error})
    else:
        logger.warning("pull failed", extra={**extra, "error": error})
    return error
