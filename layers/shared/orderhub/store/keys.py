"""Every key of the single table and of its indexes: the pk / sk formats, the index names and the
values of the index key attributes, and how keys many orders share are spread over shards. Pure:
no I/O (which generation of the order indexes a stack reads comes from its configuration,
kernel/config.py `order_indexes`). Which items carry which index
attributes (the rules) is store/db.py's `index_attrs`; docs/data-model.md lists them all.

Items (pk / sk):
  M#<m>#O#<order_id> / #ORDER                  the order (plus index attributes, see db.index_attrs)
  M#<m>#O#<order_id> / H#<at>#<n>#<rand>       its history, append-only
  M#<m>#NO#<marketplace>#<no> / #LOOKUP        marketplace order number -> current order id
  PACKING#<packing_no> / #PACKING              packing number -> order (uniqueness, warehouse lookups)
  MERCHANT#<m> / #PROFILE                      merchant profile (orderhub.merchants.profiles)
  MERCHANT#<m> / #COUNTS                       the legacy counters item (read, never written)
  MERCHANT#<m>#CNT#<shard> / #BASE             a counters shard's folded sums (store/counters.py)
  MERCHANT#<m>#CNT#<shard> / D#<at>#<order_id>#<rand>   one transaction's counter deltas
  MERCHANT#<m> / DIGEST#<yyyy-mm-dd>           the daily digest's marker (orderhub.schedules.digest)
  M#<m>#DLV#<adapter>#<delivery_id> / #DELIVERY   webhook delivery outcome (dedupe; TTL)
  M#<m>#QUARANTINE / <received_at>#<id>        signed but malformed payloads
  M#<m>#VIOLATION / <at>#<order_id>            fulfillment deadline missed (the deadline check)
  M#<m>#SKUFLAG / <marketplace>#<sku>          a SKU of a deadline-refunded order
  M#<m>#TRACK#<number> / #TRACK                the tracking index of one tracking number
  M#<m>#MAP / <marketplace or *>#<sku>         item mapping (orderhub.orders.mappings)
  M#<m>#JOB#<job_id> / #JOB, D#<chunk>, R#<row>   a background job, its input, its row results
  M#<m>#JOBS#<kind> / <created_at>#<job_id>    the merchant's job history of one kind
  M#<m>#SYNC / <at>#<sync_id>                  sync history (orderhub.sync.history)
  WHREQ#<request_id> / #REQUEST                a request waiting for the warehouse (orderhub.sync.flows)

Segments: every id or value put into a key (merchant id, order id, marketplace order number,
SKU, tracking number, search term, job id...) goes through `segment`, which writes `%` as `%25`
and `#` as `%23`; `#` only ever separates segments. So no value can add a segment or end one
early: demo's order number `A#B` is `M#demo#NO#shopify#A%23B`, and a merchant id `demo#NO`
(which the APIs refuse anyway, api/request.py) would be `M#demo%23NO#...`, another partition.
A `begins_with` prefix ends with `#` (`marketplace_prefix`), so it matches that one segment
value and no longer one. Values without `#` and `%` (every merchant id, order id and packing
number; nearly every order number) are unchanged: keys stored before stay valid
(docs/data-model.md, "Key segments").
"""

from __future__ import annotations

import zlib

from orderhub.kernel import config

SEPARATOR = "#"


def segment(value: object) -> str:
    """`value` as one key segment: `%` -> `%25`, `#` -> `%23` (a value can't add a segment)."""
    text = str(value)
    if "#" in text or "%" in text:
        text = text.replace("%", "%25").replace("#", "%23")
    return text


def _join(*parts: object) -> str:
    return SEPARATOR.join(map(segment, parts))


def merchant_pk(merchant_id: str, *parts: object) -> str:
    """`M#<merchant_id>#<part>#...`: every partition of one merchant's data starts so."""
    return _join("M", merchant_id, *parts)


def time_sk(at: str, *parts: str) -> str:
    """A sort key that sorts by time: `<at>#<part>#...` (the parts make it unique)."""
    return _join(at, *parts)


def time_of(sk: str) -> str:
    """The time a `time_sk` starts with."""
    return sk.split(SEPARATOR, 1)[0]


def through(at: str) -> str:
    """The highest `time_sk` at `at`: the upper bound of a key range that includes `at`."""
    return segment(at) + SEPARATOR + "~"


# ------------------------------------------------------------------ orders
ORDER_SK = "#ORDER"
HISTORY_PREFIX = "H#"


def order_pk(merchant_id: str, order_id: str) -> str:
    return merchant_pk(merchant_id, "O", order_id)


def order_key(merchant_id: str, order_id: str) -> dict:
    return {"pk": order_pk(merchant_id, order_id), "sk": ORDER_SK}


def history_sk(at: str, seq: int, rand: str) -> str:
    return f"{HISTORY_PREFIX}{_join(at, f'{seq:015d}', rand)}"


