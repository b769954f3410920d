"""Manual and CSV registration against moto with the table of template.yaml: what one
registration writes, the duplicate / cancelled / deleted number rules, races, and the import job."""

from __future__ import annotations

import json

import boto3
import pytest

from orderhub.domain import actions
from orderhub.domain.actions import RuleRefused
from orderhub.domain.models import Envelope
from orderhub.jobs import runner
from orderhub.kernel import clock
from orderhub.kernel.errors import ValidationFailed
from orderhub.orders import csv_import, lifecycle, mappings, queries, registration
from orderhub.store import db, keys
from orderhub.webhooks import ingest
from tests.support.factories import T0, change
from tests.support.http import ROOT

pytestmark = pytest.mark.slowest(14)

CP932_SAMPLE = (ROOT / "events" / "csv" / "orders_cp932.csv").read_bytes()
UTF8_SAMPLE = (ROOT / "events" / "csv" / "orders_utf8.csv").read_bytes()


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.freeze(T0)
    yield
    clock.freeze(None)


def all_items(env) -> list[dict]:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    items = [i for p in ddb.get_paginator("scan").paginate(TableName=env["TABLE_NAME"]) for i in p["Items"]]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def body(no: str = "M-1", **over) -> dict:
    b = {
        "marketplace": "rakuten",
        "marketplace_order_no": no,
        "placed_at": "2026-11-25T10:00:00+09:00",
        "payment": {"method": "card", "paid_at": "2026-11-25T10:00:00+09:00"},
        "currency": "JPY",
        "items": [
            {"sku": "TS-RED-M", "title": "Tシャツ", "quantity": 2, "price": "1980"},
            {"sku": "MUG-01", "quantity": 1, "price": 1200, "item_code": "OWN-MUG"},
        ],
        "recipient": {
            "name": "山田 太郎",
            "address1": "神南1-2-3",
            "city": "渋谷区",
            "region": "東京都",
            "postal_code": "150-0041",
            "country": "jp",
            "email": "taro@example.jp",
        },
        "tags": ["vip"],
    }
    b.update(over)
    return b


def counts(**nonzero) -> dict:
    base = {
        k: 0
        for k in (
            "all",
            "pending",
            "new",
            "processing",
            "shipped",
            "on_hold",
            "cancelled",
            "closed",
            "overdue",
        )
    }
    base.update(nonzero)
    return base


def refused(no: str, **over) -> RuleRefused:
    with pytest.raises(RuleRefused) as info:
        registration.register_manual("demo", body(no, **over))
    assert info.value.status == 409
    return info.value


def cancel(order_id: str) -> dict:
    new, _ = lifecycle.apply(
        "demo", order_id, lambda o, now: actions.cancel(o, "buyer asked", now), actor="merchant"
    )
    return new


def delete(order_id: str) -> dict:
    new, _ = lifecycle.apply("demo", order_id, lambda o, now: actions.delete(o, now), actor="merchant")
    return new


# ------------------------------------------------------------------ manual registration
def test_manual_registration_writes_order_lookup_packing_history_and_counters(app_env):
    mappings.put("demo", [{"marketplace": "rakuten", "sku": "TS-RED-M", "item_code": "ITEM-TS-RED-M"}])
    view = registration.register_manual("demo", body())
    assert view["status"] == "new"
    assert view["shipment_stage"] == "none"
    assert view["origin"] == "manual"
    assert view["released_at"] == clock.iso(T0)
    assert view["placed_at"] == "2026-11-25T01:00:00.000Z"
    assert view["recipient"]["country"] == "JP"
    assert view["tags"] == ["vip"]
    assert [(i["sku"], i["item_code"], i["price"]) for i in view["items"]] == [
        ("TS-RED-M", "ITEM-TS-RED-M", "1980"),
        ("MUG-01", "OWN-MUG", "1200"),
    ]
    assert view["mapping"] == "ok"
    assert view["packing_no"].startswith("PK") and view["order_id"].startswith("ord_")

    assert db.get_lookup("demo", "rakuten", "M-1")["order_id"] == view["order_id"]
    packing = boto3.resource("dynamodb", region_name="us-east-1").Table(app_env["TABLE_NAME"])
    assert packing.get_item(Key=keys.packing_key(view["packing_no"]))["Item"]["order_id"] == view["order_id"]
    full = queries.get_order_with_history("demo", view["order_id"])
    [entry] = full["history"]
    assert (entry["actor"], entry["action"], entry["origin"], entry["status"]) == (
        "merchant",
        "registered",
        "manual",
        "new",
    )
    assert queries.counts("demo") == counts(all=1, new=1)
    assert [o["order_id"] for o in queries.list_orders("demo", {"status": "new"})["orders"]] == [
        view["order_id"]
    ]
    # The other merchant sees nothing of it.
    assert queries.counts("demo2") == counts()


