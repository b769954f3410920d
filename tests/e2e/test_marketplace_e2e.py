"""Refresh and reflect through the local cloud and its fake marketplace: signed webhooks in,
merchant API calls, the marketplace client calling the fake over real sockets."""

from __future__ import annotations

import copy
import itertools
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.cloud_fixtures import post_shopify_order
from tests.support.http import Response, load_event, request

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("fake")]
_numbers = itertools.count(7001)


def post(api, path: str, body: dict | None = None) -> Response:
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"Authorization": f"Bearer {api.merchant['token']}", "Content-Type": "application/json"}
    return request("POST", api.base + path, data, headers)


def control(cloud, method: str, path: str, body: dict | None = None) -> Response:
    data = json.dumps(body).encode() if body is not None else None
    return request(
        method, cloud.config["fake_marketplace_url"] + path, data, {"Content-Type": "application/json"}
    )


def shopify_order(**overrides) -> dict:
    order = copy.deepcopy(load_event("shopify/orders_create.json"))
    n = next(_numbers)
    order.update({"id": 820982911946150000 + n, "order_number": n, "name": f"#{n}"})
    order.update(overrides)
    return order


def created(api, payload: dict) -> dict:
    assert api.post_webhook("shopify", payload, topic="orders/create").status == 200
    orders = api.wait_for(lambda: api.get(f"/orders?q={payload['order_number']}").json["orders"], timeout=5)
    assert len(orders) == 1
    return orders[0]


def test_local_json_names_the_fake_and_profiles_point_at_it(cloud):
    url = cloud.config["fake_marketplace_url"]
    assert url == cloud.fake_marketplace.url and url.startswith("http://127.0.0.1:")
    assert json.loads(cloud.config_path.read_text())["fake_marketplace_url"] == url
    from orderhub.merchants import profiles

    profiles.clear_cache()
    integrations = profiles.get_profile("demo")["integrations"]
    assert integrations["shopify"]["api_base_url"] == f"{url}/shopify"
    assert integrations["shopify"]["reflect_cancel_to_marketplace"] is True
    assert {m: i["api_base_url"] for m, i in integrations.items()} == {
        m: f"{url}/{m}" for m in ("shopify", "wish", "ecforce", "rakuten", "qoo10", "amazon")
    }
    assert "Fake marketplace" in cloud.banner()


def test_refresh_takes_the_address_changed_at_the_marketplace(api, cloud, fake):
    payload = shopify_order(updated_at="2026-01-05T10:15:32+09:00")
    order = created(api, payload)
    moved = dict(payload["shipping_address"], address1="大手町1-1-1", city="千代田区", zip="100-0004")
    changed = dict(payload, shipping_address=moved, updated_at="2026-01-05T12:00:00+09:00")
    put = control(cloud, "POST", "/_control/orders/shopify", changed)
    assert put.status == 201 and put.json["order_no"] == order["marketplace_order_no"]

    resp = post(api, f"/orders/{order['order_id']}/refresh")

    assert resp.status == 200, resp
    assert (
        resp.json["recipient"]["address1"] == "大手町1-1-1" and resp.json["recipient"]["city"] == "千代田区"
    )
    assert resp.json["version"] == order["version"] + 1
    full = api.get(f"/orders/{order['order_id']}").json
    assert full["recipient"]["postal_code"] == "100-0004"
    assert [(h["actor"], h["action"]) for h in full["history"]][-1] == ("marketplace", "refreshed")
    [call] = fake.calls("shopify")
    assert call["query"] == {"name": order["marketplace_order_no"], "status": "any"}
    assert call["token"].startswith("shpat_")


def test_refresh_when_the_marketplace_fails_is_422_and_changes_nothing(api, fake):
    payload = shopify_order()
    order = created(api, payload)
    fake.put_order("shopify", dict(payload, email="new@example.com", updated_at="2026-01-05T12:00:00+09:00"))
    fake.fail("shopify", "error", count=-1, status=503)

    resp = post(api, f"/orders/{order['order_id']}/refresh")

    assert resp.status == 422, resp
    assert resp.json["error"]["code"] == "marketplace_error" and resp.json["error"]["kind"] == "unavailable"
    after = api.get(f"/orders/{order['order_id']}").json
    assert after["version"] == order["version"] and after["recipient"] == order["recipient"]


