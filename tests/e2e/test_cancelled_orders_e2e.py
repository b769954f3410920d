"""The cancelled-orders view on the local cloud: delete a manual order, find it with the restore
action, restore it, and see it back in GET /orders with the same packing number."""

from __future__ import annotations

import pytest

from tests.e2e.test_registration_e2e import call, order_body

pytestmark = pytest.mark.e2e


def test_delete_list_restore_and_back_in_orders(api):
    order = call(api, "POST", "/orders", order_body("E2E-RESTORE-1")).json
    oid = order["order_id"]
    assert call(api, "DELETE", f"/orders/{oid}").status == 200
    assert oid not in [o["order_id"] for o in api.get("/orders?q=E2E-RESTORE-1").json["orders"]]

    listed = api.get("/cancelled-orders?reason=seller_deleted_manual&state=restorable")
    assert listed.status == 200, listed
    [row] = [o for o in listed.json["orders"] if o["order_id"] == oid]
    assert (row["state"], row["actions"]) == ("restorable", ["restore"])
    assert row["packing_no"] == order["packing_no"]
    assert listed.json["counts"]["seller_deleted_manual"] >= 1

    restored = call(api, "POST", f"/cancelled-orders/{oid}/restore")
    assert restored.status == 200, restored
    assert (restored.json["status"], restored.json["shipment_stage"]) == ("new", "none")
    assert restored.json["packing_no"] == order["packing_no"]
    [back] = api.get("/orders?q=E2E-RESTORE-1").json["orders"]
    assert back["order_id"] == oid and back["status"] == "new"
    assert oid not in [o["order_id"] for o in api.get("/cancelled-orders").json["orders"]]
    again = call(api, "POST", f"/cancelled-orders/{oid}/restore")
    assert again.status == 409 and again.json["error"]["rule"] == "restore_needs_deleted"


def test_search_deleted_orders_by_part_of_the_number_with_counts_of_the_search(api):
    from urllib.parse import quote

    for n in (1, 2, 3):
        oid = call(api, "POST", "/orders", order_body(f"E2E-PART-{n}")).json["order_id"]
        assert call(api, "DELETE", f"/orders/{oid}").status == 200
    found = api.get("/cancelled-orders?q=PART-").json
    assert sorted(o["marketplace_order_no"] for o in found["orders"]) == [
        "E2E-PART-1",
        "E2E-PART-2",
        "E2E-PART-3",
    ]
    assert found["counts"]["seller_deleted_manual"] == 3 and found["counts_complete"] is True
    name = found["orders"][0]["recipient_name"]
    assert found["orders"][0]["order_id"] in [
        o["order_id"] for o in api.get(f"/cancelled-orders?q={quote(name)}").json["orders"]
    ]
    bad = api.get("/cancelled-orders?q=" + "x" * 101)
    assert bad.status == 400 and bad.json["error"]["field"] == "q"
