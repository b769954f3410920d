"""Merchant routes on item mappings (marketplace SKU -> merchant item code)."""

from __future__ import annotations

from orderhub.api import request
from orderhub.api.common import json_response
from orderhub.api.routing import Router
from orderhub.jobs import runner
from orderhub.orders import list_params, mappings

router = Router()


@router.get("/item-mappings")
def list_mappings():
    """List item mappings (marketplace SKU -> merchant item code). Query: marketplace, page_size, cursor."""
    return json_response(200, mappings.list_page(request.merchant_id(), request.query()))


@router.put("/item-mappings")
def put_mappings():
    """Create, change or remove item mappings. Body: {mappings: [{marketplace|*, sku, item_code|null}]} (at
    most 500).
    """
    b = request.body({"mappings"}, required=True)
    return json_response(200, mappings.put(request.merchant_id(), b.get("mappings")))


@router.post("/item-mappings/apply")
def apply_mappings():
    """Apply the item mapping table to every order a filter shows, as a background job. Body: {filter}."""
    b = request.body({"filter"})
    flt = list_params.filter_params(b.get("filter") or {})  # a bad filter is a 400 now, not a failed job
    return json_response(202, runner.create(request.merchant_id(), "apply_mappings", {"filter": flt}))
