"""POST /webhooks/{marketplace}/{merchant_id}: verify, validate, enqueue, answer fast."""

from __future__ import annotations

import base64
import gc

from aws_lambda_powertools import Logger

from orderhub.kernel import clock
from orderhub.kernel.errors import OrderhubError
from orderhub.kernel.http import error_response, internal_error, response
from orderhub.webhooks import ingest

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    params = event.get("pathParameters") or {}
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
    logger.append_keys(marketplace=params.get("marketplace"), merchant_id=params.get("merchant_id"))
    try:
        result = ingest.receive(
            params.get("marketplace", ""),
            params.get("merchant_id", ""),
            event.get("headers") or {},
            body,
            clock.now(),
        )
    except OrderhubError as exc:
        logger.info("webhook refused", extra={"status": exc.status, "code": exc.code, "field": exc.field})
        return error_response(exc)
    except Exception:
        logger.exception("webhook receive failed")
        return internal_error(getattr(context, "aws_request_id", None))
    return response(200, result)


# What the cold start loaded lives as long as the process: frozen out of the garbage collector's
# full collections, one of which the first request's imports (pydantic and the models) would
# otherwise spend 15-30 ms walking it in (docs/architecture.md, "Cold start").
gc.freeze()
