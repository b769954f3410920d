"""Fixtures for the local cloud's own tests: a LocalCloud on a small fixture template."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcloud import LocalCloud

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
ROOT = HERE.parents[1]


@pytest.fixture
def moto_dynamodb(monkeypatch):
    """A DynamoDB client on moto in this process (mock_aws), with the local cloud's touch points
    patched in: the tests of those touch points make their own tables."""
    import boto3
    from moto import mock_aws

    from localcloud import internals

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    internals.patch_moto()
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def listed(monkeypatch):
    """How many items each of moto's `Table.all_items()` calls listed (a Query lists once)."""
    from moto.dynamodb.models.table import Table

    counts: list[int] = []
    real = Table.all_items

    def all_items(self):
        out = real(self)
        counts.append(len(out))
        return out

    monkeypatch.setattr(Table, "all_items", all_items)
    return counts


def query_pages(ddb, query: dict) -> list:
    """Every page of a Query: items (None for Select COUNT), Count, ScannedCount, LastEvaluatedKey."""
    out, start = [], None
    while True:
        resp = ddb.query(**query, **({"ExclusiveStartKey": start} if start else {}))
        out.append((resp.get("Items"), resp["Count"], resp["ScannedCount"], resp.get("LastEvaluatedKey")))
        start = resp.get("LastEvaluatedKey")
        if not start:
            return out


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """One local cloud on fixtures/template.yaml per test module (failed messages retry at once)."""
    lc = LocalCloud(
        template_path=FIXTURES / "template.yaml",
        port=0,
        root=ROOT,
        state_dir=tmp_path_factory.mktemp("localcloud-state"),
        retry_seconds=0,
    )
    lc.start()
    yield lc
    lc.stop()


@pytest.fixture
def notes(cloud):
    """notes(kind) -> what the fixture handlers noted in the log table (worker, stream, sweep)."""

    def read(kind: str) -> list[str]:
        ddb = cloud.client("dynamodb")
        items = []
        for page in ddb.get_paginator("scan").paginate(TableName=cloud.environment["LOG_TABLE"]):
            items.extend(page["Items"])
        items.sort(key=lambda i: float(i["at"]["S"]))
        return [i["payload"]["S"] for i in items if i["kind"]["S"] == kind]

    return read
