"""Races (docs/reliability.md): two writers on one order at the same moment. Exactly one outcome
wins, the loser is refused or superseded by the rules, and no order reaches an impossible state
(cancelled and shipped)."""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.factories import manual_body
from tests.support.tables import scan_table

pytestmark = pytest.mark.e2e
ROUNDS = 12
_numbers = itertools.count(1)


def run_together(*calls, jitter: float = 0.0, seed: int = 0):
    """Start every call at the same instant (a barrier), each after a random delay of up to
    `jitter` seconds; return their results in order."""
    barrier = threading.Barrier(len(calls))
    delays = [random.Random(seed * 31 + i).uniform(0, jitter) for i in range(len(calls))]
    results: list = [None] * len(calls)
    errors: list = []

    def run(i, fn):
        barrier.wait()
        time.sleep(delays[i])
        try:
            results[i] = fn()
        except Exception as exc:  # reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    return results


def manual_order(api, no: str) -> dict:
    body = manual_body("racemart", no, sku="RACE-1", item_code="ITEM-RACE-1", price="1000")
    resp = api.call("POST", "/orders", body)
    assert resp.status == 201, resp
    return resp.json


def requested_order(api) -> dict:
    """An order in processing whose shipment request waits at stage requested."""
    order = manual_order(api, f"RACE-SHIP-{next(_numbers)}")
    oid = order["order_id"]
    assert api.call("POST", "/orders/confirm", {"order_ids": [oid]}).json["results"][0]["ok"]
    req = api.call("POST", f"/orders/{oid}/ship-request")
    assert req.status == 200 and req.json["shipment_stage"] == "requested", req
    return req.json


def history_actions(api, oid) -> list[str]:
    return [h["action"] for h in api.get(f"/orders/{oid}").json["history"]]


def assert_no_impossible_state(cloud):
    for (pk, sk), item in scan_table(cloud).items():
        if sk != "#ORDER":
            continue
        status = item["status"]["S"]
        stage = item.get("shipment_stage", {}).get("S")
        tracked = "M" in item.get("tracking", {"NULL": True})
        if status == "cancelled":
            assert stage not in ("picking", "picked", "packed", "shipped") and not tracked, (pk, item)
        if status == "shipped":
            assert stage == "shipped" or tracked, (pk, item)


def assert_counts_equal_lists(api):
    counts = api.get("/orders/counts").json
    for tab in ("pending", "new", "processing", "shipped", "on_hold", "cancelled", "closed"):
        listed = api.get(f"/orders?status={tab}&page_size=200").json
        assert listed["next_cursor"] is None
        assert counts[tab] == len(listed["orders"]), (tab, counts)


def _as_response(fn):
    """Run a service call as its HTTP route would: (status, body)."""
    from orderhub.kernel.errors import OrderhubError

    try:
        return 200, fn()
    except OrderhubError as exc:
        return exc.status, exc.to_body()


def test_merchant_cancel_races_warehouse_shipped(api, cloud):
    """Both sides run the code their routes run (lifecycle.apply with the cancel action, as
    POST /orders/{id}/cancel does; warehouse.report_stage, as POST /warehouse/shipments/{no}/stage
    does), in two threads released at once, against the local cloud's table. They are called below
    the HTTP layer because the local cloud serves concurrent requests with one shared Powertools
    event (see test_isolation.py::test_concurrent_requests_keep_their_own_merchant)."""
    from orderhub.domain import actions
    from orderhub.fulfillment import warehouse
    from orderhub.orders import lifecycle

    winners = Counter()
    for i in range(ROUNDS):
        order = requested_order(api)
        oid, packing = order["order_id"], order["packing_no"]
        number = f"4444-5555-{6000 + i:04d}"
        (c_status, c_body), (s_status, s_body) = run_together(
            lambda oid=oid: _as_response(
                lambda: lifecycle.apply(
                    "demo", oid, lambda o, now: actions.cancel(o, "race", now), actor="merchant"
                )[0]
            ),
            lambda packing=packing, number=number: _as_response(
                lambda: warehouse.report_stage(
                    packing, {"stage": "shipped", "carrier": "yamato", "tracking_number": number}
                )
            ),
            jitter=0.05,
            seed=i,
        )
        final = api.get(f"/orders/{oid}").json
        actions_seen = [h["action"] for h in final["history"]]
        assert sorted([c_status, s_status]) == [200, 409], (c_status, c_body, s_status, s_body)
        if c_status == 200:
            winners["cancel"] += 1
            assert s_body["error"]["rule"] == "shipment_cancelled", s_body
            assert (final["status"], final["shipment_stage"], final["tracking"]) == (
                "cancelled",
                "deleted",
                None,
            )
            assert "stage_shipped" not in actions_seen and actions_seen.count("cancelled") == 1
        else:
            winners["shipped"] += 1
            assert c_body["error"]["rule"] == "cancel_after_packed", c_body
            assert (final["status"], final["shipment_stage"]) == ("shipped", "shipped")
            assert final["tracking"]["tracking_number"].replace("-", "").endswith(number[-4:])
            assert "cancelled" not in actions_seen and actions_seen.count("stage_shipped") == 1
        assert final["version"] == 3  # confirmed, ship_requested, and exactly one winner
    assert sum(winners.values()) == ROUNDS
    print(f"\ncancel vs shipped over {ROUNDS} rounds: {dict(winners)}")
    assert_no_impossible_state(cloud)
    assert_counts_equal_lists(api)


