"""Fulfillment through the local cloud over real HTTP (docs/fulfillment.md): fulfill one and many,
change tracking, the shared tracking rule, the CSV download and a 2,000-row CSV fulfillment job
with 5% bad rows (upload -> SQS -> job worker -> GET /fulfillment-jobs/{id})."""

from __future__ import annotations

import csv
import io
import itertools

import pytest

from tests.e2e.test_registration_e2e import HEADER, call, finished_job, order_body, table_items

pytestmark = [pytest.mark.e2e, pytest.mark.slowest(120)]
_numbers = itertools.count(1)


def registered(api, **over) -> dict:
    resp = call(api, "POST", "/orders", order_body(f"FUL-{next(_numbers)}", **over))
    assert resp.status == 201, resp
    return resp.json


def test_fulfill_change_tracking_and_refusals_over_http(api, cloud):
    order = registered(api)
    oid = order["order_id"]
    assert order["status"] == "new" and order["days_remaining"] == 5

    before = table_items(cloud)
    bad = call(api, "POST", f"/orders/{oid}/fulfill", {"carrier": "yamato", "tracking_number": "12-34"})
    assert bad.status == 400 and bad.json["error"]["field"] == "tracking_number"
    assert bad.json["error"]["rule"] == "tracking_format"
    unknown = call(api, "POST", f"/orders/{oid}/fulfill", {"carrier": "pigeon", "tracking_number": "1"})
    assert unknown.status == 400 and unknown.json["error"]["field"] == "carrier"
    extra = call(api, "POST", f"/orders/{oid}/fulfill", {"carrier": "yamato", "tracking": "1"})
    assert extra.status == 400 and extra.json["error"]["field"] == "tracking"
    assert table_items(cloud) == before  # refusals change nothing

    body = {
        "carrier": "japan_post",
        "tracking_number": "EJ123456789JP",
        "origin_country": "jp",
        "note": "box 1",
    }
    shipped = call(api, "POST", f"/orders/{oid}/fulfill", body)
    assert shipped.status == 200, shipped
    assert shipped.json["status"] == "shipped" and shipped.json["days_remaining"] is None
    assert shipped.json["tracking"]["origin_country"] == "JP"

    again = call(api, "POST", f"/orders/{oid}/fulfill", body)
    assert again.status == 409 and again.json["error"]["rule"] == "already_fulfilled"

    changed = call(
        api, "PUT", f"/orders/{oid}/tracking", {"carrier": "yamato", "tracking_number": "111122223333"}
    )
    assert changed.status == 200 and changed.json["tracking"]["tracking_number"] == "111122223333"
    assert changed.json["previous_tracking"][0]["tracking_number"] == "EJ123456789JP"
    # left out, the origin and note are kept (docs/fulfillment.md); "" clears the note
    assert (changed.json["tracking"]["origin_country"], changed.json["tracking"]["note"]) == ("JP", "box 1")
    cleared = call(
        api,
        "PUT",
        f"/orders/{oid}/tracking",
        {"carrier": "yamato", "tracking_number": "111122223333", "note": ""},
    )
    assert cleared.status == 200 and not cleared.json["tracking"].get("note")
    assert cleared.json["tracking"]["origin_country"] == "JP"
    history = [h["action"] for h in api.get(f"/orders/{oid}").json["history"]]
    assert history[-3:] == ["fulfilled", "tracking_changed", "tracking_changed"]

    users = api.get("/tracking/1111-2222-3333").json
    assert [u["order_id"] for u in users["orders"]] == [oid]
    assert api.get("/tracking/EJ123456789JP").json["orders"] == []
    carriers = {c["code"] for c in api.get("/carriers").json["carriers"]}
    assert {"japan_post", "yamato", "sagawa", "ups", "fedex", "dhl", "usps", "other"} <= carriers


def test_shared_tracking_number_over_http(api):
    a, b = registered(api), registered(api)
    other = registered(api, recipient={**order_body()["recipient"], "name": "山田 花子"})
    number = {"carrier": "sagawa", "tracking_number": "9876543210"}
    result = call(
        api,
        "POST",
        "/fulfillments",
        {"fulfillments": [{"order_id": o["order_id"], **number} for o in (a, b, other)]},
    )
    assert result.status == 200
    assert [r["ok"] for r in result.json["results"]] == [True, True, False]
    refused = result.json["results"][2]
    assert refused["status"] == 409 and refused["error"]["rule"] == "tracking_shared"
    assert {c["reason"] for c in refused["error"]["conflicts"]} == {"recipient_name_differs"}
    assert (result.json["succeeded"], result.json["failed"]) == (2, 1)


def test_merchants_see_only_their_own_tracking_and_jobs(api, api2):
    order = registered(api)
    call(
        api,
        "POST",
        f"/orders/{order['order_id']}/fulfill",
        {"carrier": "fedex", "tracking_number": "123456789012"},
    )
    assert api2.get("/tracking/123456789012").json["orders"] == []
    resp = call(
        api2, "POST", f"/orders/{order['order_id']}/fulfill", {"carrier": "fedex", "tracking_number": "1"}
    )
    assert resp.status == 404


ROWS = 2_000
BAD_EVERY = 20  # 5% of the rows
JOB_TIMEOUT = 300  # a hang fails the test; a slow machine does not


