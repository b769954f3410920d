"""Manual and CSV registration through the local cloud: HTTP -> merchant API -> DynamoDB, and
the import job: upload -> SQS -> job worker -> GET /jobs/{id}. Real sockets."""

from __future__ import annotations

import itertools
import json

import pytest

from tests.support.http import ROOT, request
from tests.support.tables import table_items

pytestmark = pytest.mark.e2e
_numbers = itertools.count(1)
HEADER = (
    "marketplace,marketplace_order_no,placed_at,payment_method,paid_at,currency,sku,title,quantity,price,"
    "item_code,recipient_name,address1,address2,city,region,postal_code,country,phone,email"
)


def call(api, method: str, path: str, body=None, *, data: bytes | None = None, content_type: str = ""):
    headers = {"Authorization": f"Bearer {api.merchant['token']}"}
    if body is not None:
        data = json.dumps(body).encode()
        content_type = "application/json"
    if content_type:
        headers["Content-Type"] = content_type
    return request(method, api.base + path, data, headers)


def order_body(no: str | None = None, **over) -> dict:
    b = {
        "marketplace": "rakuten",
        "marketplace_order_no": no or f"E2E-{next(_numbers)}",
        "placed_at": "2026-01-20T10:00:00+09:00",
        "payment": {"method": "card"},
        "currency": "JPY",
        "items": [{"sku": "TS-RED-M", "title": "Tシャツ", "quantity": 1, "price": "1980"}],
        "recipient": {
            "name": "山田 太郎",
            "address1": "神南1-2-3",
            "city": "渋谷区",
            "postal_code": "150-0041",
            "country": "JP",
        },
    }
    b.update(over)
    return b


def find(api, no: str, deleted: bool = False) -> list[dict]:
    resp = api.get(f"/orders?q={no}" + ("&include_deleted=true" if deleted else ""))
    assert resp.status == 200, resp
    return resp.json["orders"]


def finished_job(cloud, api, job_id: str) -> dict:
    cloud.drain()
    resp = api.get(f"/jobs/{job_id}")
    assert resp.status == 200, resp
    assert resp.json["state"] == "done", resp.json
    return resp.json


def test_post_order_then_get_it(api):
    resp = call(api, "POST", "/orders", order_body("E2E-M1", tags=["gift"]))
    assert resp.status == 201, resp
    order = resp.json
    assert (order["status"], order["origin"], order["shipment_stage"]) == ("new", "manual", "none")
    got = api.get(f"/orders/{order['order_id']}")
    assert got.status == 200, got
    assert got.json["marketplace_order_no"] == "E2E-M1"
    assert got.json["packing_no"] == order["packing_no"]
    assert got.json["tags"] == ["gift"]
    assert [(h["actor"], h["action"], h["origin"]) for h in got.json["history"]] == [
        ("merchant", "registered", "manual")
    ]
    assert [o["order_id"] for o in find(api, "E2E-M1")] == [order["order_id"]]


def test_bad_bodies_name_the_field(api, cloud):
    before = table_items(cloud)
    cases = [
        (order_body(colour="red"), "colour"),
        (order_body(items=[{"sku": "A", "quantity": 0, "price": "1"}]), "items[0].quantity"),
        (order_body(recipient={**order_body()["recipient"], "country": "JPN"}), "recipient.country"),
    ]
    for body, field in cases:
        resp = call(api, "POST", "/orders", body)
        assert resp.status == 400, resp
        assert resp.json["error"]["field"] == field
        assert resp.json["error"]["code"] == "validation_failed"
    assert table_items(cloud) == before


def test_duplicate_number_is_409_naming_the_order(api):
    first = call(api, "POST", "/orders", order_body("E2E-D1")).json
    resp = call(api, "POST", "/orders", order_body("E2E-D1"))
    assert resp.status == 409, resp
    assert resp.json["error"]["rule"] == "duplicate_order_no"
    assert resp.json["error"]["order_id"] == first["order_id"]


def test_cancelled_number_registered_again_is_refused_and_nothing_changes(api, cloud):
    order = call(api, "POST", "/orders", order_body("E2E-C1")).json
    resp = call(api, "POST", f"/orders/{order['order_id']}/cancel", {"reason": "buyer asked"})
    assert resp.status == 200, resp
    assert resp.json["status"] == "cancelled"
    cloud.drain()
    before = table_items(cloud)
    counts = api.get("/orders/counts").json
    again = call(api, "POST", "/orders", order_body("E2E-C1"))
    assert again.status == 409, again
    assert again.json["error"]["code"] == "rule_refused"
    assert again.json["error"]["rule"] == "cancelled_number"
    assert again.json["error"]["order_id"] == order["order_id"]
    cloud.drain()
    assert table_items(cloud) == before
    assert api.get("/orders/counts").json == counts


