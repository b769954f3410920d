"""The warehouse's side (docs/orders.md, Warehouse stages): shipment requests by stage across
merchants, stage reports addressed by packing number."""

from __future__ import annotations

from boto3.dynamodb.conditions import Key

from orderhub.domain import actions
from orderhub.domain import status as st
from orderhub.kernel import aws
from orderhub.kernel.config import settings
from orderhub.kernel.errors import Conflict, NotFound, ValidationFailed
from orderhub.orders import lifecycle
from orderhub.store import db, keys
from orderhub.store.paging import sharded_page

# What a by_stage cursor keeps of an item (the table's key and the index's).
STAGE_KEY = ("pk", "sk", "stage_pk", "stage_sk")


class PackingRetired(Conflict):
    code = "packing_no_retired"


def shipment_view(order: dict) -> dict:
    return {
        "packing_no": order["packing_no"],
        "merchant_id": order["merchant_id"],
        "order_id": order["order_id"],
        "marketplace": order["marketplace"],
        "marketplace_order_no": order["marketplace_order_no"],
        "stage": order.get("shipment_stage"),
        "requested_at": order.get("shipment_requested_at"),
        "items": [
            {
                "item_code": i.get("item_code"),
                "sku": i["sku"],
                "title": i.get("title", ""),
                "quantity": i["quantity"],
            }
            for i in order.get("items", [])
        ],
        "recipient": order.get("recipient"),
        "tracking": order.get("tracking"),
        "withdrawal": order.get("withdrawal"),
        "modification": order.get("modification"),
        "version": order.get("version"),
    }


def list_shipments(query: dict[str, str]) -> dict:
    qs = dict(query)
    stage = qs.pop("stage", "requested")
    if stage not in st.WAREHOUSE_QUEUE_STAGES:
        raise ValidationFailed(f"stage must be one of {', '.join(st.WAREHOUSE_QUEUE_STAGES)}", field="stage")
    # The stage's queue is spread over shards (keys.STAGE_SHARDS, and the unsharded legacy value):
    # a Query per shard, merged oldest request first; the cursor holds every shard's position.
    queries = [
        {"IndexName": keys.BY_STAGE, "KeyConditionExpression": Key("stage_pk").eq(pk)}
        for pk in keys.all_shards(keys.stage_pk(stage), keys.STAGE_SHARDS)
    ]
    items, cursor = sharded_page(queries, "stage_sk", STAGE_KEY, qs, f"stage:{stage}")
    return {"shipments": [shipment_view(db.order_from_item(i)) for i in items], "next_cursor": cursor}


def resolve_packing(packing_no: str) -> dict:
    item = aws.table(settings().table_name).get_item(Key=keys.packing_key(packing_no)).get("Item")
    if not item:
        raise NotFound(f"no shipment with packing number {packing_no}", field="packing_no")
    if item.get("retired"):
        raise PackingRetired(
            f"packing number {packing_no} was retired (the order was relinked)",
            field="packing_no",
            replaced_by=item.get("replaced_by"),
        )
    return item


def report_stage(packing_no: str, body: dict) -> dict:
    unknown = set(body) - {"stage", "carrier", "tracking_number", "version"}
    if unknown:
        raise ValidationFailed(f"unknown field {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    from orderhub.fulfillment import shipping

    ref = resolve_packing(packing_no)
    new, _ = lifecycle.apply(
        ref["merchant_id"],
        ref["order_id"],
        lambda o, now: actions.warehouse_stage(
            o, body.get("stage"), body.get("carrier"), body.get("tracking_number"), now
        ),
        actor="warehouse",
        expected_version=body.get("version"),
        extra_ops=shipping.claim_ops,
    )
    if body.get("stage") == "shipped":
        new = shipping.reflect(new)  # the marketplace learns the parcel left (docs/fulfillment.md)
    return shipment_view(new) | {"order_status": new["status"]}
