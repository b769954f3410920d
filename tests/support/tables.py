"""Table snapshots for "nothing changed" checks: every item of the orders table, read from moto
in the test's process (test-only; the product never scans)."""

from __future__ import annotations

import json


def scan_table(cloud) -> dict[tuple[str, str], dict]:
    """Every item of the orders table by (pk, sk), as AttributeValue maps (binary in base64),
    once the cloud has settled: what earlier requests set going (the counters' fold of their
    deltas, stream consumers) has finished, so a "nothing changed" check compares this request's
    effects only. Read between two requests from moto's table (LocalCloud.table_items): the same
    items a consistent Scan returns (tests/localcloud/test_localcloud_http.py), at a fraction of
    the cost of paging a Scan through botocore."""
    cloud.drain(timeout=60)
    return {(item["pk"]["S"], item["sk"]["S"]): item for item in cloud.table_items()}


def table_items(cloud) -> list[str]:
    """scan_table's items as sorted JSON texts (a "nothing was stored" check compares them)."""
    return sorted(json.dumps(i, sort_keys=True) for i in scan_table(cloud).values())


def snapshot_diff(before: dict, after: dict) -> dict[str, list]:
    """What changed between two scans: added, removed and changed keys."""
    return {
        "added": sorted(k for k in after if k not in before),
        "removed": sorted(k for k in before if k not in after),
        "changed": sorted(k for k in before if k in after and before[k] != after[k]),
    }


def describe(diff: dict, after: dict, before: dict) -> str:
    lines = []
    for key in diff["added"]:
        lines.append(f"added {key}: {json.dumps(after[key], ensure_ascii=False)[:300]}")
    for key in diff["removed"]:
        lines.append(f"removed {key}")
    for key in diff["changed"]:
        lines.append(
            f"changed {key}: {json.dumps(before[key], ensure_ascii=False)[:200]} -> "
            f"{json.dumps(after[key], ensure_ascii=False)[:200]}"
        )
    return "\n".join(lines)