def test_merchant_confirm_races_marketplace_cancel(api, cloud):
    """The marketplace cancel is processed by the ingest processor (in a thread here, as a second
    Lambda instance would run it) while the merchant confirms over HTTP. The cancel is never lost:
    either the confirm lands first and the cancel then cancels the processing order, or the
    cancel lands first and the confirm is refused (409). The order never ends in processing."""
    from orderhub.domain.models import Envelope
    from orderhub.webhooks import ingest
    from tests.support.factories import change

    placed = datetime.now(UTC) - timedelta(days=1)
    first = Counter()
    for i in range(ROUNDS):
        no = f"RACE-CANCEL-{i}"
        created = Envelope(
            merchant_id="demo",
            adapter="generic",
            delivery_id=f"race-create-{i}",
            received_at=placed,
            change=change(no, "created", marketplace="racemart", method="marketplace", placed_at=placed),
        )
        assert ingest.process(created.model_dump_json()) == "applied"
        [order] = api.get(f"/orders?q={no}").json["orders"]
        assert order["status"] == "new"
        oid = order["order_id"]
        cancelled_at = placed + timedelta(hours=1)
        cancel_env = Envelope(
            merchant_id="demo",
            adapter="generic",
            delivery_id=f"race-cancel-{i}",
            received_at=cancelled_at,
            change=change(
                no,
                "cancelled",
                marketplace="racemart",
                method="marketplace",
                placed_at=placed,
                updated_at=cancelled_at,
                cancelled_at=cancelled_at,
            ),
        )
        confirm, outcome = run_together(
            lambda oid=oid: api.call("POST", "/orders/confirm", {"order_ids": [oid]}),
            lambda env=cancel_env: ingest.process(env.model_dump_json()),
        )
        assert confirm.status == 200 and outcome == "applied", (confirm, outcome)
        [result] = confirm.json["results"]
        final = api.get(f"/orders/{oid}").json
        actions = [h["action"] for h in final["history"]]
        assert final["status"] == "cancelled" and final["cancel_reason"] == "marketplace_cancelled"
        if result["ok"]:
            first["confirm"] += 1
            # the cancel was applied on top of the confirm (by version; the history's time order
            # can disagree: see test_history_follows_the_order_of_writes below)
            assert sorted(actions) == ["cancelled", "confirmed", "created"], actions
            [cancel_entry] = [h for h in final["history"] if h["action"] == "cancelled"]
            assert cancel_entry["changes"]["status"] == ["processing", "cancelled"]
            assert final["version"] == 2
        else:
            first["cancel"] += 1
            assert result["status"] == 409 and result["error"]["status"] == "cancelled", result
            assert actions == ["created", "cancelled"], actions
            assert final["version"] == 1
        record = api.get(f"/webhook-deliveries/generic/race-cancel-{i}").json
        assert record["outcome"] == "applied", json.dumps(record)
    print(f"\nconfirm vs marketplace cancel over {ROUNDS} rounds, landed first: {dict(first)}")
    assert_no_impossible_state(cloud)
    assert_counts_equal_lists(api)


def test_history_follows_the_order_of_writes(api, cloud, monkeypatch):
    """Deterministic reproduction of what the race above can show: the processor takes its clock
    reading, the merchant confirms, then the processor reads the (confirmed) order and cancels it.
    The history must list confirmed before cancelled, and updated_at must not go back."""
    from orderhub.domain.models import Envelope
    from orderhub.store import db
    from orderhub.webhooks import ingest
    from tests.support.factories import change

    placed = datetime.now(UTC) - timedelta(days=1)
    no = "RACE-CLOCK-1"
    env = Envelope(
        merchant_id="demo",
        adapter="generic",
        delivery_id="race-clock-create",
        received_at=placed,
        change=change(no, "created", marketplace="racemart", method="marketplace", placed_at=placed),
    )
    assert ingest.process(env.model_dump_json()) == "applied"
    [order] = api.get(f"/orders?q={no}").json["orders"]
    oid = order["order_id"]

    real_get_lookup = db.get_lookup
    confirmed = {}

    def get_lookup_after_a_confirm(*args, **kw):
        if not confirmed:  # the processor has taken its `now`; the merchant confirms meanwhile
            time.sleep(0.01)
            confirmed["resp"] = api.call("POST", "/orders/confirm", {"order_ids": [oid]})
        return real_get_lookup(*args, **kw)

    monkeypatch.setattr(db, "get_lookup", get_lookup_after_a_confirm)
    at = placed + timedelta(hours=1)
    cancel = Envelope(
        merchant_id="demo",
        adapter="generic",
        delivery_id="race-clock-cancel",
        received_at=at,
        change=change(
            no,
            "cancelled",
            marketplace="racemart",
            method="marketplace",
            placed_at=placed,
            updated_at=at,
            cancelled_at=at,
        ),
    )
    assert ingest.process(cancel.model_dump_json()) == "applied"
    monkeypatch.undo()
    assert confirmed["resp"].json["results"][0]["ok"]
    confirm_version = confirmed["resp"].json["results"][0]["version"]
    final = api.get(f"/orders/{oid}").json
    assert (final["status"], final["version"], confirm_version) == ("cancelled", 2, 1)
    assert [h["action"] for h in final["history"]] == ["created", "confirmed", "cancelled"]
    confirm_entry = next(h for h in final["history"] if h["action"] == "confirmed")
    assert final["updated_at"] >= confirm_entry["at"]