def test_unmapped_items_make_mapping_fail(app_env):
    view = registration.register_manual("demo", body(items=[{"sku": "NOPE", "quantity": 1, "price": "1"}]))
    assert view["mapping"] == "fail"
    assert view["items"][0]["item_code"] is None


def test_invalid_body_changes_nothing(app_env):
    before = all_items(app_env)
    with pytest.raises(ValidationFailed) as info:
        registration.register_manual("demo", body(items=[{"sku": "A", "quantity": 0, "price": "1"}]))
    assert info.value.field == "items[0].quantity"
    assert all_items(app_env) == before


def test_duplicate_number_is_refused_and_changes_nothing(app_env):
    first = registration.register_manual("demo", body())
    before = all_items(app_env)
    err = refused("M-1", recipient={**body()["recipient"], "name": "別人"})
    assert err.details["rule"] == "duplicate_order_no"
    assert err.details["order_id"] == first["order_id"]
    assert err.field == "marketplace_order_no"
    assert all_items(app_env) == before
    # Same number on another marketplace, or for another merchant: a different number.
    registration.register_manual("demo", body(marketplace="base"))
    registration.register_manual("demo2", body())


def test_cancelled_number_can_never_come_back(app_env):
    first = registration.register_manual("demo", body())
    assert cancel(first["order_id"])["status"] == "cancelled"
    before = all_items(app_env)
    err = refused("M-1")
    assert err.code == "rule_refused"
    assert err.details["rule"] == "cancelled_number"
    assert err.details["order_id"] == first["order_id"]
    assert all_items(app_env) == before
    assert queries.counts("demo") == counts(all=1, cancelled=1)


def test_number_cancelled_by_the_marketplace_is_refused_too(app_env):
    ch = change("SHOP-9", "cancelled", marketplace="rakuten", cancelled_at=T0)
    env = Envelope(merchant_id="demo", adapter="generic", delivery_id="d1", received_at=T0, change=ch)
    assert ingest.process(env.model_dump_json()) == "applied"
    before = all_items(app_env)
    assert refused("SHOP-9").details["rule"] == "cancelled_number"
    assert all_items(app_env) == before


def test_active_api_order_number_is_a_duplicate(app_env):
    ch = change("SHOP-1", marketplace="rakuten")
    env = Envelope(merchant_id="demo", adapter="generic", delivery_id="d1", received_at=T0, change=ch)
    ingest.process(env.model_dump_json())
    assert refused("SHOP-1").details["rule"] == "duplicate_order_no"


def test_deleted_number_may_be_registered_again(app_env):
    first = registration.register_manual("demo", body())
    old = delete(first["order_id"])
    assert old["status"] == "deleted"
    assert queries.counts("demo") == counts()
    second = registration.register_manual(
        "demo", body(items=[{"sku": "CAP-01", "quantity": 1, "price": "2500"}])
    )
    assert second["order_id"] != first["order_id"]
    assert second["packing_no"] != first["packing_no"]
    assert db.get_lookup("demo", "rakuten", "M-1")["order_id"] == second["order_id"]
    assert queries.counts("demo") == counts(all=1, new=1)
    # The deleted order stays, findable by number; lists show only the new one.
    found = queries.list_orders("demo", {"q": "M-1", "include_deleted": "true"})["orders"]
    assert sorted((o["order_id"], o["status"]) for o in found) == sorted(
        [(first["order_id"], "deleted"), (second["order_id"], "new")]
    )
    assert [o["order_id"] for o in queries.list_orders("demo", {"q": "M-1"})["orders"]] == [
        second["order_id"]
    ]
    history = queries.get_order_with_history("demo", second["order_id"])["history"]
    assert history[0]["replaces"] == first["order_id"]
    # And now it is taken again.
    assert refused("M-1").details["rule"] == "duplicate_order_no"


