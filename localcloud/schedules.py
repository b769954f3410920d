"""Scheduled functions: `Schedule` / `ScheduleV2` events with rate() or cron() expressions.

A thread per schedule fires a Scheduled Event at the expression's times; `fire()` runs one
now (the admin route `POST /_local/schedules/<FunctionLogicalId>` and `python -m localcloud fire`).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from localcloud.internals import mock_aws_active
from localcloud.intrinsics import ACCOUNT_ID, REGION, STACK_NAME
from localcloud.template import FunctionDef

log = logging.getLogger("localcloud.schedules")

Invoker = Callable[[str, dict], Any]

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


class UnsupportedSchedule(ValueError):
    pass


# ---------------------------------------------------------------------- expressions
def rate_seconds(expression: str) -> int | None:
    m = _RATE.match(expression.strip())
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2).rstrip("s")
    return n * _UNIT_SECONDS[unit]


class Cron:
    """AWS cron(minutes hours day-of-month month day-of-week year), UTC, without L, W and #."""

    def __init__(self, expression: str):
        m = re.match(r"^cron\((.*)\)$", expression.strip())
        fields = m.group(1).split() if m else []
        if len(fields) != 6:
            raise UnsupportedSchedule(f"not a cron expression: {expression}")
        if any(c in f for f in fields for c in "LW#"):
            raise UnsupportedSchedule(f"L, W and # are not supported locally: {expression}")
        minute, hour, dom, month, dow, year = fields
        self.minutes = self._field(minute, 0, 59)
        self.hours = self._field(hour, 0, 23)
        self.doms = None if dom in ("?", "*") else self._field(dom, 1, 31)
        self.months = self._field(month, 1, 12, _MONTHS)
        self.dows = None if dow in ("?", "*") else self._field(dow, 1, 7, _DAYS)
        self.years = None if year in ("?", "*") else self._field(year, 1970, 2199)

    @staticmethod
    def _field(text: str, lo: int, hi: int, names: dict[str, int] | None = None) -> set[int]:
        def number(s: str) -> int:
            s = s.upper()
            return names[s] if names and s in names else int(s)

        values: set[int] = set()
        for part in text.split(","):
            base, _, step_text = part.partition("/")
            step = int(step_text) if step_text else 1
            if base in ("*", "?"):
                start, end = lo, hi
            elif "-" in base:
                a, b = base.split("-", 1)
                start, end = number(a), number(b)
            else:
                start = number(base)
                end = hi if step_text else start
            values.update(range(start, end + 1, step))
        return {v for v in values if lo <= v <= hi}

    def next_after(self, now: dt.datetime) -> dt.datetime | None:
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        for _ in range(366 * 5):
            aws_dow = (day.weekday() + 1) % 7 + 1  # SUN=1 .. SAT=7
            if (
                day.month in self.months
                and (self.years is None or day.year in self.years)
                and (self.doms is None or day.day in self.doms)
                and (self.dows is None or aws_dow in self.dows)
            ):
                for h in sorted(self.hours):
                    for mi in sorted(self.minutes):
                        t = day.replace(hour=h, minute=mi)
                        if t > now:
                            return t
            day += dt.timedelta(days=1)
        return None


# ---------------------------------------------------------------------- schedules
@dataclass
class Schedule:
    function_id: str
    event_name: str
    expression: str
    input: str | None
    enabled: bool
    resource_arn: str

    def event(self) -> Any:
        if self.input is not None:
            return json.loads(self.input)
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [self.resource_arn],
            "detail": {},
        }


