"""Event filtering for event source mappings (`FilterCriteria`), a subset of EventBridge patterns.

Supported: nested objects, exact values in lists (strings, numbers, null), and the operators
`prefix`, `suffix`, `anything-but`, `exists`, `equals-ignore-case` and `numeric`.
A record passes when it matches any of the filters.
"""

from __future__ import annotations

import json
import operator
from typing import Any

_MISSING = object()

_NUMERIC_OPS = {"<": operator.lt, "<=": operator.le, "=": operator.eq, ">": operator.gt, ">=": operator.ge}


def parse_filters(filter_criteria: dict | None) -> list[dict]:
    patterns = []
    for f in (filter_criteria or {}).get("Filters") or []:
        pattern = f.get("Pattern")
        patterns.append(json.loads(pattern) if isinstance(pattern, str) else pattern)
    return patterns


def passes(patterns: list[dict], data: dict) -> bool:
    return not patterns or any(matches(p, data) for p in patterns)


def matches(pattern: dict, data: Any) -> bool:
    for key, rule in pattern.items():
        value = data.get(key, _MISSING) if isinstance(data, dict) else _MISSING
        if isinstance(rule, dict):
            if not isinstance(value, dict) or not matches(rule, value):
                return False
        elif isinstance(rule, list):
            if not _match_values(rule, value):
                return False
        else:
            return False
    return True


def _match_values(rules: list, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    present = [v for v in values if v is not _MISSING]
    for rule in rules:
        if isinstance(rule, dict):
            if "exists" in rule:
                if bool(rule["exists"]) == (value is not _MISSING):
                    return True
                continue
            if any(_match_operator(rule, v) for v in present):
                return True
        elif any(_equal(rule, v) for v in present):
            return True
    return False


def _equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        try:
            return float(actual) == float(expected)
        except (TypeError, ValueError):
            return False
    return expected == actual


def _match_operator(rule: dict, value: Any) -> bool:
    if "prefix" in rule:
        return isinstance(value, str) and value.startswith(rule["prefix"])
    if "suffix" in rule:
        return isinstance(value, str) and value.endswith(rule["suffix"])
    if "equals-ignore-case" in rule:
        return isinstance(value, str) and value.lower() == str(rule["equals-ignore-case"]).lower()
    if "anything-but" in rule:
        excluded = rule["anything-but"]
        if isinstance(excluded, dict):
            return not _match_operator(excluded, value)
        excluded = excluded if isinstance(excluded, list) else [excluded]
        return not any(_equal(e, value) for e in excluded)
    if "numeric" in rule:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        spec = rule["numeric"]
        return all(_NUMERIC_OPS[spec[i]](number, float(spec[i + 1])) for i in range(0, len(spec), 2))
    return False