def lookup_key(merchant_id: str, marketplace: str, order_no: str) -> dict:
    return {"pk": merchant_pk(merchant_id, "NO", marketplace, order_no), "sk": "#LOOKUP"}


def packing_key(packing_no: str) -> dict:
    return {"pk": _join("PACKING", packing_no), "sk": "#PACKING"}


# ------------------------------------------------------------------ merchants
def profile_key(merchant_id: str) -> dict[str, str]:
    return {"pk": _join("MERCHANT", merchant_id), "sk": "#PROFILE"}


# One item per pulled integration, in one partition the pull's schedule reads (docs/pull.md): it
# is written when a run queues a page or fails, never per order.
PULL_PK = "PULL"


def pull_key(merchant_id: str, marketplace: str) -> dict[str, str]:
    return {"pk": PULL_PK, "sk": _join(merchant_id, marketplace)}


def seller_key(marketplace: str, seller_id: str) -> dict[str, str]:
    """Which merchant a marketplace's seller account belongs to (Amazon's notifications name the
    seller, not the merchant: pull/notified.py)."""
    return {"pk": _join("SELLER", marketplace, seller_id), "sk": "#MERCHANT"}


def counts_key(merchant_id: str) -> dict:
    """The counters item written before the counters were sharded: never written again, still
    read into every count (store/counters.py, docs/data-model.md "Migration: counters")."""
    return {"pk": _join("MERCHANT", merchant_id), "sk": "#COUNTS"}


# ------------------------------------------------------------------ counters (store/counters.py)
COUNTER_BASE_SK = "#BASE"  # sorts before every delta's sk
COUNTER_DELTA_PREFIX = "D#"


def counter_shard_pk(merchant_id: str, shard: int) -> str:
    """One of the merchant's COUNTER_SHARDS counter partitions: `MERCHANT#<m>#CNT#<shard>`."""
    return _join("MERCHANT", merchant_id, "CNT", shard)


def counter_shard_pks(merchant_id: str) -> list[str]:
    return [counter_shard_pk(merchant_id, i) for i in range(COUNTER_SHARDS)]


def counter_base_key(shard_pk: str) -> dict[str, str]:
    return {"pk": shard_pk, "sk": COUNTER_BASE_SK}


def counter_delta_sk(at: str, order_id: str, rand: str) -> str:
    """`D#<at>#<order_id>#<rand>`: one transaction's deltas (the random part keeps it unique)."""
    return COUNTER_DELTA_PREFIX + time_sk(at, order_id, rand)


def digest_marker_key(merchant_id: str, local_date: str) -> dict[str, str]:
    return {"pk": _join("MERCHANT", merchant_id), "sk": _join("DIGEST", local_date)}


# ------------------------------------------------------------------ webhooks
DELIVERY_SK = "#DELIVERY"


def delivery_key(merchant_id: str, adapter: str, delivery_id: str) -> dict:
    return {"pk": merchant_pk(merchant_id, "DLV", adapter, delivery_id), "sk": DELIVERY_SK}


def quarantine_pk(merchant_id: str) -> str:
    return merchant_pk(merchant_id, "QUARANTINE")


# ------------------------------------------------------------------ deadline check
def violation_pk(merchant_id: str) -> str:
    return merchant_pk(merchant_id, "VIOLATION")


def sku_flag_pk(merchant_id: str) -> str:
    return merchant_pk(merchant_id, "SKUFLAG")


def sku_sk(marketplace: str, sku: str) -> str:
    """The sk of a SKU flag or an item mapping: `<marketplace>#<sku>`."""
    return _join(marketplace, sku)


def marketplace_prefix(marketplace: str) -> str:
    """The begins_with of every `sku_sk` of one marketplace (and of no other: it ends the segment)."""
    return segment(marketplace) + SEPARATOR


# ------------------------------------------------------------------ fulfillment
def tracking_key(merchant_id: str, number: str) -> dict:
    return {"pk": merchant_pk(merchant_id, "TRACK", number), "sk": "#TRACK"}


# ------------------------------------------------------------------ item mappings
def mapping_pk(merchant_id: str) -> str:
    return merchant_pk(merchant_id, "MAP")


def mapping_key(merchant_id: str, marketplace: str, sku: str) -> dict:
    return {"pk": mapping_pk(merchant_id), "sk": sku_sk(marketplace, sku)}


# ------------------------------------------------------------------ jobs
JOB_SK = "#JOB"
JOB_RESULT_PREFIX = "R#"
JOB_RESULTS_END = "R#~"  # above every row result's sk


def job_pk(merchant_id: str, job_id: str) -> str:
    return merchant_pk(merchant_id, "JOB", job_id)


def job_key(merchant_id: str, job_id: str) -> dict:
    return {"pk": job_pk(merchant_id, job_id), "sk": JOB_SK}


def job_data_sk(chunk: int) -> str:
    return f"D#{chunk:05d}"


def job_result_sk(row: int) -> str:
    return f"{JOB_RESULT_PREFIX}{row:07d}"


def job_history_pk(merchant_id: str, kind: str) -> str:
    return merchant_pk(merchant_id, "JOBS", kind)