def test_refresh_without_a_marketplace_api_is_409(api):
    event = load_event("generic/order_created.json")
    event["marketplace"] = "base"  # the demo merchant has no BASE API integration
    event["order"]["order_no"] = f"BASE-{next(_numbers)}"
    assert api.post_webhook("generic", event).status == 200
    [order] = api.wait_for(lambda: api.get(f"/orders?q={event['order']['order_no']}").json["orders"])
    resp = post(api, f"/orders/{order['order_id']}/refresh")
    assert resp.status == 409 and resp.json["error"]["rule"] == "no_marketplace_api"


def at_picking(api, cloud) -> tuple[dict, dict]:
    """A Shopify order whose parcel the warehouse is picking; (order, payload), the payload at the fake."""
    cod = "Cash on Delivery (COD)"
    fields = {"gateway": cod, "payment_gateway_names": [cod], "financial_status": "pending"}
    order, payload = post_shopify_order(api, cloud, next(_numbers), 120, **fields)
    oid = order["order_id"]
    assert api.call("POST", "/orders/confirm", {"order_ids": [oid]}).json["results"][0]["ok"]
    mappings = [
        {"marketplace": "shopify", "sku": i["sku"], "item_code": "IT-" + i["sku"]} for i in order["items"]
    ]
    assert api.call("PUT", "/item-mappings", {"mappings": mappings}).status == 200
    assert api.call("POST", f"/orders/{oid}/map-items").status == 200
    packing = api.call("POST", f"/orders/{oid}/ship-request").json["packing_no"]
    assert api.warehouse("POST", f"/warehouse/shipments/{packing}/stage", {"stage": "picking"}).status == 200
    cloud.fake_marketplace.put_order("shopify", payload)
    return api.get(f"/orders/{oid}").json, payload


def moved_at_the_fake(fake, payload: dict) -> dict:
    moved = dict(payload["shipping_address"], address1="大手町1-1-1", city="千代田区", zip="100-0004")
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    fake.put_order("shopify", dict(payload, shipping_address=moved, updated_at=later))
    return moved


def sync_of(api, order_id: str) -> list[tuple[str, str, str | None]]:
    entries = api.get("/sync-history?page_size=200").json["entries"]
    return [(e["kind"], e["outcome"], e.get("via")) for e in entries if e["order_id"] == order_id]


def test_refresh_at_picking_follows_the_modify_sync_setting(api, cloud, fake):
    # Shopify's default, modify_sync off: the recipient the warehouse reads stays
    order, payload = at_picking(api, cloud)
    moved_at_the_fake(fake, payload)
    resp = post(api, f"/orders/{order['order_id']}/refresh")
    assert resp.status == 200, resp
    assert resp.json["recipient"] == order["recipient"] and resp.json["shipment_stage"] == "picking"
    assert sync_of(api, order["order_id"]) == [("modify", "not_reflected", "refresh")]

    # modify_sync on, with the paid request after confirmation: the modify flow asks the warehouse
    on = {"modify_sync": True, "modify_after_confirmed": True}
    assert api.call("PUT", "/integrations/shopify", on).status == 200
    try:
        order, payload = at_picking(api, cloud)
        moved = moved_at_the_fake(fake, payload)
        resp = post(api, f"/orders/{order['order_id']}/refresh")
        assert resp.status == 200, resp
        assert resp.json["recipient"] == order["recipient"]  # until the warehouse accepts

        def requested():
            o = api.get(f"/orders/{order['order_id']}").json
            return o if (o.get("modification") or {}).get("request_id") else None

        waiting = api.wait_for(requested, timeout=15)
        assert waiting["modification"]["recipient"]["address1"] == moved["address1"]
        assert ("modify", "requested", None) in sync_of(api, order["order_id"])
    finally:
        off = {"modify_sync": False, "modify_after_confirmed": False}
        assert api.call("PUT", "/integrations/shopify", off).status == 200