def _import(api, cloud, marketplace: str, count: int) -> None:
    lines = [HEADER]
    for i in range(count):
        lines.append(
            f"{marketplace},CSV-{i:05d},2026-01-20 10:00,card,2026-01-20 10:00,JPY,TS-{i % 7},Tシャツ,1,"
            "1980,,山田 太郎,神南1-2-3,,渋谷区,東京都,150-0041,JP,,"
        )
    resp = call(
        api, "POST", "/orders/import", data="\r\n".join(lines).encode("utf-8"), content_type="text/csv"
    )
    assert resp.status == 202, resp
    cloud.drain(timeout=JOB_TIMEOUT)
    job = finished_job(cloud, api, resp.json["job_id"])
    assert job["succeeded"] == count, job["results"][:3]


def test_csv_fulfillment_job_of_2000_rows_with_5_percent_bad_rows(api, cloud):
    marketplace = "e2efulfill"
    _import(api, cloud, marketplace, ROWS)

    # Download the unfulfilled orders of that marketplace (CP932, as a Japanese spreadsheet wants).
    resp = call(api, "GET", f"/orders/unfulfilled.csv?marketplace={marketplace}&encoding=cp932")
    assert resp.status == 200 and resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.body.decode("cp932"))))
    assert len(rows) == ROWS and {r["recipient_name"] for r in rows} == {"山田 太郎"}

    # Fill it in: 1,900 good rows (some pairs share one parcel), 100 bad rows of five kinds.
    expected_bad: dict[int, str] = {}
    for i, row in enumerate(rows):
        spreadsheet_row = i + 2
        number = f"{300000000000 + (i // 2 if i % 40 < 2 else i)}"  # rows 0 and 1 of each 40 share
        row.update(carrier="yamato", tracking_number=number, origin_country="JP")
        if i % BAD_EVERY == 7:
            kind = (i // BAD_EVERY) % 5
            if kind == 0:
                row["tracking_number"] = "12"  # not a Yamato number
                expected_bad[spreadsheet_row] = "tracking_number"
            elif kind == 1:
                row["carrier"] = "pigeon"
                expected_bad[spreadsheet_row] = "carrier"
            elif kind == 2:
                row["order_id"] = "o_does_not_exist"
                expected_bad[spreadsheet_row] = "order_id"
            elif kind == 3:
                row["origin_country"] = "JPN"
                expected_bad[spreadsheet_row] = "origin_country"
            else:
                row["tracking_number"] = ""  # carrier without a number
                expected_bad[spreadsheet_row] = "tracking_number"
    assert len(expected_bad) == ROWS // BAD_EVERY
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    upload = call(
        api, "POST", "/fulfillment-jobs", data=out.getvalue().encode("cp932"), content_type="text/csv"
    )
    assert upload.status == 202, upload
    job_id = upload.json["job_id"]

    cloud.drain(timeout=JOB_TIMEOUT)
    job = api.get(f"/fulfillment-jobs/{job_id}").json
    assert (job["state"], job["total"], job["processed"]) == ("done", ROWS, ROWS)
    assert (job["succeeded"], job["failed"], job["skipped"]) == (
        ROWS - len(expected_bad),
        len(expected_bad),
        0,
    )

    results = []
    cursor = None
    while True:
        page = api.get(f"/fulfillment-jobs/{job_id}" + (f"?cursor={cursor}" if cursor else "")).json
        results += page["results"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [r["row"] for r in results] == list(range(2, ROWS + 2))  # one result per row, in file order
    failed = {r["row"]: r["error"]["field"] for r in results if not r["ok"]}
    assert failed == expected_bad
    assert all(r["tracking_number"] for r in results if r["ok"])

    # The orders: shipped where their row was good, still unfulfilled where it was bad.
    left = call(api, "GET", f"/orders/unfulfilled.csv?marketplace={marketplace}")
    remaining = list(csv.DictReader(io.StringIO(left.body.decode("utf-8-sig"))))
    assert len(remaining) == len(expected_bad)
    # A shared parcel: the first two orders use one number.
    pair = api.get("/tracking/300000000000").json["orders"]
    assert len(pair) == 2

    history = api.get("/fulfillment-jobs").json["jobs"]
    assert history[0]["job_id"] == job_id and history[0]["state"] == "done"
    assert api.get(f"/fulfillment-jobs/{job_id}x").status == 404


def test_the_unfulfilled_csv_leaves_out_orders_the_warehouse_has(api, cloud):
    mine = registered(api)
    at_warehouse = registered(api)
    oid = at_warehouse["order_id"]
    assert call(api, "POST", "/orders/confirm", {"order_ids": [oid]}).json["results"][0]["ok"]
    skus = [i["sku"] for i in at_warehouse["items"]]
    mappings = [{"marketplace": at_warehouse["marketplace"], "sku": s, "item_code": "IC-" + s} for s in skus]
    assert call(api, "PUT", "/item-mappings", {"mappings": mappings}).status == 200
    assert call(api, "POST", f"/orders/{oid}/map-items").status == 200
    assert call(api, "POST", f"/orders/{oid}/ship-request").status == 200
    rows = csv.DictReader(io.StringIO(call(api, "GET", "/orders/unfulfilled.csv").body.decode("utf-8-sig")))
    listed = {r["order_id"] for r in rows}
    assert mine["order_id"] in listed and oid not in listed  # a row for it could only fail
