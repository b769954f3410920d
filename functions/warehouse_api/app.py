"""The warehouse HTTP API: shipment requests by stage, stage reports. Its own credential."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from orderhub import warehouse
from orderhub.errors import Forbidden, OrderhubError, ValidationFailed
from orderhub.http import dumps

logger = Logger()
app = APIGatewayHttpResolver()


def _json(status: int, body) -> Response:
    return Response(status_code=status, content_type="application/json", body=dumps(body))


def _require_warehouse() -> None:
    ctx = app.current_event.raw_event.get("requestContext") or {}
    claims = ((ctx.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    if claims.get("role") != "warehouse":
        raise Forbidden("this route needs the warehouse credential", field="Authorization")


def _body() -> dict:
    try:
        body = app.current_event.json_body
    except ValueError:
        raise ValidationFailed("the body must be JSON", field="body") from None
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object", field="body")
    return body


@app.get("/warehouse/shipments")
def list_shipments():
    """Shipment requests at a stage (default requested), oldest first. Query: stage, page_size, cursor."""
    _require_warehouse()
    return _json(200, warehouse.list_shipments(app.current_event.query_string_parameters or {}))


@app.post("/warehouse/shipments/<packing_no>/stage")
def report_stage(packing_no: str):
    """Report a shipment's stage: picking, picked, packed, or shipped (with carrier and tracking_number).
    Stages only move forward.
    """
    _require_warehouse()
    return _json(200, warehouse.report_stage(packing_no, _body()))


@app.post("/warehouse/requests/<request_id>")
def answer_request(request_id: str):
    """Answer a paid cancellation request: {"decision": "accepted"|"rejected", "reason"?}. The waiting
    cancel flow resumes (accepted: the shipment is withdrawn and the order cancelled).
    """
    from orderhub import sync_flows

    _require_warehouse()
    b = _body()
    unknown = sorted(set(b) - {"decision", "reason"})
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0]!r}", field=unknown[0])
    return _json(200, sync_flows.answer(request_id, b.get("decision"), b.get("reason")))


@app.exception_handler(OrderhubError)
def handle_domain_error(exc: OrderhubError):
    logger.info("request refused", extra={"code": exc.code, "field": exc.field, "status": exc.status})
    return _json(exc.status, exc.to_body())


@app.exception_handler(Exception)
def handle_unexpected(exc: Exception):
    logger.exception("request failed")
    body = {"error": {"code": "internal_error", "message": "unexpected error"}}
    return _json(500, body)


@app.not_found
def not_found(_exc):
    return _json(404, {"error": {"code": "not_found", "message": "no such route"}})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    return app.resolve(event, context)