def test_race_for_a_free_number_has_one_winner(app_env, monkeypatch):
    winner = registration.register_manual("demo", body())
    real = db.get_lookup
    calls = []

    def stale_then_real(*args):
        calls.append(args)
        return None if len(calls) == 1 else real(*args)  # read before the winner wrote

    monkeypatch.setattr(db, "get_lookup", stale_then_real)
    before = all_items(app_env)
    err = refused("M-1")
    assert err.details == {**err.details, "rule": "duplicate_order_no", "order_id": winner["order_id"]}
    assert len(calls) == 2
    assert all_items(app_env) == before


def test_race_for_a_deleted_number_has_one_winner(app_env, monkeypatch):
    first = registration.register_manual("demo", body())
    delete(first["order_id"])
    stale = db.get_lookup("demo", "rakuten", "M-1")
    winner = registration.register_manual("demo", body())
    real = db.get_lookup
    calls = []

    def stale_then_real(*args):
        calls.append(args)
        return stale if len(calls) == 1 else real(*args)

    monkeypatch.setattr(db, "get_lookup", stale_then_real)
    before = all_items(app_env)
    err = refused("M-1")
    assert err.details["rule"] == "duplicate_order_no"
    assert err.details["order_id"] == winner["order_id"]
    assert all_items(app_env) == before


def test_threads_racing_for_one_number(app_env):
    from concurrent.futures import ThreadPoolExecutor

    def attempt(n: int):
        try:
            return registration.register_manual("demo", body(tags=[f"t{n}"]))["order_id"]
        except RuleRefused as exc:
            return exc.details["rule"]

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(attempt, range(4)))
    winners = [o for o in outcomes if o.startswith("ord_")]
    assert len(winners) == 1
    assert sorted(o for o in outcomes if not o.startswith("ord_")) == ["duplicate_order_no"] * 3
    assert queries.counts("demo") == counts(all=1, new=1)


# ------------------------------------------------------------------ CSV import
def run_job(job: dict) -> dict:
    runner.run(json.dumps({"merchant_id": job["merchant_id"], "job_id": job["job_id"]}))
    return runner.get(job["merchant_id"], job["job_id"])


def by_row(done: dict) -> dict[int, dict]:
    return {r["row"]: r for r in done["results"]}


def test_upload_is_checked_before_the_job(app_env):
    before = all_items(app_env)
    bad_header = CP932_SAMPLE.replace(b",quantity,", b",qty,")
    with pytest.raises(ValidationFailed) as info:
        csv_import.start_import("demo", bad_header, "text/csv")
    assert info.value.field == "columns"
    with pytest.raises(ValidationFailed) as info:
        csv_import.start_import("demo", b"sku,\x81\x20", "text/csv")
    assert (info.value.field, "encoding" in info.value.message) == ("file", True)
    assert all_items(app_env) == before


def test_import_job_registers_good_rows_and_reports_bad_ones(app_env):
    mappings.put("demo", [{"marketplace": "*", "sku": "CAP-01", "item_code": "ITEM-CAP"}])
    taken = registration.register_manual("demo", body("R-1003"))
    cancelled = registration.register_manual("demo", body("R-1001"))
    cancel(cancelled["order_id"])
    job = csv_import.start_import("demo", CP932_SAMPLE, "text/csv")
    assert (job["state"], job["kind"], job["total"]) == ("queued", "import_csv", 7)
    assert job["params"]["encoding"] == "cp932"

    done = run_job(job)
    assert done["state"] == "done"
    assert (done["processed"], done["succeeded"], done["failed"]) == (7, 0, 7)
    rows = by_row(done)
    assert sorted(rows) == [2, 3, 4, 5, 6, 7, 8]
    assert rows[2]["error"]["rule"] == rows[3]["error"]["rule"] == "cancelled_number"
    assert rows[2]["order_id"] == cancelled["order_id"]
    assert rows[4]["error"] == {
        "code": "validation_failed",
        "field": "quantity",
        "message": "must be at least 1",
    }
    assert rows[5]["error"]["rule"] == "duplicate_order_no"
    assert rows[5]["order_id"] == taken["order_id"]
    assert rows[6]["error"]["field"] == "country"
    assert rows[7]["error"]["code"] == "order_rejected"
    assert rows[8]["error"]["field"] == "marketplace"


