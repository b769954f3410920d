"""Move a stack deployed before the slim order indexes to them, one CloudFormation update per step.

DynamoDB creates or deletes one global secondary index per table update, and CloudFormation does
not wait for a new index's backfill: an update made while an index is CREATING fails. So the
stack parameter `IndexMigrationStep` stages the move (docs/data-model.md, "Migration: index
projections"): steps 1-6 create one `*_slim` index each, step 7 switches the functions' readers
(ORDER_INDEXES) from `whole` to `slim`, steps 8-13 drop one whole-order index each. What each
step does is read from template.yaml, never written down twice.

The procedure is in docs/operations.md, "Upgrading to the slim order indexes". First deploy the
release at step 1 (repeat the deploy's other parameter overrides, e.g. those of samconfig.toml:
on the command line, --parameter-overrides replaces them):

    sam build && sam deploy --config-env prod \\
        --parameter-overrides "IndexMigrationStep=1 <the other overrides>"

then, from the release's checkout, with credentials that can update the stack:

    .venv/bin/python -m scripts.migrate_indexes --stack orderhub-prod --dry-run   # the plan
    .venv/bin/python -m scripts.migrate_indexes --stack orderhub-prod [--region R] [--to 13]

For each next step it waits until the orders table and every index are ACTIVE (a new index's
backfill included; on a big table that takes hours, so by default the wait has no limit and a
line of progress is printed every minute), then updates the stack with the previous template,
every other parameter at its previous value and IndexMigrationStep at the step, and waits for
UPDATE_COMPLETE. It stops at a failed update, naming the step the stack is at. Interrupting it
(Ctrl-C) is safe: an update in progress goes on in CloudFormation, and a rerun waits for it and
resumes from the step the stack is at.

Exit code 0 when the stack is at --to, 1 when an update failed or a wait timed out, 2 when it
refuses to start (the stack has no IndexMigrationStep: the release is not deployed; or it is
already at --to; or the table does not match the template at the stack's step).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = REPO_ROOT / "template.yaml"
PARAMETER = "IndexMigrationStep"
TABLE = "OrdersTable"  # the orders table's logical id
READERS = "ORDER_INDEXES"  # the functions' variable naming the generation of indexes they read
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]  # the template uses the SAM transform
# a stack in one of these states can be updated; *_IN_PROGRESS is waited for; any other is refused
UPDATABLE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}


# ---------------------------------------------------------------------- the steps, from template.yaml
@cache
def template(step: int | None = None, path: Path = TEMPLATE) -> Any:
    """template.yaml with IndexMigrationStep at `step` (None: its default, a new stack's)."""
    if str(REPO_ROOT) not in sys.path:  # run as a file (python scripts/migrate_indexes.py)
        sys.path.insert(0, str(REPO_ROOT))
    from localcloud.template import Template

    return Template(path, {PARAMETER: str(step)} if step is not None else None)


def indexes(step: int | None, path: Path = TEMPLATE) -> dict[str, dict]:
    """The orders table's global secondary indexes at `step`, by name."""
    table = template(step, path).properties(TABLE)
    return {g["IndexName"]: g for g in table.get("GlobalSecondaryIndexes") or []}


def generation(step: int | None, path: Path = TEMPLATE) -> str:
    """The generation of the order indexes the functions read at `step` (`whole` or `slim`)."""
    return template(step, path).environment()[READERS]


def last_step(path: Path = TEMPLATE) -> int:
    spec = template(None, path).data["Parameters"][PARAMETER]
    return max(int(v) for v in spec["AllowedValues"])


@dataclass(frozen=True)
class Step:
    number: int
    created: tuple[str, ...]
    dropped: tuple[str, ...]
    readers: tuple[str, str] | None  # (before, after) when the step switches the readers

    def describe(self) -> str:
        done = [f"create index {n}" for n in self.created] + [f"drop index {n}" for n in self.dropped]
        if self.readers:
            done.append(f"switch the readers ({READERS}) from {self.readers[0]} to {self.readers[1]}")
        return f"step {self.number}: " + ("; ".join(done) or "no change")


def step(number: int, path: Path = TEMPLATE) -> Step:
    """What the update to `number` does, from the difference of the template at it and before it."""
    before, after = indexes(number - 1, path), indexes(number, path)
    switch = (generation(number - 1, path), generation(number, path))
    return Step(
        number,
        created=tuple(sorted(set(after) - set(before))),
        dropped=tuple(sorted(set(before) - set(after))),
        readers=switch if switch[0] != switch[1] else None,
    )


def plan(current: int, to: int, path: Path = TEMPLATE) -> list[Step]:
    return [step(n, path) for n in range(current + 1, to + 1)]


# ---------------------------------------------------------------------- the run
class Refused(Exception):
    """The migration cannot start (exit code 2)."""


class Stopped(Exception):
    """An update failed or a wait timed out (exit code 1); a rerun resumes from the stack's step."""


@dataclass
class Timing:
    poll: float = 20.0  # seconds between two looks at the table or the stack
    progress: float = 60.0  # seconds between two lines of progress while waiting
    table_timeout: float | None = None  # the wait for the table's indexes (None: no limit)
    update_timeout: float | None = None  # the wait for one stack update (None: no limit)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


class Migration:
    """One stack's move through the steps; the clients, the clock and the output are given."""

    def __init__(
        self,
        cfn: Any,
        dynamodb: Any,
        stack: str,
        *,
        timing: Timing | None = None,
        template_path: Path = TEMPLATE,
        out: Callable[[str], None] = print,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.cfn, self.dynamodb, self.stack = cfn, dynamodb, stack
        self.timing = timing or Timing()
        self.template_path = template_path
        self.out, self.sleep, self.clock = out, sleep, clock

    # -------------------------------------------------------------- the stack
    def describe(self) -> dict:
        return self.cfn.describe_stacks(StackName=self.stack)["Stacks"][0]

    def settled(self) -> dict:
        """The stack once no operation is in progress on it (one started before this run)."""
        started = self.clock()
        last: float | None = None
        while True:
            stack = self.describe()
            status = stack["StackStatus"]
            if not status.endswith("_IN_PROGRESS"):
                return stack
            if last is None or self.clock() - last >= self.timing.progress:
                self.out(f"stack {self.stack} is {status}: waiting ({_minutes(self.clock() - started)})")
                last = self.clock()
            self.sleep(self.timing.poll)

    @staticmethod
    def step_of(stack: dict) -> int | None:
        for p in stack.get("Parameters") or []:
            if p["ParameterKey"] == PARAMETER:
                return int(p["ParameterValue"])
        return None

    def table_name(self) -> str:
        found = self.cfn.describe_stack_resource(StackName=self.stack, LogicalResourceId=TABLE)
        return found["StackResourceDetail"]["PhysicalResourceId"]

    # -------------------------------------------------------------- the table
    def not_ready(self, table: dict) -> list[str]:
        """What is not ACTIVE yet: the table and each index with its status, e.g. `by_due_slim CREATING
        (backfilling)`; empty when every one is ACTIVE."""
        waiting = [] if table["TableStatus"] == "ACTIVE" else [f"table {table['TableStatus']}"]
        for index in table.get("GlobalSecondaryIndexes") or []:
            status = index["IndexStatus"]
            if status != "ACTIVE" or index.get("Backfilling"):
                waiting.append(
                    f"{index['IndexName']} {status}{' (backfilling)' if index.get('Backfilling') else ''}"
                )
        return waiting

    def wait_for_table(self, name: str) -> dict:
        """Wait until the table and every index are ACTIVE and none is backfilling; the table."""
        started = self.clock()
        last: float | None = None
        while True:
            table = self.dynamodb.describe_table(TableName=name)["Table"]
            waiting = self.not_ready(table)
            if not waiting:
                if last is not None:
                    self.out(f"table {name}: every index ACTIVE ({_minutes(self.clock() - started)})")
                return table
            elapsed = self.clock() - started
            if self.timing.table_timeout is not None and elapsed >= self.timing.table_timeout:
                raise Stopped(
                    f"table {name} still has {', '.join(waiting)} after {_minutes(elapsed)}; "
                    "rerun to go on waiting and resume"
                )
            if last is None or self.clock() - last >= self.timing.progress:
                self.out(f"table {name}: waiting for {', '.join(waiting)} ({_minutes(elapsed)})")
                last = self.clock()
            self.sleep(self.timing.poll)

    def check_table(self, table: dict, at: int) -> None:
        """Refuse when the table's indexes are not those of the template at the stack's step (another
        release's checkout, or a table changed by hand)."""
        live = {g["IndexName"] for g in table.get("GlobalSecondaryIndexes") or []}
        expected = set(indexes(at, self.template_path))
        if live != expected:
            raise Refused(
                f"table {table['TableName']} has the indexes {', '.join(sorted(live))}, but "
                f"{self.template_path.name} at {PARAMETER}={at} has {', '.join(sorted(expected))}: "
                "run the tool from the checkout of the release the stack was deployed from"
            )

    # -------------------------------------------------------------- one update
    def update(self, stack: dict, number: int) -> None:
        parameters = [
            {"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
            for p in stack.get("Parameters") or []
            if p["ParameterKey"] != PARAMETER
        ]
        parameters.append({"ParameterKey": PARAMETER, "ParameterValue": str(number)})
        self.cfn.update_stack(
            StackName=self.stack,
            UsePreviousTemplate=True,
            Parameters=parameters,
            Capabilities=CAPABILITIES,
        )

    def wait_for_update(self, number: int) -> None:
        """Wait for UPDATE_COMPLETE (CloudFormation's waiter, in slices of about `progress` seconds, so
        a line is printed between them); Stopped when the update failed."""
        waiter = self.cfn.get_waiter("stack_update_complete")
        delay = max(1, round(self.timing.poll))
        config = {"Delay": delay, "MaxAttempts": max(1, round(self.timing.progress / delay))}
        started = self.clock()
        while True:
            try:
                waiter.wait(StackName=self.stack, WaiterConfig=config)
                return
            except WaiterError:
                stack = self.describe()
            status = stack["StackStatus"]
            elapsed = self.clock() - started
            if status == "UPDATE_COMPLETE":  # reached as the waiter's last attempt ran out
                return
            if not status.endswith("_IN_PROGRESS") or status.startswith("UPDATE_ROLLBACK"):
                break
            if self.timing.update_timeout is not None and elapsed >= self.timing.update_timeout:
                raise Stopped(
                    f"step {number}: stack {self.stack} still {status} after {_minutes(elapsed)}; "
                    "rerun to wait for it and resume"
                )
            self.out(f"step {number}: stack {status} ({_minutes(elapsed)})")
        if status.startswith("UPDATE_ROLLBACK") and status.endswith("_IN_PROGRESS"):
            stack = self.settled()
            status = stack["StackStatus"]
        at = self.step_of(stack)
        reason = self.failure_reason()
        then = (
            "continue the rollback (aws cloudformation continue-update-rollback), then rerun"
            if status == "UPDATE_ROLLBACK_FAILED"
            else "fix the cause and rerun to resume"
        )
        raise Stopped(
            f"step {number} failed: stack {self.stack} is {status}"
            + (f" ({reason})" if reason else "")
            + f"; the stack is at step {at}; {then}"
        )

    def failure_reason(self) -> str | None:
        """The first failure of the latest update, as CloudFormation tells it (None if unknown)."""
        try:
            events = self.cfn.describe_stack_events(StackName=self.stack)["StackEvents"]
        except ClientError:  # the reason is a courtesy; the status is the answer
            return None
        failed = None
        for event in events:  # newest first; stop at the update's start
            if event["ResourceStatus"].endswith("_FAILED") and event.get("ResourceStatusReason"):
                failed = f"{event['LogicalResourceId']}: {event['ResourceStatusReason']}"
            itself = event["LogicalResourceId"] == event.get("StackName")  # the stack's own event
            if itself and event["ResourceStatus"] == "UPDATE_IN_PROGRESS":
                break
        return failed

    # -------------------------------------------------------------- the whole move
    def run(self, to: int | None = None, dry_run: bool = False) -> int:
        """Update the stack step by step to `to` (default: the last step); the step it is at."""
        to = last_step(self.template_path) if to is None else to
        stack = self.settled()
        at = self.step_of(stack)
        if at is None:
            raise Refused(
                f"stack {self.stack} has no parameter {PARAMETER}: the release with the slim order "
                f'indexes is not deployed yet. Deploy it with --parameter-overrides "{PARAMETER}=1 '
                '<the other overrides>" first (docs/operations.md, "Upgrading to the slim order indexes")'
            )
        if at >= to:
            raise Refused(f"stack {self.stack} is at step {at} already (--to {to}): nothing to do")
        if stack["StackStatus"] not in UPDATABLE:
            raise Refused(f"stack {self.stack} is {stack['StackStatus']}: it cannot be updated as it is")
        steps = plan(at, to, self.template_path)
        name = self.table_name()
        self.out(f"stack {self.stack} is at step {at}; table {name}; {len(steps)} steps to {to}:")
        for s in steps:
            self.out(f"  {s.describe()}")
        if dry_run:
            table = self.dynamodb.describe_table(TableName=name)["Table"]
            self.check_table(table, at)
            waiting = self.not_ready(table)
            self.out(
                f"table {name}: " + (f"not ready: {', '.join(waiting)}" if waiting else "every index ACTIVE")
            )
            self.out("dry run: no update made")
            return at
        for s in steps:
            self.check_table(self.wait_for_table(name), at)
            self.out(f"{s.describe()}: updating stack {self.stack}")
            try:
                self.update(stack, s.number)
            except ClientError as e:
                raise Stopped(
                    f"step {s.number}: CloudFormation refused the update ({e}); the stack is at step {at}"
                ) from e
            self.wait_for_update(s.number)
            stack = self.describe()
            at = s.number
            self.out(f"step {at}: UPDATE_COMPLETE")
        self.check_table(self.wait_for_table(name), at)
        self.out(f"stack {self.stack} is at step {at}")
        return at


# ---------------------------------------------------------------------- command line
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="migrate_indexes", description=__doc__.split("\n\n")[0])
    p.add_argument("--stack", required=True, help="the deployed stack's name")
    p.add_argument("--region", help="the stack's region (default: the AWS configuration's)")
    p.add_argument("--to", type=int, help="the step to stop at (default: the last)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the table's state; no update")
    p.add_argument("--poll", type=float, default=Timing.poll, help="seconds between two looks (default 20)")
    p.add_argument(
        "--progress", type=float, default=Timing.progress, help="seconds between progress lines (default 60)"
    )
    p.add_argument(
        "--table-timeout",
        type=float,
        help="give up waiting for the table's indexes after this many seconds (default: no limit)",
    )
    p.add_argument(
        "--update-timeout",
        type=float,
        help="give up waiting for one stack update after this many seconds (default: no limit)",
    )
    p.add_argument("--template", type=Path, default=TEMPLATE, help="the release's template.yaml")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    last = last_step(args.template)
    if args.to is not None and not 1 <= args.to <= last:
        parser().error(f"--to must be between 1 and {last}")
    import boto3

    session = boto3.session.Session(region_name=args.region)
    migration = Migration(
        session.client("cloudformation"),
        session.client("dynamodb"),
        args.stack,
        timing=Timing(args.poll, args.progress, args.table_timeout, args.update_timeout),
        template_path=args.template,
        out=lambda line: print(line, flush=True),
    )
    try:
        migration.run(args.to, dry_run=args.dry_run)
    except Refused as e:
        print(f"refused: {e}", file=sys.stderr)
        return 2
    except Stopped as e:
        print(f"stopped: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "interrupted: an update in progress goes on in CloudFormation; rerun to resume", file=sys.stderr
        )
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
