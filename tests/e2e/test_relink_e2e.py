"""Relink on the local cloud: delete a Shopify order, relink it, change its address at the fake
marketplace, fire the relink sweep, and see the new order with a new packing number and the
new address."""

from __future__ import annotations

import pytest

from tests.e2e.test_marketplace_e2e import control, created, post, shopify_order
from tests.e2e.test_registration_e2e import call

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("fake")]


def test_delete_relink_sweep_and_the_new_order(api, cloud):
    payload = shopify_order()
    order = created(api, payload)
    control(cloud, "POST", "/_control/orders/shopify", payload)
    oid = order["order_id"]
    assert call(api, "DELETE", f"/orders/{oid}").status == 200

    [row] = [o for o in api.get("/cancelled-orders?state=relinkable").json["orders"] if o["order_id"] == oid]
    assert row["actions"] == ["relink"]
    resp = post(api, f"/cancelled-orders/{oid}/relink")
    assert resp.status == 202, resp
    assert resp.json["closeout_state"] == "relinking"

    moved = dict(payload["shipping_address"], address1="大手町1-1-1", city="千代田区", zip="100-0004")
    assert (
        control(cloud, "POST", "/_control/orders/shopify", dict(payload, shipping_address=moved)).status
        == 201
    )

    result = cloud.fire("RelinkSweepFunction")
    assert result["relinked"] == 1, result

    old = api.get(f"/orders/{oid}").json
    assert old["closeout_state"] == "relinked"
    new = api.get(f"/orders/{old['relinked_to']}").json
    assert new["relinked_from"] == oid and new["packing_no"] != order["packing_no"]
    assert new["recipient"]["address1"] == "大手町1-1-1" and new["recipient"]["city"] == "千代田区"
    [listed] = api.get(f"/orders?q={order['marketplace_order_no']}").json["orders"]
    assert listed["order_id"] == new["order_id"]
    [row] = [o for o in api.get("/cancelled-orders").json["orders"] if o["order_id"] == oid]
    assert (row["state"], row["actions"]) == ("relinked", [])
