"""The merchant's shipment list, its pure parts (docs/fulfillment.md, "Shipment list"): which
orders the by_merchant_stage index holds and under which stage, the stage counters' deltas, the
query string and the Query it plans, and the row a shipment shows."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from orderhub.domain.status import SHIPMENT_LIST_STAGES, STAGES, STATUSES
from orderhub.fulfillment import shipments
from orderhub.kernel.errors import ValidationFailed
from orderhub.store import db, keys
from tests.unit.test_list_plan import key_values

TOKYO = ZoneInfo("Asia/Tokyo")
REQUESTED_AT = "2026-11-25T01:00:00.000Z"


def order(stage: str = "requested", status: str = "processing", **over) -> dict:
    base = {
        "merchant_id": "demo",
        "order_id": "ord_1",
        "marketplace": "rakuten",
        "marketplace_order_no": "R-1",
        "packing_no": "PK1",
        "status": status,
        "shipment_stage": stage,
        "shipment_requested_at": REQUESTED_AT,
        "placed_at": "2026-11-24T01:00:00.000Z",
        "updated_at": "2026-11-25T02:00:00.000Z",
        "recipient": {"name": "山田 太郎", "address1": "神南1-2-3"},
        "items": [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1}],
    }
    return {**base, **over}


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("status", STATUSES)
def test_the_index_holds_every_listed_stage_of_an_order_that_is_not_deleted(stage, status):
    attrs = db.index_attrs(order(stage, status))
    if stage in SHIPMENT_LIST_STAGES and status != "deleted":
        assert attrs["ship_pk"] == "demo#" + stage == keys.merchant_stage_pk("demo", stage)
        assert attrs["ship_sk"] == keys.time_sk(REQUESTED_AT, "ord_1")
        assert (attrs["ship_name"], attrs["ship_lines"], attrs["ship_units"]) == ("山田 太郎", 2, 3)
    else:
        assert not {k for k in attrs if k.startswith("ship_")}
    assert set(attrs) <= set(db.INDEX_ATTRS)  # never shown by the API nor published


def test_withdrawn_and_shipped_stay_listed_after_the_order_ends():
    """A cancelled order whose shipment was withdrawn (出荷取消) and a closed (returned) order
    that shipped are listed; a request deleted by a cancel before picking is not."""
    assert db.shipment_list_stage(order("withdrawn", "cancelled")) == "withdrawn"
    assert db.shipment_list_stage(order("shipped", "closed")) == "shipped"
    assert db.shipment_list_stage(order("deleted", "cancelled")) is None
    assert db.shipment_list_stage(None) is None


def test_the_merchant_id_and_stage_stay_in_their_segments():
    assert keys.merchant_stage_pk("demo#picking", "x") != keys.merchant_stage_pk("demo", "picking#x")
    assert keys.merchant_stage_pk("demo#x", "shipped") == "demo%23x#shipped"


def test_stage_counters_follow_a_walk_and_a_withdrawal():
    walk = [
        order("none", "new"),
        order("none"),
        order("requested"),
        order("picking"),
        order("picked"),
        order("packed"),
        order("shipped", "shipped"),
    ]
    totals: dict[str, int] = {}
    for old, new in zip([None, *walk], walk, strict=False):
        for k, d in db.stage_deltas(old, new).items():
            totals[k] = totals.get(k, 0) + d
        listed = db.shipment_list_stage(new)
        assert {k: v for k, v in totals.items() if v} == ({f"stage:{listed}": 1} if listed else {})
    assert db.stage_deltas(order("picked"), order("withdrawn", "cancelled")) == {
        "stage:picked": -1,
        "stage:withdrawn": 1,
    }
    assert db.stage_deltas(order("requested"), order("deleted", "cancelled")) == {"stage:requested": -1}
    assert db.stage_deltas(order("picking"), order("picking", "on_hold")) == {}
    assert db.stage_deltas(order("shipped", "shipped"), order("none")) == {"stage:shipped": -1}  # re-release


def test_parse_defaults_to_requested_and_keeps_paging_for_the_pager():
    params, rest = shipments.parse({"page_size": "25", "cursor": "c"})
    assert params == shipments.ShipmentParams(stage="requested") and rest == {
        "page_size": "25",
        "cursor": "c",
    }
    params, _ = shipments.parse(
        {"stage": "withdrawn", "from": "2026-11-01", "q": "PK1", "marketplace": "qoo10"}
    )
    assert (params.stage, params.from_, params.q, params.marketplace) == (
        "withdrawn",
        "2026-11-01",
        "PK1",
        "qoo10",
    )


@pytest.mark.parametrize(
    ("qs", "field"),
    [
        ({"stage": "deleted"}, "stage"),
        ({"stage": "Shipped"}, "stage"),
        ({"from": "2026/11/01"}, "from"),
        ({"to": "1999-01-01"}, "to"),
        ({"q": ""}, "q"),
        ({"marketplace": "a b"}, "marketplace"),
        ({"status": "new"}, "status"),
    ],
)
def test_parse_refuses_naming_the_field(qs, field):
    with pytest.raises(ValidationFailed) as exc:
        shipments.parse(qs)
    assert exc.value.field == field


def test_plan_reads_one_stage_of_one_merchant_newest_first():
    params, _ = shipments.parse(
        {"stage": "packed", "marketplace": "shopify", "from": "2026-11-25", "to": "2026-11-25"}
    )
    q = shipments.plan("demo", params, TOKYO)
    assert q["IndexName"] == keys.BY_MERCHANT_STAGE and q["ScanIndexForward"] is False
    assert key_values(q["KeyConditionExpression"]) == [
        ("ship_pk", "=", ("demo#packed",)),
        ("ship_sk", "BETWEEN", ("2026-11-24T15:00:00.000Z", "2026-11-25T14:59:59.999Z#~")),
    ]
    assert key_values(q["FilterExpression"]) == [("marketplace", "=", ("shopify",))]
    with pytest.raises(ValidationFailed) as exc:
        shipments.plan("demo", shipments.parse({"from": "2026-11-26", "to": "2026-11-25"})[0], TOKYO)
    assert exc.value.field == "from"


def test_rows_show_the_stage_time_tracking_and_withdrawal_where_recorded():
    def row(o):
        return shipments.row({**o, **db.index_attrs(o)})

    r = row(order("requested"))
    assert (r["packing_no"], r["stage"], r["requested_at"], r["stage_at"]) == (
        "PK1",
        "requested",
        REQUESTED_AT,
        REQUESTED_AT,
    )
    assert (r["recipient_name"], r["item_lines"], r["item_quantity"]) == ("山田 太郎", 2, 3)
    assert row(order("picking"))["stage_at"] is None  # the history has the warehouse's report
    tracking = {
        "carrier": "yamato",
        "tracking_number": "444455556666",
        "shipped_at": "2026-11-26T00:00:00.000Z",
    }
    r = row(order("shipped", "shipped", tracking=tracking))
    assert r["tracking"] == {"carrier": "yamato", "tracking_number": "444455556666"}
    assert r["stage_at"] == tracking["shipped_at"]
    pending = {
        "requested_at": "2026-11-25T03:00:00.000Z",
        "by": "marketplace",
        "delivery_id": "d1",
        "claim": "v3",
    }
    r = row(order("picked", withdrawal=pending))
    assert r["withdrawal"] == {
        "state": "requested",
        "requested_at": pending["requested_at"],
        "by": "marketplace",
        "reason": None,
        "withdrawn_at": None,
    }
    done = row(
        order(
            "withdrawn",
            "cancelled",
            withdrawal={**pending, "answer": "accepted"},
            cancelled_at="2026-11-25T04:00:00.000Z",
        )
    )
    assert (
        done["withdrawal"]["state"] == "withdrawn" and done["withdrawal"]["withdrawn_at"] == done["stage_at"]
    )
    assert done["tracking"] is None