def test_import_job_with_a_fresh_merchant(app_env):
    mappings.put("demo", [{"marketplace": "*", "sku": "CAP-01", "item_code": "ITEM-CAP"}])
    job = csv_import.start_import("demo", CP932_SAMPLE, "application/octet-stream")
    done = run_job(job)
    assert (done["state"], done["succeeded"], done["failed"]) == ("done", 3, 4)
    rows = by_row(done)
    assert [n for n, r in rows.items() if r["ok"]] == [2, 3, 5]
    assert rows[2]["order_id"] == rows[3]["order_id"]
    assert rows[4]["error"]["field"] == "quantity" and not rows[4]["ok"]
    order = queries.get_order_with_history("demo", rows[2]["order_id"])
    assert order["origin"] == "csv"
    assert order["status"] == "new"
    assert order["import_job_id"] == job["job_id"]
    assert order["recipient"]["name"] == "山田 太郎"
    assert order["placed_at"] == "2026-01-15T01:00:00.000Z"  # 10:00 in Tokyo
    assert [(i["sku"], i["title"], i["quantity"]) for i in order["items"]] == [
        ("TS-RED-M", "Tシャツ 赤 M", 2),
        ("MUG-01", "マグカップ", 1),
    ]
    assert order["history"][0]["rows"] == [2, 3]
    assert order["history"][0]["job_id"] == job["job_id"]
    cap = queries.get_order_with_history("demo", rows[5]["order_id"])
    assert (cap["mapping"], cap["payment"]["method"]) == ("ok", "cod")
    assert queries.counts("demo") == counts(all=2, new=2)
    assert db.get_lookup("demo", "rakuten", "R-1002") is None


def test_import_job_is_resumable(app_env):
    job = csv_import.start_import("demo", UTF8_SAMPLE, "text/csv")
    done = run_job(job)
    assert (done["succeeded"], done["failed"]) == (3, 0)
    first = by_row(done)
    stored = boto3.resource("dynamodb", region_name="us-east-1").Table(app_env["TABLE_NAME"])
    job_item = stored.get_item(Key={"pk": f"M#demo#JOB#{job['job_id']}", "sk": "#JOB"})["Item"]
    # An attempt interrupted after the order of rows 2-3 was written but before row 3's result.
    stored.delete_item(Key={"pk": job_item["pk"], "sk": "R#0000003"})
    csv_import.run_import(job_item, runner.JobContext(job_item))
    again = by_row(runner.get("demo", job["job_id"]))
    assert again[3]["ok"] and again[3]["order_id"] == first[2]["order_id"]
    assert queries.counts("demo") == counts(all=2, new=2)


def test_big_rows_are_stored_in_small_chunks(app_env):
    """runner.create stores 500 input elements per item; rows this big would pass DynamoDB's 400 KB."""
    header = ",".join(csv_import.csvio.COLUMNS)
    long = "長" * 480  # ~4.3 KB of UTF-8 per row
    line = "base,B-{n},,,,,SKU-{n},{long},1,100,,山田,{long},{long},渋谷区,,150-0041,JP,,"
    text = "\r\n".join([header] + [line.format(n=n, long=long) for n in range(600)])
    job = csv_import.start_import("demo", text.encode("utf-8"), "text/csv")
    assert job["total"] == 600
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(app_env["TABLE_NAME"])
    pk = f"M#demo#JOB#{job['job_id']}"
    job_item = table.get_item(Key={"pk": pk, "sk": "#JOB"})["Item"]
    n_chunks = int(job_item["chunks"])
    chunks = [table.get_item(Key={"pk": pk, "sk": f"D#{n:05d}"})["Item"] for n in range(n_chunks)]
    assert len(chunks) > 2
    assert all(len(c["rows"].encode()) < 350_000 for c in chunks)
    rows = csv_import.csvio.unpack(e for _, e in runner.JobContext(job_item).rows())
    assert [r["n"] for r in rows] == list(range(2, 602))