def test_deleted_number_may_be_registered_again(api):
    order = call(api, "POST", "/orders", order_body("E2E-X1")).json
    assert call(api, "DELETE", f"/orders/{order['order_id']}").status == 200
    again = call(api, "POST", "/orders", order_body("E2E-X1"))
    assert again.status == 201, again
    assert [o["order_id"] for o in find(api, "E2E-X1")] == [again.json["order_id"]]
    assert {o["status"] for o in find(api, "E2E-X1", deleted=True)} == {"deleted", "new"}


def test_cp932_csv_import_registers_good_rows_and_reports_bad_ones(api, api2, cloud):
    data = (ROOT / "events" / "csv" / "orders_cp932.csv").read_bytes()
    resp = call(api, "POST", "/orders/import", data=data, content_type="text/csv")
    assert resp.status == 202, resp
    job = resp.json
    assert (job["kind"], job["total"], job["params"]["encoding"]) == ("import_csv", 7, "cp932")

    done = finished_job(cloud, api, job["job_id"])
    assert (done["processed"], done["succeeded"], done["failed"]) == (7, 3, 4)
    rows = {r["row"]: r for r in done["results"]}
    assert [n for n, r in sorted(rows.items()) if r["ok"]] == [2, 3, 5]
    assert (rows[4]["error"]["field"], rows[4]["error"]["message"]) == ("quantity", "must be at least 1")
    assert rows[6]["error"]["field"] == "country"
    assert rows[7]["error"]["code"] == "order_rejected"
    assert rows[8]["error"]["field"] == "marketplace"

    [r1001] = find(api, "R-1001")
    assert r1001["order_id"] == rows[2]["order_id"] == rows[3]["order_id"]
    assert (r1001["origin"], r1001["status"], r1001["recipient"]["name"]) == ("csv", "new", "山田 太郎")
    assert [i["title"] for i in r1001["items"]] == ["Tシャツ 赤 M", "マグカップ"]
    assert find(api, "R-1002") == []
    assert find(api2, "R-1001") == []  # the other merchant sees nothing
    assert api2.get(f"/jobs/{job['job_id']}").status == 404


def test_multipart_upload_and_rows_of_taken_numbers(api, cloud):
    call(api, "POST", "/orders", order_body("E2E-T1"))
    lines = [
        HEADER,
        "rakuten,E2E-T1,2026/01/21 09:00,card,,JPY,CAP-01,キャップ,1,2500,,佐藤 花子,梅田1-1-1,,大阪市北区,,"
        "530-0001,JP,,",
        "rakuten,E2E-T2,2026/01/21 09:00,card,,JPY,CAP-01,キャップ,1,2500,,佐藤 花子,梅田1-1-1,,大阪市北区,,"
        "530-0001,JP,,",
    ]
    payload = ("\r\n".join(lines) + "\r\n").encode("cp932")
    boundary = "orderhubE2E"
    form = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="注文.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )
    resp = call(
        api, "POST", "/orders/import", data=form, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert resp.status == 202, resp
    done = finished_job(cloud, api, resp.json["job_id"])
    rows = {r["row"]: r for r in done["results"]}
    assert rows[2]["error"]["rule"] == "duplicate_order_no"
    assert rows[3]["ok"]
    assert find(api, "E2E-T2")[0]["origin"] == "csv"


def test_upload_refused_at_once_changes_nothing(api, cloud):
    cloud.drain()
    before = table_items(cloud)
    no_qty = ("\r\n".join([HEADER.replace(",quantity", ""), "rakuten,E2E-Q1"]) + "\r\n").encode()
    resp = call(api, "POST", "/orders/import", data=no_qty, content_type="text/csv")
    assert resp.status == 400, resp
    assert resp.json["error"]["field"] == "columns"
    assert "quantity" in resp.json["error"]["message"]
    resp = call(api, "POST", "/orders/import", data=(HEADER + "\r\n").encode(), content_type="text/csv")
    assert (resp.status, resp.json["error"]["field"]) == (400, "file")
    cloud.drain()
    assert table_items(cloud) == before