def test_cancel_is_reflected_to_the_marketplace(api, cloud, fake):
    payload = shopify_order()
    order = created(api, payload)
    fake.put_order("shopify", payload)
    told = cloud.metrics("ReflectSucceeded", marketplace="shopify", what="cancel")

    resp = post(api, f"/orders/{order['order_id']}/cancel", {"reason": "buyer asked"})

    assert resp.status == 200, resp
    assert resp.json["status"] == "cancelled" and resp.json["tags"] == []
    [sent] = fake.cancels("shopify")
    assert sent["order_no"] == order["marketplace_order_no"]
    history = api.get(f"/orders/{order['order_id']}").json["history"]
    assert [(h["actor"], h["action"]) for h in history][-2:] == [
        ("merchant", "cancelled"),
        ("system", "reflected"),
    ]
    assert cloud.metrics("ReflectSucceeded", marketplace="shopify", what="cancel") == told + 1


def test_cancel_that_cannot_be_reflected_stands_and_is_tagged(api, cloud, fake):
    payload = shopify_order()
    order = created(api, payload)
    fake.put_order("shopify", payload)
    assert (
        control(
            cloud, "POST", "/_control/fail", {"marketplace": "shopify", "mode": "error", "count": -1}
        ).status
        == 200
    )

    failed = cloud.metrics("ReflectFailed", marketplace="shopify", what="cancel")
    resp = post(api, f"/orders/{order['order_id']}/cancel", {"reason": "buyer asked"})

    assert resp.status == 200, resp
    assert resp.json["status"] == "cancelled" and "mall_reflect_error" in resp.json["tags"]
    assert cloud.metrics("ReflectFailed", marketplace="shopify", what="cancel") == failed + 1
    tagged = api.get("/orders?tag=mall_reflect_error").json["orders"]
    assert order["order_id"] in [o["order_id"] for o in tagged]
    last = api.get(f"/orders/{order['order_id']}").json["history"][-1]
    assert (last["actor"], last["action"], last["error"]["kind"]) == (
        "system",
        "reflect_failed",
        "unavailable",
    )
    calls = control(cloud, "GET", "/_control/calls?marketplace=shopify").json
    assert len(calls["calls"]) == 3 and calls["cancels"] == []


def finished_job(api, cloud, job_id: str) -> dict:
    cloud.drain(timeout=30)
    deadline = time.monotonic() + 10
    while (job := api.get(f"/jobs/{job_id}").json)["state"] != "done" and time.monotonic() < deadline:
        time.sleep(0.05)
    return job


def test_failed_reflects_of_a_filter_are_retried_by_one_job(api, cloud, fake):
    payloads = [shopify_order() for _ in range(2)]
    mine = [created(api, p) for p in payloads]
    for p in payloads:
        fake.put_order("shopify", p)
    # every attempt of the two cancels fails (3 attempts each), then the marketplace is back
    fail = {"marketplace": "shopify", "mode": "error", "count": 6}
    assert control(cloud, "POST", "/_control/fail", fail).status == 200
    for o in mine:
        assert "mall_reflect_error" in post(api, f"/orders/{o['order_id']}/cancel", {}).json["tags"]

    resp = post(api, "/orders/reflect-retry", {"filter": {"tag": "mall_reflect_error"}})
    assert resp.status == 202 and resp.json["kind"] == "retry_reflect", resp
    job = finished_job(api, cloud, resp.json["job_id"])
    assert job["state"] == "done", job
    by_order = {r["order_id"]: r for r in job["results"]}
    for o in mine:
        assert (
            by_order[o["order_id"]]["ok"] and by_order[o["order_id"]]["order_no"] == o["marketplace_order_no"]
        )
        after = api.get(f"/orders/{o['order_id']}").json
        assert (
            "mall_reflect_error" not in after["tags"] and after["history"][-1]["action"] == "reflect_retried"
        )
    assert {c["order_no"] for c in fake.cancels("shopify")} >= {o["marketplace_order_no"] for o in mine}
    # an order tagged by an earlier test whose marketplace order is gone stays tagged, reported
    still = {o["order_id"] for o in api.get("/orders?tag=mall_reflect_error").json["orders"]}
    assert still == {r["order_id"] for r in job["results"] if not r["ok"]}


