"""Background jobs: a job item with progress, one result item per row, and a queue message
that a worker turns into work. Kinds register a runner; a runner is resumable because every
row result is written once (a retried job skips rows already done).

Items:  M#<m>#JOB#<job_id> / #JOB       kind, state, params, total, processed, succeeded, failed
        M#<m>#JOB#<job_id> / R#<row>    result of one row / order (row numbers from 1)
        M#<m>#JOB#<job_id> / D#<chunk>  input data of the job, when it has any (CSV rows)
        M#<m>#JOBS#<kind> / <created_at>#<job_id>   the merchant's job history of one kind
"""

from __future__ import annotations

import importlib
import json
import secrets
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from orderhub.kernel import aws, clock, correlation, metrics
from orderhub.kernel.config import settings
from orderhub.kernel.errors import NotFound, OrderhubError, ValidationFailed
from orderhub.store import db, keys
from orderhub.store.paging import decode_cursor, encode_cursor, page

PROGRESS_EVERY = 50
# A job stops this long before its Lambda would time out and continues in a new invocation
# (a row may wait for a marketplace: 3 attempts of 5 s with backoff).
PAUSE_MARGIN_SECONDS = 90
DATA_CHUNK_ROWS = 500
RESULTS_PAGE = 500
# JobsQueue's maxReceiveCount (template.yaml): a job whose message fails on its last receive
# ends failed instead of staying `running` with its message in JobsDLQ.
MAX_RECEIVES = 3

# kind -> runner(job: dict, ctx: JobContext) -> None
RUNNERS: dict[str, Callable[[dict, JobContext], None]] = {}


# kind -> the module whose import registers its runner (imported when a job of that kind runs,
# so the worker starts without every kind's dependencies)
KIND_MODULES = {
    "import_csv": "orderhub.orders.csv_import",
    "refresh": "orderhub.orders.refresh",
    "apply_mappings": "orderhub.orders.mapping_jobs",
    "fulfill_csv": "orderhub.fulfillment.csvfile",
    "confirm": "orderhub.orders.bulk",
    "ship_request": "orderhub.orders.bulk",
    "retry_reflect": "orderhub.orders.bulk",
}


def register(kind: str):
    def register(fn):
        RUNNERS[kind] = fn
        return fn

    return register


def runner_for(kind: str) -> Callable[[dict, JobContext], None] | None:
    """The runner of a kind, importing the module that registers it the first time."""
    if kind not in RUNNERS and kind in KIND_MODULES:
        importlib.import_module(KIND_MODULES[kind])
    return RUNNERS.get(kind)


def _table():
    return aws.table(settings().table_name)


def create(
    merchant_id: str, kind: str, params: dict, rows: list | None = None, total: int | None = None
) -> dict:
    """Store a job (and its input rows) and queue it. Returns the job as the API shows it."""
    job_id = "job_" + secrets.token_hex(8)
    now = clock.iso(clock.now())
    job = correlation.stamp(
        {
            **keys.job_key(merchant_id, job_id),
            "entity": "job",
            "job_id": job_id,
            "merchant_id": merchant_id,
            "kind": kind,
            "state": "queued",
            "params": params,
            "total": total if total is not None else (len(rows) if rows is not None else None),
            "processed": 0,
            "succeeded": 0,
            "failed": 0,
            "created_at": now,
            "updated_at": now,
            "chunks": 0,
        }
    )
    table = _table()
    if rows:
        chunks = _data_items(job["pk"], rows)
        job["chunks"] = len(chunks)
        with table.batch_writer() as batch:
            for chunk in chunks:
                batch.put_item(Item=chunk)
    table.put_item(Item=job)
    table.put_item(
        Item={
            "pk": keys.job_history_pk(merchant_id, kind),
            "sk": keys.time_sk(now, job_id),
            "entity": "job_ref",
            "job_id": job_id,
        }
    )
    aws.client("sqs").send_message(
        QueueUrl=settings().jobs_queue_url,
        MessageBody=json.dumps({"merchant_id": merchant_id, "job_id": job_id}),
        MessageAttributes=correlation.message_attributes(),  # the request's, to every run of the job
    )
    return view(job)


def _data_items(job_pk: str, rows: list) -> list[dict]:
    """A job's input rows as its data items, DATA_CHUNK_ROWS to an item (JobContext.rows reads them)."""
    return [
        {
            "pk": job_pk,
            "sk": keys.job_data_sk(n),
            "entity": "job_data",
            "rows": json.dumps(rows[i : i + DATA_CHUNK_ROWS], ensure_ascii=False),
        }
        for n, i in enumerate(range(0, len(rows), DATA_CHUNK_ROWS))
    ]


