"""The warehouse HTTP API: shipment requests by stage, stage reports, answers to paid requests.
Its own resolver and its own credential (functions/warehouse_api/app.py resolves this app)."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from orderhub.api import routing
from orderhub.api.common import claims, install_error_handlers, json_body
from orderhub.api.common import json_response as _json
from orderhub.api.request import MERCHANT_CLAIMS
from orderhub.api.routing import App
from orderhub.fulfillment import warehouse
from orderhub.kernel.errors import Forbidden

logger = Logger(child=True)
app = App()
install_error_handlers(app, logger)


def _require_warehouse() -> None:
    held = claims(routing.current())  # role, or custom:role in an ID token of the stack's user pool
    if (held.get("role") or held.get("custom:role")) != "warehouse":
        raise Forbidden("this route needs the warehouse credential", field="Authorization")
    if any(held.get(name) for name in MERCHANT_CLAIMS):  # a merchant's user is never the warehouse
        raise Forbidden("a token that names a merchant is not the warehouse's", field="Authorization")


@app.get("/warehouse/shipments")
def list_shipments():
    """Shipment requests at a stage (default requested), oldest first. Query: stage, page_size, cursor."""
    _require_warehouse()
    return _json(200, warehouse.list_shipments(routing.current().query_string_parameters or {}))


@app.post("/warehouse/shipments/<packing_no>/stage")
def report_stage(packing_no: str):
    """Report a shipment's stage: picking, picked, packed, or shipped (with carrier and tracking_number).
    Stages only move forward.
    """
    _require_warehouse()
    return _json(200, warehouse.report_stage(packing_no, json_body(routing.current(), required=True)))


@app.post("/warehouse/requests/<request_id>")
def answer_request(request_id: str):
    """Answer a paid cancellation request: {"decision": "accepted"|"rejected", "reason"?}. The waiting
    cancel flow resumes (accepted: the shipment is withdrawn and the order cancelled).
    """
    from orderhub.sync import flows  # the flows' machinery (~12 ms): kept off the cold start

    _require_warehouse()
    b = json_body(routing.current(), {"decision", "reason"}, required=True)
    return _json(200, flows.answer(request_id, b.get("decision"), b.get("reason")))


@app.post("/warehouse/requests/<request_id>/heartbeat")
def request_heartbeat(request_id: str):
    """Say the warehouse is still working on a request (needed when the integration sets
    warehouse_heartbeat_seconds: a request without a heartbeat for that long times out).
    """
    from orderhub.sync import flows  # the flows' machinery (~12 ms): kept off the cold start

    _require_warehouse()
    return _json(200, flows.heartbeat(request_id))