def test_confirm_and_ship_requests_take_a_whole_filter_as_a_job(api, cloud, fake):
    orders = [created(api, shopify_order()) for _ in range(3)]
    assert {o["status"] for o in orders} == {"new"}
    ids = {o["order_id"] for o in orders}
    both = post(api, "/orders/confirm", {"order_ids": [orders[0]["order_id"]], "filter": {}})
    assert both.status == 400 and both.json["error"]["field"] == "order_ids"
    bad = post(api, "/orders/confirm", {"filter": {"status": "nope"}})
    assert bad.status == 400 and bad.json["error"]["field"] == "filter.status"

    resp = post(api, "/orders/confirm", {"filter": {"status": "new"}})
    assert resp.status == 202 and resp.json["kind"] == "confirm", resp
    job = finished_job(api, cloud, resp.json["job_id"])
    mine = [r for r in job["results"] if r["order_id"] in ids]
    assert len(mine) == 3 and all(r["ok"] and r["status"] == "processing" for r in mine), job
    for o in orders:
        skus = [i["sku"] for i in o["items"]]
        mappings = [{"marketplace": "shopify", "sku": s, "item_code": "IC-" + s} for s in skus]
        assert api.call("PUT", "/item-mappings", {"mappings": mappings}).status == 200
    assert post(api, "/item-mappings/apply", {"filter": {"status": "processing"}}).status == 202
    cloud.drain(timeout=30)

    resp = post(api, "/orders/ship-requests", {"filter": {"status": "processing"}})
    assert resp.status == 202 and resp.json["kind"] == "ship_request", resp
    job = finished_job(api, cloud, resp.json["job_id"])
    mine = {r["order_id"]: r for r in job["results"] if r["order_id"] in ids}
    assert all(r["ok"] and r["shipment_stage"] == "requested" and r["packing_no"] for r in mine.values()), job
    queue = api.warehouse("GET", "/warehouse/shipments?stage=requested&page_size=200").json["shipments"]
    assert ids <= {s["order_id"] for s in queue}


def test_refresh_of_a_filter_runs_as_a_job_with_a_result_per_order(api, cloud, fake):
    payloads = [shopify_order(updated_at="2026-01-05T10:15:32+09:00") for _ in range(2)]
    mine = [created(api, p) for p in payloads]
    for p in payloads:
        fake.put_order("shopify", dict(p, email="moved@example.com", updated_at="2026-01-05T12:00:00+09:00"))

    resp = post(api, "/orders/refresh", {"filter": {"marketplace": "shopify", "page_size": 200}})
    assert resp.status == 202, resp
    assert resp.json["kind"] == "refresh" and resp.json["state"] == "queued"
    cloud.drain(timeout=30)
    deadline = time.monotonic() + 10
    while (job := api.get(f"/jobs/{resp.json['job_id']}").json)[
        "state"
    ] != "done" and time.monotonic() < deadline:
        time.sleep(0.05)

    assert job["state"] == "done", job
    listed = api.get("/orders?marketplace=shopify&page_size=200").json["orders"]
    assert sorted(r["order_id"] for r in job["results"]) == sorted(o["order_id"] for o in listed)
    assert job["total"] == job["processed"] == len(listed)
    by_order = {r["order_id"]: r for r in job["results"]}
    for o in mine:
        assert by_order[o["order_id"]]["ok"] and by_order[o["order_id"]]["outcome"] == "updated"
        assert api.get(f"/orders/{o['order_id']}").json["recipient"]["email"] == "moved@example.com"


def test_a_bad_refresh_filter_is_400(api):
    resp = post(api, "/orders/refresh", {"filter": {"status": "nope"}})
    assert resp.status == 400 and resp.json["error"]["field"] == "filter.status"
