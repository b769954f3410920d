"""The functions' log lines, kept as CloudWatch Logs would hold them (docs/local-cloud.md).

The handlers log through Powertools Logger, which prints one JSON line per record to stdout (the
local cloud's console shows them as a function's log group would). This handler sits beside it
on the root logger (the service's records reach it, as they reach pytest's; a handler on the
service's own logger would be taken by Powertools for its own), formats each of the service's
records with the same Powertools formatter, and keeps the
last LINES_KEPT parsed lines, so `cloud.logs(correlation_id=...)` and `GET /_local/logs` find
every line one delivery or request caused (kernel/correlation.py, docs/observability.md).
"""

from __future__ import annotations

import collections
import json
import logging
import threading
from collections.abc import Callable

LINES_KEPT = 20_000
# The service Powertools names a child logger made before POWERTOOLS_SERVICE_NAME was set: a module
# of the layer a process imported before it started the local cloud (a test's, say).
_UNNAMED = "service_undefined"


class KeptLogs(logging.Handler):
    def __init__(self, service: str) -> None:
        super().__init__(level=logging.DEBUG)
        self.service = service
        self._lines: collections.deque[dict] = collections.deque(maxlen=LINES_KEPT)
        self._lock_lines = threading.Lock()

    def install(self) -> None:
        logging.getLogger().addHandler(self)

    def uninstall(self) -> None:
        logging.getLogger().removeHandler(self)

    def filter(self, record: logging.LogRecord) -> bool:
        """Every record: Powertools filters its service's records out of the root's handlers
        (so a line is not printed twice); this one prints nothing and keeps them."""
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".", 1)[0] not in (self.service, _UNNAMED):
            return
        formatter = self._powertools_formatter()
        if formatter is None:  # not a function's line (no Powertools Logger set up yet)
            return
        try:
            line = json.loads(formatter.format(record))
        except (TypeError, ValueError):
            return
        with self._lock_lines:
            self._lines.append(line)

    def _powertools_formatter(self) -> logging.Formatter | None:
        for handler in logging.getLogger(self.service).handlers:
            formatter = handler.formatter
            if type(formatter).__module__.startswith("aws_lambda_powertools"):
                return formatter
        return None

    def lines(self, correlation_id: str | None = None) -> list[dict]:
        """The kept lines, oldest first; with `correlation_id`, those that carry it (as their
        `correlation_id`, or among the `correlation_ids` of a line about several changes)."""
        with self._lock_lines:
            kept = list(self._lines)
        if correlation_id is None:
            return kept
        return [line for line in kept if _carries(line, correlation_id)]

    def clear(self) -> None:
        with self._lock_lines:
            self._lines.clear()


def _carries(line: dict, correlation_id: str) -> bool:
    return line.get("correlation_id") == correlation_id or correlation_id in (
        line.get("correlation_ids") or ()
    )


class KeptMetrics:
    """The metrics the functions wrote (kernel/metrics.py), summed by name and dimensions since
    the start: what CloudWatch would chart from the same EMF lines. `GET /_local/metrics` answers
    them, and `make run` prints a summary line when they change (summary())."""

    def __init__(self) -> None:
        self._sums: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._lock = threading.Lock()
        self._stop: Callable[[], None] | None = None
        self._printed = ""

    def install(self) -> None:
        try:
            from orderhub.kernel import metrics
        except ImportError:  # a template whose layer is not orderhub's (the local cloud's own tests)
            return
        self._stop = metrics.listen(self.add)

    def uninstall(self) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None

    def add(self, blob: dict) -> None:
        meta = (blob.get("_aws") or {}).get("CloudWatchMetrics") or []
        for directive in meta:
            names = {d for dims in directive.get("Dimensions") or [] for d in dims}
            dims = tuple(sorted((d, str(blob.get(d))) for d in names if d != "service"))
            for metric in directive.get("Metrics") or []:
                value = blob.get(metric["Name"])
                total = sum(value) if isinstance(value, list) else float(value or 0)
                with self._lock:
                    key = (metric["Name"], dims)
                    if metric.get("Unit") == "Seconds":  # an age: the latest, not a sum
                        self._sums[key] = total
                    else:
                        self._sums[key] = self._sums.get(key, 0) + total

    def snapshot(self) -> list[dict]:
        """[{"name", "dimensions": {...}, "value"}] sorted by name."""
        with self._lock:
            items = sorted(self._sums.items())
        return [{"name": n, "dimensions": dict(d), "value": v} for (n, d), v in items]

    def summary(self) -> str | None:
        """One line of every metric's total over its dimensions, when it changed since the last."""
        totals: dict[str, float] = {}
        for row in self.snapshot():
            if row["name"] != "OldestDueAgeSeconds":
                totals[row["name"]] = totals.get(row["name"], 0) + row["value"]
        line = " ".join(f"{name}={value:g}" for name, value in sorted(totals.items()))
        if not line or line == self._printed:
            return None
        self._printed = line
        return f"[metrics] {line}"
