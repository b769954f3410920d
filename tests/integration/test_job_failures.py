"""A job whose run fails ends `failed` with the reason, never `running` for ever (jobs/runner.py,
docs/registration.md "Jobs"); the results of the rows it finished stay. And a job's result
cursor is signed like every list's (store/paging.py)."""

from __future__ import annotations

import json

import pytest

from localcloud.template import Template
from orderhub.jobs import runner
from orderhub.kernel.errors import ValidationFailed
from tests.support.http import ROOT

KIND = "test_failing_job"


def _message(job: dict) -> str:
    return json.dumps({"merchant_id": job["merchant_id"], "job_id": job["job_id"]})


@pytest.fixture
def failing_kind():
    def run(job, ctx):
        for n, _row in ctx.rows():
            if n == 3 and job["params"]["boom"] == "rule":
                raise ValidationFailed("to is out of range", field="to")
            if n == 3:
                raise KeyError("surprise")
            ctx.result(n, True)

    runner.RUNNERS[KIND] = run
    yield
    runner.RUNNERS.pop(KIND, None)


def test_a_run_that_raises_ends_failed_with_the_reason(app_env, failing_kind):
    job = runner.create("demo", KIND, {"boom": "crash"}, rows=[{"n": i} for i in range(5)])
    for receive in range(1, runner.MAX_RECEIVES):  # the queue brings the message back: retried
        with pytest.raises(KeyError):
            runner.run(_message(job), receive_count=receive)
        assert runner.get("demo", job["job_id"])["state"] == "running"
    with pytest.raises(KeyError):  # its last receive: reported to the worker, and the job ends
        runner.run(_message(job), receive_count=runner.MAX_RECEIVES)
    after = runner.get("demo", job["job_id"])
    assert after["state"] == "failed", after
    assert after["error"] == {"code": "internal_error", "message": "the job stopped: KeyError"}
    assert after["finished_at"] and (after["processed"], after["succeeded"]) == (2, 2)
    assert [r["row"] for r in after["results"]] == [1, 2]
    # the queue's retry of the message finds the job failed and stops there
    assert runner.run(_message(job))["state"] == "failed"


def test_the_last_receive_is_the_job_queues(app_env):
    template = Template(ROOT / "template.yaml")
    policy = template.resources_all["JobsQueue"]["Properties"]["RedrivePolicy"]
    assert policy["maxReceiveCount"] == runner.MAX_RECEIVES


def test_a_job_a_rule_refuses_ends_failed_naming_the_field(app_env, failing_kind):
    job = runner.create("demo", KIND, {"boom": "rule"}, rows=[{"n": i} for i in range(5)])
    out = runner.run(_message(job))  # not raised again: it can never run
    assert out["state"] == "failed"
    after = runner.get("demo", job["job_id"])
    assert after["state"] == "failed"
    assert after["error"] == {"code": "validation_failed", "message": "to is out of range", "field": "to"}


def test_job_result_pages_have_signed_cursors(app_env, monkeypatch):
    monkeypatch.setattr(runner, "RESULTS_PAGE", 2)

    def run(job, ctx):
        for n, _row in ctx.rows():
            ctx.result(n, True)

    monkeypatch.setitem(runner.RUNNERS, KIND, run)
    job = runner.create("demo", KIND, {}, rows=[{"n": i} for i in range(5)])
    runner.run(_message(job))
    rows, cursor = [], None
    while True:
        page = runner.get("demo", job["job_id"], cursor)
        rows += [r["row"] for r in page["results"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
        assert not cursor.isdigit()
    assert rows == [1, 2, 3, 4, 5]
    other = runner.create("demo", KIND, {}, rows=[{"n": 0}])
    first = runner.get("demo", job["job_id"])["next_cursor"]
    tampered = first[:-5] + ("A" if first[-5] != "A" else "B") + first[-4:]
    for bad in ("²", "2", tampered):
        with pytest.raises(ValidationFailed) as exc:
            runner.get("demo", job["job_id"], bad)
        assert exc.value.field == "cursor"
    with pytest.raises(ValidationFailed):  # a cursor of another job
        runner.get("demo", other["job_id"], first)
