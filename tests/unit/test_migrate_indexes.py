"""scripts/migrate_indexes.py: the order of its stack updates, what each passes, its waits for the
orders table's indexes, and where it stops (against in-memory stand-ins for CloudFormation and
DynamoDB and a clock that only moves when the tool sleeps; no AWS)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, WaiterError

from scripts import migrate_indexes as mi

STACK = "orderhub-prod"
TABLE = "orderhub-prod-OrdersTable-1A2B3C"
OTHERS = {"JwtIssuer": "", "AlarmEmail": "ops@example.com", "LogRetentionDays": "90"}


class Clock:
    def __init__(self):
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Cloud:
    """A stack with IndexMigrationStep and its orders table. An update is applied when the tool waits
    for it: the table then has the indexes of template.yaml at the new step, a new one CREATING and
    backfilling for `backfill` looks, a dropped one DELETING for one look."""

    def __init__(
        self, clock: Clock, step: int | None = 1, *, backfill: int = 3, fail: set[int] = frozenset()
    ):
        self.clock = clock
        self.step, self.backfill, self.fail = step, backfill, set(fail)
        self.status = "UPDATE_COMPLETE"
        self.in_progress_looks = 0  # describe_stacks answers *_IN_PROGRESS this many more times
        self.slow_slices = 0  # the waiter runs out of attempts this many times before the update ends
        self.updates: list[dict] = []
        self.pending: int | None = None
        self.log: list[str] = []  # what happened, in order
        at = 0 if step is None else step
        self.table = {name: {"IndexStatus": "ACTIVE", "left": 0} for name in mi.indexes(at)}

    # ----------------------------------------------------------- cloudformation
    def describe_stacks(self, StackName):
        assert StackName == STACK
        status = self.status
        if self.in_progress_looks:
            self.in_progress_looks -= 1
            status = "UPDATE_IN_PROGRESS"
        params = [{"ParameterKey": k, "ParameterValue": v} for k, v in OTHERS.items()]
        if self.step is not None:
            params.append({"ParameterKey": mi.PARAMETER, "ParameterValue": str(self.step)})
        return {"Stacks": [{"StackName": STACK, "StackStatus": status, "Parameters": params}]}

    def describe_stack_resource(self, StackName, LogicalResourceId):
        assert (StackName, LogicalResourceId) == (STACK, "OrdersTable")
        return {"StackResourceDetail": {"LogicalResourceId": "OrdersTable", "PhysicalResourceId": TABLE}}

    def update_stack(self, **kwargs):
        assert self.pending is None, "an update while another is in progress"
        waiting = [n for n, i in self.table.items() if i["IndexStatus"] != "ACTIVE" or i.get("Backfilling")]
        assert not waiting, f"update_stack while {waiting} are not ACTIVE: CloudFormation refuses it"
        self.updates.append(kwargs)
        self.pending = int(
            next(p for p in kwargs["Parameters"] if p["ParameterKey"] == mi.PARAMETER)["ParameterValue"]
        )
        self.log.append(f"update {self.pending}")
        self.status = "UPDATE_IN_PROGRESS"
        return {"StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/orderhub-prod/x"}

    def get_waiter(self, name):
        assert name == "stack_update_complete"
        return Waiter(self)

    def describe_stack_events(self, StackName):
        return {
            "StackEvents": [
                {
                    "StackName": STACK,
                    "LogicalResourceId": STACK,
                    "ResourceStatus": "UPDATE_ROLLBACK_COMPLETE",
                },
                {
                    "StackName": STACK,
                    "LogicalResourceId": "OrdersTable",
                    "ResourceStatus": "UPDATE_FAILED",
                    "ResourceStatusReason": "Resource handler returned message: LimitExceededException",
                },
                {"StackName": STACK, "LogicalResourceId": STACK, "ResourceStatus": "UPDATE_IN_PROGRESS"},
                {
                    "StackName": STACK,
                    "LogicalResourceId": "OrdersTable",
                    "ResourceStatus": "UPDATE_FAILED",
                    "ResourceStatusReason": "an older update's failure",
                },
            ]
        }

    def finish(self) -> bool:
        """The pending update ends; True if it completed."""
        step, self.pending = self.pending, None
        if step in self.fail:
            self.status = "UPDATE_ROLLBACK_COMPLETE"
            self.log.append(f"rolled back {step}")
            return False
        before, after = set(mi.indexes(self.step)), set(mi.indexes(step))
        for name in after - before:
            self.table[name] = {"IndexStatus": "CREATING", "Backfilling": True, "left": self.backfill}
        for name in before - after:
            self.table[name] = {"IndexStatus": "DELETING", "left": 1}
        self.step, self.status = step, "UPDATE_COMPLETE"
        self.log.append(f"complete {step}")
        return True

    # ----------------------------------------------------------- dynamodb
    def describe_table(self, TableName):
        assert TableName == TABLE
        indexes = [
            {
                "IndexName": n,
                "IndexStatus": i["IndexStatus"],
                **({"Backfilling": True} if i.get("Backfilling") else {}),
            }
            for n, i in self.table.items()
        ]
        busy = any(i["IndexStatus"] != "ACTIVE" for i in self.table.values())
        seen = {
            "TableName": TABLE,
            "TableStatus": "UPDATING" if busy else "ACTIVE",
            "GlobalSecondaryIndexes": indexes,
        }
        self.log.append(
            "look: " + ", ".join(f"{n} {i['IndexStatus']}" for n, i in self.table.items() if i["left"])
        )
        for name, index in list(self.table.items()):  # time passes between two looks
            if index["left"]:
                index["left"] -= 1
                if not index["left"] and index["IndexStatus"] == "DELETING":
                    del self.table[name]
                elif not index["left"]:
                    index.update(IndexStatus="ACTIVE", Backfilling=False)
        return {"Table": seen}


class Waiter:
    def __init__(self, cloud: Cloud):
        self.cloud = cloud

    def wait(self, StackName, WaiterConfig):
        assert StackName == STACK and WaiterConfig["Delay"] >= 1 and WaiterConfig["MaxAttempts"] >= 1
        self.cloud.clock.now += WaiterConfig["Delay"] * WaiterConfig["MaxAttempts"]
        if self.cloud.slow_slices:
            self.cloud.slow_slices -= 1
            raise WaiterError("StackUpdateComplete", "Max attempts exceeded", {"Stacks": []})
        if not self.cloud.finish():
            raise WaiterError(
                "StackUpdateComplete",
                "Waiter encountered a terminal failure state: For expression ... UPDATE_ROLLBACK_COMPLETE",
                {"Stacks": []},
            )


def migration(cloud: Cloud, lines: list[str], **timing) -> mi.Migration:
    return mi.Migration(
        cloud,
        cloud,
        STACK,
        timing=mi.Timing(**timing),
        out=lines.append,
        sleep=cloud.clock.sleep,
        clock=cloud.clock,
    )


def test_the_plan_is_read_from_the_template_one_index_per_step_and_the_readers_at_7():
    steps = mi.plan(0, mi.last_step())
    assert [s.number for s in steps] == list(range(1, 14))
    assert all(len(s.created) + len(s.dropped) == 1 and s.readers is None for s in steps if s.number != 7)
    assert [s.created[0] for s in steps[:6]] == [f"{n}_slim" for (n,) in (s.dropped for s in steps[7:])]
    assert steps[6].describe() == "step 7: switch the readers (ORDER_INDEXES) from whole to slim"
    assert steps[0].describe() == "step 1: create index by_placed_slim"
    assert steps[12].describe() == "step 13: drop index by_due"


def test_from_step_1_it_runs_2_to_13_in_order_each_with_the_previous_template_and_values():
    clock = Clock()
    cloud, lines = Cloud(clock, step=1), []
    assert migration(cloud, lines).run() == 13
    assert [u["Parameters"][-1] for u in cloud.updates] == [
        {"ParameterKey": "IndexMigrationStep", "ParameterValue": str(n)} for n in range(2, 14)
    ]
    for update in cloud.updates:
        assert update["StackName"] == STACK and update["UsePreviousTemplate"] is True
        assert "TemplateBody" not in update and "TemplateURL" not in update
        assert update["Capabilities"] == ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
        assert update["Parameters"][:-1] == [{"ParameterKey": k, "UsePreviousValue": True} for k in OTHERS]
    assert cloud.step == 13 and set(cloud.table) == set(mi.indexes(13))
    assert lines[-1] == "stack orderhub-prod is at step 13"
    assert "  step 7: switch the readers (ORDER_INDEXES) from whole to slim" in lines


def test_it_waits_while_an_index_is_creating_or_backfilling_before_the_next_update():
    clock = Clock()
    cloud, lines = Cloud(clock, step=1, backfill=30), []
    cloud.table["by_placed_slim"].update(IndexStatus="CREATING", Backfilling=True, left=30)  # step 1's deploy
    migration(cloud, lines, poll=20, progress=60).run(to=3)
    # update_stack asserts that no index is CREATING, DELETING or backfilling when it is called
    first = cloud.log.index("update 2")
    assert cloud.log[first - 1] == "look: " and cloud.log[first - 2] == "look: by_placed_slim CREATING"
    assert cloud.log[: first - 1].count("look: by_placed_slim CREATING") == 30
    second = cloud.log.index("update 3")
    assert cloud.log[: second - 1].count("look: by_updated_slim CREATING") == 30
    # progress names the indexes, about once a minute (30 looks 20 s apart: 10 min)
    waiting = [
        line for line in lines if "waiting for" in line and "by_placed_slim CREATING (backfilling)" in line
    ]
    assert 9 <= len(waiting) <= 11, waiting
    assert (
        waiting[0]
        == f"table {TABLE}: waiting for table UPDATING, by_placed_slim CREATING (backfilling) (0 s)"
    )
    assert f"table {TABLE}: every index ACTIVE (10 min)" in lines
    assert set(clock.slept) == {20}


def test_the_table_is_ready_when_it_and_every_index_are_active_and_none_is_backfilling():
    m = migration(Cloud(Clock()), [])
    table = {
        "TableStatus": "ACTIVE",
        "GlobalSecondaryIndexes": [
            {"IndexName": "a", "IndexStatus": "ACTIVE"},
            {"IndexName": "b", "IndexStatus": "ACTIVE", "Backfilling": False},
            {"IndexName": "c", "IndexStatus": "CREATING"},  # before its backfill starts
            {"IndexName": "d", "IndexStatus": "ACTIVE", "Backfilling": True},
            {"IndexName": "e", "IndexStatus": "UPDATING"},
        ],
    }
    assert m.not_ready(table) == ["c CREATING", "d ACTIVE (backfilling)", "e UPDATING"]
    assert m.not_ready({"TableStatus": "UPDATING"}) == ["table UPDATING"]


def test_a_dropped_index_is_waited_for_until_it_is_gone():
    clock = Clock()
    cloud, lines = Cloud(clock, step=8), []
    migration(cloud, lines).run(to=10)
    assert (
        cloud.log.index("update 10")
        > cloud.log.index("look: by_updated DELETING")
        > cloud.log.index("update 9")
    )
    assert any("by_updated DELETING" in line for line in lines)
    assert set(cloud.table) == set(mi.indexes(10))


def test_it_stops_and_names_the_step_on_a_rolled_back_update_and_a_rerun_resumes():
    clock = Clock()
    cloud, lines = Cloud(clock, step=1, fail={5}), []
    with pytest.raises(mi.Stopped) as stopped:
        migration(cloud, lines).run()
    message = str(stopped.value)
    assert message.startswith("step 5 failed: stack orderhub-prod is UPDATE_ROLLBACK_COMPLETE")
    assert "OrdersTable: Resource handler returned message: LimitExceededException" in message
    assert "older update" not in message
    assert "the stack is at step 4" in message and "rerun" in message
    assert [u["Parameters"][-1]["ParameterValue"] for u in cloud.updates] == ["2", "3", "4", "5"]
    cloud.fail.clear()
    cloud.updates.clear()
    assert migration(cloud, lines).run() == 13
    assert [u["Parameters"][-1]["ParameterValue"] for u in cloud.updates] == [str(n) for n in range(5, 14)]


def test_a_refused_update_stops_naming_the_step():
    class Refusing(Cloud):
        def update_stack(self, **kwargs):
            raise ClientError(
                {"Error": {"Code": "ValidationError", "Message": "Stack is locked"}}, "UpdateStack"
            )

    cloud = Refusing(Clock(), step=6)
    with pytest.raises(mi.Stopped, match=r"step 7: CloudFormation refused .*Stack is locked.*at step 6"):
        migration(cloud, []).run()


def test_it_refuses_a_stack_without_the_parameter():
    cloud, lines = Cloud(Clock(), step=None), []
    with pytest.raises(mi.Refused, match="no parameter IndexMigrationStep") as refused:
        migration(cloud, lines).run()
    assert 'IndexMigrationStep=1 <the other overrides>"' in str(refused.value)
    assert not cloud.updates and not lines


@pytest.mark.parametrize("step,to", [(13, None), (5, 5), (6, 3)])
def test_it_refuses_a_stack_already_at_or_beyond_the_target(step, to):
    cloud = Cloud(Clock(), step=step)
    with pytest.raises(mi.Refused, match=f"at step {step} already"):
        migration(cloud, []).run(to=to)
    assert not cloud.updates


def test_it_refuses_a_table_that_is_not_the_template_s_at_the_stack_s_step():
    cloud = Cloud(Clock(), step=3)
    del cloud.table["by_status_placed_slim"]
    with pytest.raises(mi.Refused, match="IndexMigrationStep=3 has .*by_status_placed_slim"):
        migration(cloud, []).run()
    assert not cloud.updates


def test_dry_run_prints_the_plan_and_makes_no_update():
    cloud, lines = Cloud(Clock(), step=6), []
    cloud.table["by_due_slim"].update(IndexStatus="CREATING", Backfilling=True, left=5)
    assert migration(cloud, lines).run(to=9, dry_run=True) == 6
    assert not cloud.updates
    assert lines == [
        f"stack orderhub-prod is at step 6; table {TABLE}; 3 steps to 9:",
        "  step 7: switch the readers (ORDER_INDEXES) from whole to slim",
        "  step 8: drop index by_placed",
        "  step 9: drop index by_updated",
        f"table {TABLE}: not ready: table UPDATING, by_due_slim CREATING (backfilling)",
        "dry run: no update made",
    ]


def test_an_update_in_progress_when_it_starts_is_waited_for_then_it_resumes():
    clock = Clock()
    cloud, lines = Cloud(clock, step=4), []
    cloud.in_progress_looks = 4  # the run before was interrupted while its update went on
    migration(cloud, lines).run(to=5)
    assert lines[0] == "stack orderhub-prod is UPDATE_IN_PROGRESS: waiting (0 s)"
    assert [u["Parameters"][-1]["ParameterValue"] for u in cloud.updates] == ["5"]


def test_a_long_update_prints_progress_between_the_waiter_s_slices():
    clock = Clock()
    cloud, lines = Cloud(clock, step=6), []
    cloud.slow_slices = 3  # the waiter runs out of attempts 3 times while the stack is updating
    migration(cloud, lines, poll=20, progress=60).run(to=7)
    assert [line for line in lines if line.startswith("step 7: stack")] == [
        "step 7: stack UPDATE_IN_PROGRESS (1 min)",
        "step 7: stack UPDATE_IN_PROGRESS (2 min)",
        "step 7: stack UPDATE_IN_PROGRESS (3 min)",
    ]
    assert cloud.step == 7


def test_timeouts_stop_the_run_and_say_a_rerun_resumes():
    cloud = Cloud(Clock(), step=1, backfill=100)
    cloud.table["by_placed_slim"].update(IndexStatus="CREATING", Backfilling=True, left=100)
    with pytest.raises(mi.Stopped, match="still has .*by_placed_slim CREATING.* after 10 min; rerun"):
        migration(cloud, [], poll=20, table_timeout=600).run()
    assert not cloud.updates
    cloud = Cloud(Clock(), step=1)
    cloud.slow_slices = 10
    with pytest.raises(mi.Stopped, match="step 2: stack orderhub-prod still UPDATE_IN_PROGRESS after 2 min"):
        migration(cloud, [], poll=20, progress=60, update_timeout=120).run()


def test_main_refuses_with_exit_code_2(monkeypatch, capsys):
    cloud = Cloud(Clock(), step=None)

    class Session:
        def __init__(self, region_name=None):
            assert region_name == "ap-northeast-1"

        def client(self, name):
            return cloud

    monkeypatch.setattr("boto3.session.Session", Session)
    assert mi.main(["--stack", STACK, "--region", "ap-northeast-1"]) == 2
    assert "refused: stack orderhub-prod has no parameter IndexMigrationStep" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        mi.main(["--stack", STACK, "--to", "14"])
