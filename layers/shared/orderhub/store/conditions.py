"""Small builders for DynamoDB key and filter conditions, shared by every list."""

from __future__ import annotations

from boto3.dynamodb.conditions import Key


def in_range(key, attr: str, lo: str | None, hi: str | None):
    """Narrow a key condition to lo <= attr <= hi; either bound may be missing."""
    if lo and hi:
        return key & Key(attr).between(lo, hi)
    if lo:
        return key & Key(attr).gte(lo)
    if hi:
        return key & Key(attr).lte(hi)
    return key


def all_of(conditions: list):
    """The AND of filter conditions, or None when there are none."""
    expr = None
    for cond in conditions:
        expr = cond if expr is None else expr & cond
    return expr
