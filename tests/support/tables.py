"""Table snapshots for "nothing changed" checks: a Scan through the local cloud's moto endpoint
(test-only; the product never scans)."""

from __future__ import annotations

import functools
import json

import boto3


@functools.lru_cache(maxsize=8)
def _client(endpoint_url: str):
    return boto3.client("dynamodb", endpoint_url=endpoint_url, region_name="us-east-1")


def scan_table(cloud) -> dict[tuple[str, str], dict]:
    """Every item of the orders table by (pk, sk), read through moto's endpoint (a test-only Scan)."""
    ddb = _client(cloud.endpoint_url)
    name = cloud.environment["TABLE_NAME"]
    items = {}
    for page in ddb.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
        for item in page["Items"]:
            items[(item["pk"]["S"], item["sk"]["S"])] = item
    return items


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
