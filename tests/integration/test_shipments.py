"""The merchant's shipment list on moto with the table of template.yaml (docs/fulfillment.md,
"Shipment list"): one stage at a time on the sparse by_merchant_stage index, the stage counts kept
in the order's transaction, filters, paging, another merchant, and the backfill of orders written
before the list existed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orderhub.domain import actions, sync_rules
from orderhub.domain.status import SHIPMENT_LIST_STAGES
from orderhub.fulfillment import shipments
from orderhub.fulfillment.warehouse import report_stage
from orderhub.kernel import aws, clock
from orderhub.kernel.config import settings
from orderhub.kernel.errors import ValidationFailed
from orderhub.orders import lifecycle, registration
from orderhub.store import db, keys
from tests.integration.test_registration import body
from tests.support import counters as support_counters
from tests.support.factories import T0

ZERO = dict.fromkeys(SHIPMENT_LIST_STAGES, 0)
TRACKING = "444455556666"  # a Yamato number


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.freeze(T0)
    yield
    clock.freeze(None)


def apply(merchant: str, order_id: str, action, actor: str = "merchant") -> dict:
    return lifecycle.apply(merchant, order_id, action, actor=actor)[0]


def requested(no: str, merchant: str = "demo", **over) -> dict:
    """A manual order confirmed, its items mapped and its shipment requested (stage requested)."""
    b = body(no, **over)
    b["items"] = [{**i, "item_code": i.get("item_code") or "OWN-" + i["sku"]} for i in b["items"]]
    order = registration.register_manual(merchant, b)
    oid = order["order_id"]
    apply(merchant, oid, lambda o, now: actions.confirm(o, now))
    apply(merchant, oid, lambda o, now: actions.map_items(o, {}))
    return apply(merchant, oid, lambda o, now: actions.ship_request(o, now))


def listed(merchant: str = "demo", **qs) -> dict:
    return shipments.list_page(merchant, {k: str(v) for k, v in qs.items()})


def ids(resp: dict) -> list[str]:
    return [s["order_id"] for s in resp["shipments"]]


def stage_of_list(order_id: str) -> list[str]:
    """The stages whose list shows the order (one at most)."""
    return [s for s in SHIPMENT_LIST_STAGES if order_id in ids(listed(stage=s))]


def test_a_shipment_walks_through_the_stages_with_exact_counts(app_env):
    order = requested("S-1")
    oid, packing = order["order_id"], order["packing_no"]
    resp = listed()  # stage requested by default
    assert resp["stage"] == "requested" and ids(resp) == [oid]
    [row] = resp["shipments"]
    assert row["packing_no"] == packing and row["marketplace_order_no"] == "S-1"
    assert row["marketplace"] == "rakuten" and row["requested_at"] == clock.iso(T0)
    assert row["stage_at"] == clock.iso(T0) and row["recipient_name"] == "山田 太郎"
    assert (row["item_lines"], row["item_quantity"]) == (2, 3)
    assert row["tracking"] is None and row["withdrawal"] is None
    assert resp["counts"] == {**ZERO, "requested": 1}

    for step, stage in enumerate(("picking", "picked", "packed"), start=1):
        clock.freeze(T0 + timedelta(hours=step))
        report_stage(packing, {"stage": stage})
        assert stage_of_list(oid) == [stage]
        assert listed(stage=stage)["counts"] == {**ZERO, stage: 1}
    clock.freeze(T0 + timedelta(hours=4))
    report_stage(packing, {"stage": "shipped", "carrier": "yamato", "tracking_number": TRACKING})
    assert stage_of_list(oid) == ["shipped"]
    [row] = listed(stage="shipped")["shipments"]
    assert row["status"] == "shipped" and row["tracking"] == {
        "carrier": "yamato",
        "tracking_number": TRACKING,
    }
    assert row["stage_at"] == clock.iso(T0 + timedelta(hours=4))
    assert row["requested_at"] == clock.iso(T0)  # the list stays sorted by the request
    assert listed()["counts"] == {**ZERO, "shipped": 1}


def test_a_withdrawn_shipment_is_listed_with_the_withdrawal(app_env):
    order = requested("W-1")
    oid, packing = order["order_id"], order["packing_no"]
    report_stage(packing, {"stage": "picking"})
    clock.freeze(T0 + timedelta(minutes=10))
    apply("demo", oid, lambda o, now: actions.cancel(o, "wrong size", now, accept_fee=True))
    [row] = listed(stage="picking")["shipments"]
    assert row["withdrawal"]["state"] == "requested" and row["withdrawal"]["by"] == "merchant"
    assert row["withdrawal"]["reason"] == "wrong size"
    clock.freeze(T0 + timedelta(minutes=20))
    # the warehouse accepts (sync/flows.py warehouse_accepted)
    apply(
        "demo",
        oid,
        lambda o, now: sync_rules.cancelled(o, now, "seller_cancelled", withdrawn=True),
        "warehouse",
    )
    assert stage_of_list(oid) == ["withdrawn"]
    [row] = listed(stage="withdrawn")["shipments"]
    assert row["status"] == "cancelled" and row["packing_no"] == packing
    assert row["withdrawal"]["state"] == "withdrawn"
    assert row["withdrawal"]["requested_at"] == clock.iso(T0 + timedelta(minutes=10))
    assert row["withdrawal"]["withdrawn_at"] == row["stage_at"] == clock.iso(T0 + timedelta(minutes=20))
    assert listed()["counts"] == {**ZERO, "withdrawn": 1}


def test_a_cancel_before_picking_deletes_the_request_and_leaves_the_list(app_env):
    keep, gone = requested("K-1"), requested("C-1")
    assert listed()["counts"] == {**ZERO, "requested": 2}
    apply("demo", gone["order_id"], lambda o, now: actions.cancel(o, "", now))
    assert ids(listed()) == [keep["order_id"]]
    assert listed()["counts"] == {**ZERO, "requested": 1}
    assert stage_of_list(gone["order_id"]) == []


def test_filters_and_search_by_packing_or_order_number(app_env):
    a = requested("F-1")
    clock.freeze(T0 + timedelta(days=2))
    b = requested("F-2", marketplace="shopify")
    assert ids(listed()) == [b["order_id"], a["order_id"]]  # newest request first
    assert ids(listed(marketplace="shopify")) == [b["order_id"]]
    day_a = clock.iso(T0)[:10]
    assert ids(listed(**{"from": clock.iso(T0 + timedelta(days=1))})) == [b["order_id"]]
    assert ids(listed(to=clock.iso(T0 + timedelta(days=1)))) == [a["order_id"]]
    assert a["order_id"] in ids(listed(**{"from": day_a, "to": day_a}))
    assert ids(listed(q=a["packing_no"])) == [a["order_id"]]
    assert ids(listed(q="F-2")) == [b["order_id"]]
    assert ids(listed(q="F-2", marketplace="rakuten")) == []
    assert ids(listed(q="F-2", stage="picking")) == []  # the search stays in its stage
    assert ids(listed(q="nothing-like-it")) == []
    assert listed(q="F-1")["next_cursor"] is None


@pytest.mark.parametrize(
    ("qs", "field"),
    [
        ({"stage": "deleted"}, "stage"),
        ({"stage": ""}, "stage"),
        ({"stage": "none"}, "stage"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-11-20", "to": "2026-11-10"}, "from"),
        ({"page_size": "10"}, "page_size"),
        ({"page_size": "x"}, "page_size"),
        ({"limit": "10"}, "limit"),
        ({"q": ""}, "q"),
        ({"q": "x" * 101}, "q"),
        ({"marketplace": "Shop#ify"}, "marketplace"),
        ({"cursor": "abc.def"}, "cursor"),
        ({"q": "S-1", "cursor": "abc.def"}, "cursor"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(app_env, qs, field):
    with pytest.raises(ValidationFailed) as exc:
        shipments.list_page("demo", qs)
    assert exc.value.field == field


def test_another_merchant_sees_nothing(app_env):
    order = requested("X-1")
    other = listed("demo2")
    assert other["shipments"] == [] and other["counts"] == ZERO
    assert listed("demo2", q=order["packing_no"])["shipments"] == []
    assert listed("demo2", q="X-1")["shipments"] == []


def _fill(template: dict, n: int) -> list[str]:
    """`n` copies of an order at stage requested, a minute apart (index attributes as written)."""
    table = aws.table(settings().table_name)
    made = []
    for i in range(n):
        oid = f"{template['order_id']}-{i:02d}"
        at = clock.iso(T0 + timedelta(minutes=i + 1))
        order = {**template, "order_id": oid, "packing_no": f"P{i:05d}", "shipment_requested_at": at}
        item = db.order_item(order)
        table.put_item(Item=item)
        made.append(oid)
    return made


def test_paging_with_cursors_bound_to_the_filters(app_env):
    made = _fill(requested("P-1"), 30)
    first = listed(page_size=25)
    assert len(first["shipments"]) == 25 and first["next_cursor"]
    second = listed(page_size=25, cursor=first["next_cursor"])
    assert second["next_cursor"] is None
    seen = ids(first) + ids(second)
    assert len(seen) == 31 and set(made) <= set(seen)
    assert seen[0] == made[-1]  # newest request first
    with pytest.raises(ValidationFailed) as exc:  # another filter, another list
        listed(page_size=25, cursor=first["next_cursor"], marketplace="rakuten")
    assert exc.value.field == "cursor"
    with pytest.raises(ValidationFailed):  # another merchant's list
        listed("demo2", page_size=25, cursor=first["next_cursor"])


def test_backfill_lists_orders_written_before_the_list_and_sets_exact_counts(app_env):
    table = aws.table(settings().table_name)
    picking = requested("B-1")
    report_stage(picking["packing_no"], {"stage": "picking"})
    plain = requested("B-2")
    untouched = registration.register_manual("demo", body("B-3"))
    # as the items were before the shipment list: no attributes, no stage counters
    for o in (picking, plain):
        table.update_item(
            Key=keys.order_key("demo", o["order_id"]),
            UpdateExpression="REMOVE " + ", ".join(db.SHIPMENT_INDEX_ATTRS),
        )
    # and the counters in the one item the code of that time wrote, without stage counters
    legacy = support_counters.as_written_before_shards("demo", drop=lambda name: name.startswith("stage:"))
    assert legacy["all"] == 3
    assert listed()["shipments"] == [] and listed()["counts"] == ZERO

    done = db.backfill_shipment_list("demo")
    assert done == {"orders_rewritten": 2, "counts": {**ZERO, "requested": 1, "picking": 1}}
    assert ids(listed()) == [plain["order_id"]]
    assert ids(listed(stage="picking")) == [picking["order_id"]]
    assert listed()["counts"] == {**ZERO, "requested": 1, "picking": 1}
    assert "ship_pk" not in table.get_item(Key=keys.order_key("demo", untouched["order_id"]))["Item"]
    # the order's own data is as it was: the version did not move
    assert db.get_order("demo", plain["order_id"])["version"] == plain["version"]

    again = db.backfill_shipment_list("demo")  # idempotent
    assert again == {"orders_rewritten": 0, "counts": {**ZERO, "requested": 1, "picking": 1}}
    report_stage(picking["packing_no"], {"stage": "picked"})  # later writes keep the counts exact
    assert listed()["counts"] == {**ZERO, "requested": 1, "picked": 1}