def schedules_of(functions: dict[str, FunctionDef]) -> list[Schedule]:
    out = []
    for fn in functions.values():
        for event in fn.events:
            props = event.properties
            name = props.get("Name") or f"{STACK_NAME}-{fn.logical_id}-{event.name}"
            if event.type == "Schedule":
                expression = props.get("Schedule", "")
                enabled = (
                    props.get("Enabled", True) is not False and props.get("State", "ENABLED") == "ENABLED"
                )
                arn = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{name}"
            elif event.type == "ScheduleV2":
                expression = props.get("ScheduleExpression", "")
                enabled = props.get("State", "ENABLED") == "ENABLED"
                arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule/default/{name}"
            else:
                continue
            raw_input = props.get("Input")
            out.append(
                Schedule(
                    function_id=fn.logical_id,
                    event_name=event.name,
                    expression=expression,
                    input=raw_input
                    if raw_input is None or isinstance(raw_input, str)
                    else json.dumps(raw_input),
                    enabled=enabled,
                    resource_arn=arn,
                )
            )
    return out


# Lambda retries a failed asynchronous invocation (a schedule's) this many times by default
DEFAULT_ASYNC_RETRIES = 2
FailureHandler = Callable[[Schedule, Any, Exception, int], None]


class Scheduler:
    def __init__(
        self,
        schedules: list[Schedule],
        invoke: Invoker,
        *,
        retries: Callable[[str], int] | None = None,
        on_failure: FailureHandler | None = None,
    ):
        self.schedules = schedules
        self.invoke = invoke
        self.retries = retries or (lambda function_id: DEFAULT_ASYNC_RETRIES)
        self.on_failure = on_failure  # the function's on-failure destination, once the retries are spent
        self.stop_event = threading.Event()
        self.paused = False  # set while another LocalCloud runs in this process
        self._threads: list[threading.Thread] = []

    def fire(self, function_id: str) -> Any:
        """Run the function's (first) schedule now, synchronously; returns the handler's result."""
        schedule = next((s for s in self.schedules if s.function_id == function_id), None)
        if schedule is None:
            raise KeyError(function_id)
        log.info("schedule %s.%s fired by hand", function_id, schedule.event_name)
        return self.invoke(function_id, schedule.event())

    def _run(self, schedule: Schedule, next_time: Callable[[dt.datetime], dt.datetime | None]) -> None:
        while True:
            now = dt.datetime.now(dt.UTC)
            due = next_time(now)
            if due is None:
                return
            if self.stop_event.wait((due - now).total_seconds()):
                return
            if self.paused or mock_aws_active():
                log.info("schedule %s.%s skipped (paused)", schedule.function_id, schedule.event_name)
                continue
            log.info(
                "schedule %s.%s (%s) fired", schedule.function_id, schedule.event_name, schedule.expression
            )
            self.run_scheduled(schedule)

    def run_scheduled(self, schedule: Schedule) -> bool:
        """One scheduled run as Lambda runs an asynchronous invocation: retried after a failure
        (the function's MaximumRetryAttempts, default 2), then handed to its on-failure
        destination. True when a run succeeded."""
        event = schedule.event()
        attempts = 1 + self.retries(schedule.function_id)
        for attempt in range(1, attempts + 1):
            try:
                self.invoke(schedule.function_id, event)
                return True
            except Exception as exc:  # logged by the invoker
                log.warning(
                    "schedule %s.%s: the function failed (attempt %d of %d)",
                    schedule.function_id,
                    schedule.event_name,
                    attempt,
                    attempts,
                )
                if attempt == attempts and self.on_failure is not None:
                    self.on_failure(schedule, event, exc, attempts)
        return False

    def start(self) -> None:
        for schedule in self.schedules:
            if not schedule.enabled:
                log.info("schedule %s.%s is disabled", schedule.function_id, schedule.event_name)
                continue
            seconds = rate_seconds(schedule.expression)
            if seconds is not None:
                step = dt.timedelta(seconds=seconds)

                def next_time(now: dt.datetime, step: dt.timedelta = step) -> dt.datetime:
                    return now + step

            else:
                try:
                    next_time = Cron(schedule.expression).next_after
                except (UnsupportedSchedule, ValueError) as exc:
                    log.warning("schedule %s.%s skipped: %s", schedule.function_id, schedule.event_name, exc)
                    continue
            thread = threading.Thread(
                target=self._run,
                args=(schedule, next_time),
                name=f"schedule-{schedule.function_id}-{schedule.event_name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self.stop_event.set()
        for t in self._threads:
            t.join(timeout=2)
