"""Pull ingestion's rules (docs/pull.md). Pure functions.

A pulled integration keeps one cursor: the newest `updated_at` it has queued. Each run asks the
marketplace for the orders changed since the cursor less an overlap (a change stamped just
before the cursor but committed after the last read is read again; the repeat is a duplicate
delivery), or, the first time, since `pull_backfill_days` ago. A marketplace with no change-time
filter is swept instead: every run re-reads the orders placed in the back-fill window, and
`seen` keeps the repeats out of the queue. A listing longer than one run is resumed by the next
run from its page token (`resume`); the cursor moves when a listing ends.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from orderhub.kernel import clock

OVERLAP = timedelta(minutes=5)
PAGE_LIMIT = 100  # orders asked for per page
MAX_PAGES_PER_RUN = 50  # the rest waits for the next run (the cursor says where it stopped)
FAILING_AFTER = 3  # consecutive failed runs before the integration shows failing and the alarm goes
SEEN_MAX = 2000  # the changes remembered for the overlap (an item stays far below 400 KB)
ADAPTER = "pull"  # the envelope's adapter: GET /webhook-deliveries/pull/<delivery id>


def window_start(
    cursor: str | None, now: datetime, backfill_days: int, mode: str = "updated_since"
) -> datetime:
    """Where a run starts reading. `updated_since`: the cursor less the overlap, or the back-fill
    window the first time. `sweep` (a marketplace with no change-time filter): every run re-reads
    the orders placed in the back-fill window (at least a day)."""
    if mode == "sweep":
        return now - timedelta(days=max(1, backfill_days))
    if cursor:
        return clock.parse_iso(cursor) - OVERLAP
    return now - timedelta(days=backfill_days)


def seen_floor(newest: str | None, since: datetime, mode: str = "updated_since") -> str | None:
    """The oldest change stamp a later read can reach again: older changes are dropped from
    `seen`. `updated_since`: the newest stamp queued less the overlap (the next listing starts
    there; a listing resumed from its page token does not read its earlier pages again). `sweep`:
    the window's start (an order's change stamp is never older than its order date)."""
    if mode == "sweep":
        return clock.iso(since)
    return clock.iso(clock.parse_iso(newest) - OVERLAP) if newest else None


def delivery_id(marketplace: str, order_no: str, updated_at: datetime, variant: str = "") -> str:
    """A pulled change's delivery id: the same change read twice is one delivery, as a webhook's
    redelivery is (marketplace, order number and the marketplace's change stamp). `variant` tells
    apart a change the marketplace made without moving its stamp (a claim closed: reread_reason)."""
    base = f"pull:{marketplace}:{order_no}:{clock.iso(updated_at)}"
    return f"{base}:{variant}" if variant else base


# A sweep reads only the orders placed in its window; the open orders orderhub holds from before
# it, and every order on hold (a claim the buyer withdrew leaves the marketplace's claim search),
# are read again by number after each listing, at most REREAD_MAX a run (docs/pull.md).
REREAD_BEFORE_WINDOW = ("pending", "new", "processing")
REREAD_ANY_AGE = ("on_hold",)  # of any age: those before the window among them
REREAD_MAX = 200


def reread_reason(stored: dict, stamp: datetime, claim_state: str | None) -> str | None:
    """Why an order read again is queued: "changed" (a newer stamp), "claim-<state>" (the claim
    opened or closed without a new stamp), or None (nothing new). `stored`: orderhub's order
    (marketplace_updated_at, claim); `claim_state`: what the marketplace shows (None: it cannot
    tell)."""
    if clock.iso(stamp) > str(stored.get("marketplace_updated_at") or ""):
        return "changed"
    was_open = ((stored.get("claim") or {}).get("state")) == "open"
    if claim_state is not None and (claim_state == "open") != was_open:
        return f"claim-{claim_state}"
    return None


def newest(cursor: str | None, stamps: list[datetime]) -> str | None:
    """The cursor after a page: the newest change stamp seen, never moving back."""
    best = clock.parse_iso(cursor) if cursor else None
    for stamp in stamps:
        if best is None or stamp > best:
            best = stamp
    return clock.iso(best) if best is not None else None


def already_queued(seen: dict[str, str], order_no: str, updated_at: datetime) -> bool:
    """The overlap read this change again: an earlier run queued it (`seen`: order number ->
    the change stamp queued last)."""
    return seen.get(order_no) == clock.iso(updated_at)


def quarantine_marker(body: bytes) -> str:
    """`seen`'s key for a pulled order that was quarantined, by its content: a sweep that reads
    the same malformed order again does not quarantine it again (a changed one is new)."""
    return "#quarantined:" + hashlib.sha256(body).hexdigest()[:32]


def remember(seen: dict[str, str], queued: dict[str, str], floor: str | None) -> dict[str, str]:
    """`seen` after a page: the changes just queued added, those no later run can read again
    (older than `floor`, seen_floor()) dropped, the newest SEEN_MAX kept (past that a re-read is
    a duplicate delivery, as without the memory)."""
    out = {**seen, **queued}
    if floor:
        out = {no: at for no, at in out.items() if at >= floor}
    if len(out) > SEEN_MAX:
        out = dict(sorted(out.items(), key=lambda kv: kv[1])[-SEEN_MAX:])
    return out


def status_view(item: dict | None, enabled: bool) -> dict:
    """What GET /integrations/{marketplace} shows of the pull."""
    item = item or {}
    failures = int(item.get("failures", 0))
    state = "off" if not enabled else "failing" if failures >= FAILING_AFTER else "ok"
    if enabled and failures == 0 and not item.get("cursor"):
        state = "waiting"
    return {
        "state": state,
        "cursor": item.get("cursor"),
        "failures": failures,
        "last_error": item.get("last_error"),
        "failing_since": item.get("failing_since"),
    }