def view(job: dict) -> dict:
    return db.plain_item(job, ("pk", "sk", "entity", "chunks"))


def get(merchant_id: str, job_id: str, cursor: str | None = None) -> dict:
    table = _table()
    job = table.get_item(Key=keys.job_key(merchant_id, job_id)).get("Item")
    if not job:
        raise NotFound(f"job {job_id} not found", field="job_id")
    start = keys.JOB_RESULT_PREFIX
    fingerprint = f"job:{merchant_id}:{job_id}"
    if cursor:  # a signed cursor holding the last result's key (store/paging.py)
        last = decode_cursor(cursor, fingerprint)
        if last["pk"] != job["pk"] or not last["sk"].startswith(keys.JOB_RESULT_PREFIX):
            raise ValidationFailed("cursor is not valid for this job", field="cursor")
        start = last["sk"]
    resp = table.query(
        KeyConditionExpression=Key("pk").eq(job["pk"]) & Key("sk").between(start, keys.JOB_RESULTS_END),
        Limit=RESULTS_PAGE + 1,
    )
    items = resp.get("Items", [])
    if cursor and items and items[0]["sk"] == start:
        items = items[1:]
    page = items[:RESULTS_PAGE]
    more = len(items) > RESULTS_PAGE or ("LastEvaluatedKey" in resp and len(page) == RESULTS_PAGE)
    out = view(job)
    out["results"] = [db.plain_item(i) for i in page]
    out["next_cursor"] = (
        encode_cursor({"pk": job["pk"], "sk": page[-1]["sk"]}, fingerprint) if more and page else None
    )
    return out


def list_page(merchant_id: str, kind: str, query_string: dict[str, str] | None) -> dict:
    """The merchant's jobs of one kind, newest first, with their state and counts (no rows)."""
    refs, cursor = page(
        {
            "KeyConditionExpression": Key("pk").eq(keys.job_history_pk(merchant_id, kind)),
            "ScanIndexForward": False,
        },
        query_string or {},
        f"jobs:{merchant_id}:{kind}",
        default_size=25,
    )
    wanted = [keys.job_key(merchant_id, r["job_id"]) for r in refs]
    found = db.get_items(wanted)
    jobs = [view(found[(k["pk"], k["sk"])]) for k in wanted if (k["pk"], k["sk"]) in found]
    return {"jobs": jobs, "next_cursor": cursor}


def get_of_kind(merchant_id: str, job_id: str, kind: str, cursor: str | None = None) -> dict:
    job = get(merchant_id, job_id, cursor)
    if job.get("kind") != kind:
        raise NotFound(f"job {job_id} not found", field="job_id")
    return job


def _tally(counts: dict[str, int], ok: bool, skipped: bool) -> None:
    """Count one row result: processed, and skipped or succeeded or failed."""
    counts["processed"] += 1
    if skipped:
        counts["skipped"] = counts.get("skipped", 0) + 1
    else:
        counts["succeeded" if ok else "failed"] += 1