# ------------------------------------------------------------------ sync
def sync_pk(merchant_id: str) -> str:
    return merchant_pk(merchant_id, "SYNC")


def request_key(request_id: str) -> dict:
    """A cancellation / modification request waiting for the warehouse (with the task token)."""
    return {"pk": _join("WHREQ", request_id), "sk": "#REQUEST"}


# ------------------------------------------------------------------ indexes
# The indexes of the order lists and tabs, the order-number search and the sweeps come in two
# generations (docs/data-model.md, "Indexes" and "Migration: index projections"). The first
# (`by_placed`...) projects the whole order, so every write of an order rewrote each of them; the
# slim one (`by_placed_slim`...) projects only what its readers filter on and read without the
# table, and a reader that needs the whole order reads it from the table (db.whole_items). A
# stack reads one generation (kernel/config.py `order_indexes`): the slim one, except during an
# older stack's migration.
BY_PLACED = "by_placed"
BY_UPDATED = "by_updated"
BY_STATUS_PLACED = "by_status_placed"
BY_STATUS_UPDATED = "by_status_updated"
BY_ORDER_NO = "by_order_no"
BY_DUE = "by_due"
SLIM_SUFFIX = "_slim"
# The indexes with a slim generation, in the order the migration creates (and later drops) them.
SLIMMED = (BY_PLACED, BY_UPDATED, BY_STATUS_PLACED, BY_STATUS_UPDATED, BY_ORDER_NO, BY_DUE)
BY_STAGE = "by_stage"
BY_CLOSED_OUT = "by_closed_out"
BY_MERCHANT_STAGE = "by_merchant_stage"
# by_due partitions (due_kind): pending orders with a payment hold, deleted orders being
# relinked, released orders not shipped yet (DEADLINE: the deadline check's queue; OVERDUE:
# flagged overdue and left as they are, out of that queue; the digest reads both).
DUE_HOLD = "HOLD"
DUE_RELINK = "RELINK"
DUE_DEADLINE = "DEADLINE"
DUE_OVERDUE = "OVERDUE"
# A partition no item uses (a Query that must find nothing).
NOTHING_PK = "#NONE"


def slim_indexes() -> bool:
    """True when the stack reads the slim generation (its items are not whole orders)."""
    return config.order_indexes() == "slim"


def index(name: str) -> str:
    """The name to query for index `name` (one of SLIMMED, or another index, returned as it is)."""
    if name in SLIMMED and slim_indexes():
        return name + SLIM_SUFFIX
    return name


def by_date(basis: str) -> str:
    """The index of every listed order by `placed` or `updated` time (partition list_pk)."""
    return index(f"by_{basis}")


def by_status(basis: str) -> str:
    """The index of one status by `placed` or `updated` time (partition status_pk)."""
    return index(f"by_status_{basis}")


def list_pk(merchant_id: str) -> str:
    return segment(merchant_id)


def status_pk(merchant_id: str, status: str) -> str:
    return _join(merchant_id, status)


def order_no_pk(merchant_id: str, order_no: str) -> str:
    """The search by order number (`?q=`) reads this partition exactly: never a prefix."""
    return _join(merchant_id, order_no)


def stage_pk(stage: str) -> str:
    return _join("STAGE", stage)


def cancel_pk(merchant_id: str) -> str:
    return _join(merchant_id, "CANCELLED")


def merchant_stage_pk(merchant_id: str, stage: str) -> str:
    """One stage of a merchant's shipment list (by_merchant_stage, partition ship_pk)."""
    return _join(merchant_id, stage)


# ------------------------------------------------------------------ write sharding
# A key that many orders write is spread over shards, so no partition key takes more than
# DynamoDB's ~1,000 WCU/s (docs/data-model.md, "Key heat"): the shard of an order is fixed by its
# id. A reader queries every shard (`all_shards`), plus the unsharded value items written before
# sharding still carry (the migration rewrites them; until then they are read too).
COUNTER_SHARDS = 8  # the merchant's counters: delta items (store/counters.py)
DUE_SHARDS = 16  # by_due: each of HOLD, RELINK, DEADLINE, OVERDUE
STAGE_SHARDS = 8  # by_stage: each warehouse stage, across merchants
LIST_SHARDS = 8  # a merchant's lists and status tabs (by_placed, by_updated, by_status_*)


def shard_of(order_id: str, shards: int) -> int:
    """The shard of an order among `shards` (stable: CRC-32 of the id)."""
    return zlib.crc32(str(order_id).encode()) % shards


def sharded(value: str, order_id: str, shards: int) -> str:
    """`<value>#<shard>`: the sharded form of a key value shared by many orders."""
    return f"{value}{SEPARATOR}{shard_of(order_id, shards)}"


def all_shards(value: str, shards: int) -> list[str]:
    """Every value a reader of `value` queries: each shard, then the unsharded (legacy) value."""
    return [f"{value}{SEPARATOR}{i}" for i in range(shards)] + [value]
