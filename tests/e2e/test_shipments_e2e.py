"""The merchant's shipment list on the local cloud over HTTP (docs/fulfillment.md, "Shipment
list"): an order sent to the warehouse is walked through its stages by the warehouse API, and
GET /shipments shows it under each stage with its packing number and the stage counts; a
withdrawal through the cancel state machine lands it under withdrawn; another merchant sees none
of it."""

from __future__ import annotations

import itertools

import pytest

from tests.e2e.test_registration_e2e import call, order_body
from tests.e2e.test_sync_flows_e2e import finished, waiting_request

pytestmark = pytest.mark.e2e
_numbers = itertools.count(1)
STAGES = ("requested", "picking", "picked", "packed", "shipped", "withdrawn")


def sent_to_warehouse(api) -> dict:
    """A manual order (items with item codes), confirmed, its shipment requested."""
    no = f"SHP-{next(_numbers)}"
    created = call(
        api,
        "POST",
        "/orders",
        order_body(
            no,
            items=[
                {
                    "sku": "TS-RED-M",
                    "title": "Tシャツ",
                    "quantity": 2,
                    "price": "1980",
                    "item_code": "OWN-TS",
                },
                {"sku": "MUG-01", "title": "マグ", "quantity": 1, "price": "1200", "item_code": "OWN-MUG"},
            ],
        ),
    )
    assert created.status == 201, created
    oid = created.json["order_id"]
    assert api.call("POST", "/orders/confirm", {"order_ids": [oid]}).json["results"][0]["ok"]
    req = api.call("POST", f"/orders/{oid}/ship-request")
    assert req.status == 200 and req.json["shipment_stage"] == "requested", req
    return req.json


def shipments(api, **qs) -> dict:
    query = "&".join(f"{k}={v}" for k, v in {"page_size": 200, **qs}.items())
    resp = api.get(f"/shipments?{query}")
    assert resp.status == 200, resp
    return resp.json


def under(api, order_id: str) -> list[str]:
    """The stages whose list shows the order."""
    return [s for s in STAGES if order_id in [r["order_id"] for r in shipments(api, stage=s)["shipments"]]]


def test_an_order_walked_through_the_warehouse_stages_is_listed_under_each(api, api2):
    order = sent_to_warehouse(api)
    oid, packing = order["order_id"], order["packing_no"]
    before = shipments(api)["counts"]
    assert set(before) == set(STAGES)
    [row] = [r for r in shipments(api, q=packing)["shipments"]]
    assert (row["order_id"], row["stage"], row["packing_no"]) == (oid, "requested", packing)
    assert (
        row["marketplace_order_no"] == order["marketplace_order_no"] and row["recipient_name"] == "山田 太郎"
    )
    assert (row["item_lines"], row["item_quantity"]) == (2, 3)
    assert under(api, oid) == ["requested"]

    counts = before
    for stage in ("picking", "picked", "packed"):
        resp = api.warehouse("POST", f"/warehouse/shipments/{packing}/stage", {"stage": stage})
        assert resp.status == 200, resp
        assert under(api, oid) == [stage]
        [row] = shipments(api, stage=stage, q=packing)["shipments"]
        assert row["packing_no"] == packing
        now = shipments(api, stage=stage)["counts"]
        previous = {"picking": "requested", "picked": "picking", "packed": "picked"}[stage]
        assert now[stage] == counts[stage] + 1 and now[previous] == counts[previous] - 1
        counts = now
    resp = api.warehouse(
        "POST",
        f"/warehouse/shipments/{packing}/stage",
        {"stage": "shipped", "carrier": "yamato", "tracking_number": "4444-5555-7777"},
    )
    assert resp.status == 200, resp
    assert under(api, oid) == ["shipped"]
    [row] = shipments(api, stage="shipped", q=order["marketplace_order_no"])["shipments"]
    assert row["tracking"] == {"carrier": "yamato", "tracking_number": "444455557777"}
    assert row["status"] == "shipped" and row["stage_at"]
    after = shipments(api)["counts"]
    assert after["shipped"] == counts["shipped"] + 1 and after["packed"] == counts["packed"] - 1

    # another merchant sees none of it, even by the packing number
    other = shipments(api2, stage="shipped", q=packing)
    assert other["shipments"] == []
    assert oid not in [r["order_id"] for r in shipments(api2, stage="shipped")["shipments"]]


def test_a_withdrawn_shipment_is_listed_as_withdrawn(api, cloud):
    order = sent_to_warehouse(api)
    oid, packing = order["order_id"], order["packing_no"]
    assert api.warehouse("POST", f"/warehouse/shipments/{packing}/stage", {"stage": "picking"}).status == 200
    resp = api.call("POST", f"/orders/{oid}/cancel", {"reason": "wrong size", "accept_fee": True})
    assert resp.status == 202, resp
    [row] = shipments(api, stage="picking", q=packing)["shipments"]
    assert row["withdrawal"]["state"] == "requested" and row["withdrawal"]["reason"] == "wrong size"
    counts = shipments(api)["counts"]

    rid = waiting_request(api, oid)
    assert api.warehouse("POST", f"/warehouse/requests/{rid}", {"decision": "accepted"}).status == 200
    assert finished(api, cloud, oid)["status"] == "SUCCEEDED"
    assert under(api, oid) == ["withdrawn"]
    [row] = shipments(api, stage="withdrawn", q=packing)["shipments"]
    assert row["status"] == "cancelled" and row["withdrawal"]["state"] == "withdrawn"
    assert row["withdrawal"]["withdrawn_at"] == row["stage_at"]
    after = shipments(api)["counts"]
    assert after["withdrawn"] == counts["withdrawn"] + 1 and after["picking"] == counts["picking"] - 1


def test_bad_parameters_are_a_400_naming_the_field(api):
    for query, field in (
        ("stage=deleted", "stage"),
        ("from=tomorrow", "from"),
        ("page_size=7", "page_size"),
        ("cursor=nope", "cursor"),
        ("sort=asc", "sort"),
    ):
        resp = api.get(f"/shipments?{query}")
        assert resp.status == 400 and resp.json["error"]["field"] == field, (query, resp)