class JobContext:
    """What a runner uses: its input rows, done-row skipping, results and progress."""

    def __init__(self, job: dict):
        self.job = job
        self.table = _table()
        self.counts = {
            "processed": int(job.get("processed", 0)),
            "succeeded": int(job.get("succeeded", 0)),
            "failed": int(job.get("failed", 0)),
        }
        if "skipped" in job:
            self.counts["skipped"] = int(job["skipped"])
        self._since_progress = 0
        self._counted: tuple[int, int] | None = None  # (processed, failed) at the last metric
        # True while this attempt is known to be the job's first (it moved the job out of
        # queued): no row can be done yet, so done() need not read.
        self.first_attempt = False
        self.time_left: Callable[[], float] | None = None

    def start(self) -> None:
        """Move the job to running. The attempt that moves it out of queued is the first one."""
        try:
            self.table.update_item(
                Key={"pk": self.job["pk"], "sk": keys.JOB_SK},
                UpdateExpression="SET #s = :running, updated_at = :now",
                ConditionExpression="#s = :queued",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={
                    ":running": "running",
                    ":queued": "queued",
                    ":now": clock.iso(clock.now()),
                },
            )
            self.first_attempt = True
            self._count_rows()  # the baseline: rows are counted from here
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            self._recount()
            self.progress("running")  # a retry, a continuation or a redelivery: rows are checked

    def _recount(self) -> None:
        """Counts from the results written so far (the job item's counts lag up to PROGRESS_EVERY
        rows behind when an attempt stopped without saying so)."""
        counts = {"processed": 0, "succeeded": 0, "failed": 0}
        if "skipped" in self.counts:
            counts["skipped"] = 0
        query = {
            "KeyConditionExpression": Key("pk").eq(self.job["pk"])
            & Key("sk").begins_with(keys.JOB_RESULT_PREFIX),
            "ProjectionExpression": "ok, skipped",
        }
        for item in db.query_items(query, self.table):
            _tally(counts, bool(item.get("ok")), bool(item.get("skipped")))
        self.counts = counts

    def rows(self) -> Iterator[tuple[int, Any]]:
        """(row number from 1, row) for the job's stored input, in order."""
        n = 0
        for chunk in range(int(self.job.get("chunks", 0))):
            item = self.table.get_item(Key={"pk": self.job["pk"], "sk": keys.job_data_sk(chunk)})["Item"]
            for row in json.loads(item["rows"]):
                n += 1
                yield n, row

    def snapshot(self, make_rows: Callable[[], Iterable[dict]]) -> list[dict]:
        """The job's input rows, fixed by its first attempt: `make_rows()` (every order a filter
        shows, say) is stored as the job's data and a later attempt reads that, so a row number
        names the same order in every attempt even when the work moves orders out of the filter
        (a confirm takes them off the `new` tab). Stored before any row runs."""
        if int(self.job.get("chunks", 0)):
            return [row for _, row in self.rows()]
        rows = list(make_rows())
        chunks = _data_items(self.job["pk"], rows)
        for chunk in chunks:  # one at a time: the job worker may not BatchWriteItem
            self.table.put_item(Item=chunk)
        try:
            self.table.update_item(
                Key={"pk": self.job["pk"], "sk": keys.JOB_SK},
                UpdateExpression="SET chunks = :n, #t = :t",
                ConditionExpression="attribute_not_exists(chunks) OR chunks = :zero",
                ExpressionAttributeNames={"#t": "total"},
                ExpressionAttributeValues={":n": len(chunks), ":t": len(rows), ":zero": 0},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # another attempt fixed the rows first: use its
            self.job = self.table.get_item(Key={"pk": self.job["pk"], "sk": keys.JOB_SK})["Item"]
            return [row for _, row in self.rows()]
        self.job["chunks"], self.job["total"] = len(chunks), len(rows)
        return rows

    def done(self, row: int) -> bool:
        if self.first_attempt:
            return False
        return "Item" in self.table.get_item(
            Key={"pk": self.job["pk"], "sk": keys.job_result_sk(row)}, ProjectionExpression="pk"
        )

    def _result_item(self, row: int, ok: bool, data: dict) -> dict:
        item = {
            "pk": self.job["pk"],
            "sk": keys.job_result_sk(row),
            "entity": "job_result",
            "row": row,
            "ok": ok,
        }
        item.update({k: v for k, v in data.items() if v is not None})
        return item

    def result(self, row: int, ok: bool, **data) -> None:
        """Write the row's result (once: a row an earlier attempt finished keeps its result)."""
        item = self._result_item(row, ok, data)
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return  # written by an earlier attempt of this job
            raise
        self.recorded(ok, skipped=bool(data.get("skipped")))

    def result_op(self, row: int, ok: bool, **data) -> dict:
        """The row's result as a Put for the transaction that does the row's work, so the work
        and its result are written together or not at all (a retry never finds the one without
        the other). It fails the transaction if the row has a result already. Once the
        transaction is written, `recorded` counts it."""
        return db.put_op(self._result_item(row, ok, data), "attribute_not_exists(pk)")

    def amend(self, row: int, **data) -> None:
        """Add fields to a row's written result (what was learned after its transaction)."""
        self._set(keys.job_result_sk(row), data)

    def recorded(self, ok: bool, skipped: bool = False) -> None:
        """Count a row result just written; save progress now and then; pause when the
        invocation is running out of time."""
        _tally(self.counts, ok, skipped)
        self._since_progress += 1
        if self._since_progress >= PROGRESS_EVERY:
            self.progress()
        if self.time_left is not None and self.time_left() < PAUSE_MARGIN_SECONDS:
            raise JobPaused()

    def set_total(self, total: int) -> None:
        self.job["total"] = total
        self.table.update_item(
            Key={"pk": self.job["pk"], "sk": keys.JOB_SK},
            UpdateExpression="SET #t = :t",
            ExpressionAttributeNames={"#t": "total"},
            ExpressionAttributeValues={":t": total},
        )

    def fail(self, error: dict) -> None:
        """End the job `failed` with the reason (docs/registration.md, "Jobs")."""
        self.progress("failed", error=error)

    def progress(self, state: str = "running", **extra) -> None:
        self._since_progress = 0
        self._count_rows()
        now = clock.iso(clock.now())
        fields = {"state": state, **self.counts, "updated_at": now, **extra}
        if state in ("done", "failed"):
            fields["finished_at"] = now
        self._set(keys.JOB_SK, fields)

    def _count_rows(self) -> None:
        """JobRowsProcessed / JobRowsFailed (kernel/metrics.py): the rows this attempt did since
        it last counted (an attempt starts from the job's counts, so a retry counts no row twice)."""
        now = (self.counts["processed"], self.counts["failed"])
        if self._counted is not None:
            done, failed = now[0] - self._counted[0], now[1] - self._counted[1]
            m, kind = self.job["merchant_id"], self.job.get("kind")
            if done > 0:
                metrics.count("JobRowsProcessed", done, kind=kind, merchant_id=m)
            if failed > 0:
                metrics.count("JobRowsFailed", failed, kind=kind, merchant_id=m)
        self._counted = now

    def _set(self, sk: str, fields: dict) -> None:
        """SET these fields on the job's item `sk`."""
        self.table.update_item(
            Key={"pk": self.job["pk"], "sk": sk},
            UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
            ExpressionAttributeNames={f"#f{i}": k for i, k in enumerate(fields)},
            ExpressionAttributeValues={f":v{i}": v for i, v in enumerate(fields.values())},
        )


class JobPaused(Exception):
    """The invocation is running out of time: the job continues from a new queue message."""


def run(message_body: str, time_left: Callable[[], float] | None = None, receive_count: int = 1) -> dict:
    """Run one queued job to the end (the worker's record handler). With `time_left` (seconds
    left in this invocation), a long job stops after a row when little time is left, saves its
    progress and queues its own continuation; the next attempt skips the rows already done.
    A run that fails ends the job `failed` with the reason: at once when a rule refuses the job,
    else on its message's last receive (`receive_count`, SQS's ApproximateReceiveCount)."""
    msg = json.loads(message_body)
    correlation.add_keys(merchant_id=msg.get("merchant_id"), job_id=msg.get("job_id"))
    job = _table().get_item(Key=keys.job_key(msg["merchant_id"], msg["job_id"])).get("Item")
    if job is None:
        raise NotFound(f"job {msg['job_id']} not found")
    if job["state"] in ("done", "failed"):
        return view(job)
    fn = runner_for(job["kind"])
    ctx = JobContext(job)
    if fn is None:
        ctx.progress("failed")
        raise ValueError(f"no runner for job kind {job['kind']!r}")
    ctx.start()
    ctx.time_left = time_left
    try:
        fn(job, ctx)
    except JobPaused:
        ctx.progress("running")
        aws.client("sqs").send_message(
            QueueUrl=settings().jobs_queue_url,
            MessageBody=message_body,
            MessageAttributes=correlation.message_attributes(),
        )
        return {"job_id": job["job_id"], "paused": True, **ctx.counts}
    except OrderhubError as exc:
        # A rule refused the job itself (its filter, say): no retry can run it; it ends failed.
        ctx.fail(exc.to_body()["error"])
        return {"job_id": job["job_id"], **ctx.counts, "state": "failed"}
    except Exception as exc:
        # Anything else may pass (a throttled table): the message comes back and the job goes
        # on from its last row. Its last receive ends it failed, never `running` for ever.
        if receive_count >= MAX_RECEIVES:
            ctx.fail({"code": "internal_error", "message": f"the job stopped: {type(exc).__name__}"})
        raise
    ctx.progress("done")
    return {"job_id": job["job_id"], **ctx.counts}


def filter_targets(ctx: JobContext, merchant_id: str, query_string: dict) -> list[dict]:
    """Every order a GET /orders filter shows when the job first ran (ctx.snapshot), as rows
    {order_id, order_no, marketplace, origin, status}."""
    return ctx.snapshot(
        lambda: (
            {
                "order_id": o["order_id"],
                "order_no": o["marketplace_order_no"],
                "marketplace": o["marketplace"],
                "origin": o.get("origin", "api"),
                "status": o["status"],
            }
            for o in each_order_of_filter(merchant_id, query_string)
        )
    )


def each_order_of_filter(merchant_id: str, query_string: dict) -> Iterable[dict]:
    """Every order a GET /orders filter shows, page by page (Queries only)."""
    from orderhub.orders import queries

    qs = {k: v for k, v in query_string.items() if k not in ("cursor", "page_size")}
    qs["page_size"] = "200"
    while True:
        page = queries.list_orders(merchant_id, qs)
        yield from page["orders"]
        if not page["next_cursor"]:
            return
        qs["cursor"] = page["next_cursor"]
