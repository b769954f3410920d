"""POST /webhooks/{marketplace}/{merchant_id}: verify, validate, enqueue, answer fast."""

from __future__ import annotations

from orderhub.kernel import coldstart

# The cold start's imports, without the garbage collector; then frozen out of its full collections
# (kernel/coldstart.py, docs/architecture.md "Cold start").
with coldstart.loading():
    import base64
    import time

    from aws_lambda_powertools import Logger

    from orderhub.kernel import clock, correlation
    from orderhub.kernel.errors import OrderhubError
    from orderhub.kernel.http import error_response, internal_error, response
    from orderhub.webhooks import receiver


logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    started = time.monotonic()
    params = event.get("pathParameters") or {}
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
    correlation.begin(  # one per delivery: the answer names it (X-Correlation-Id)
        context=context, marketplace=params.get("marketplace"), merchant_id=params.get("merchant_id")
    )
    try:
        result = receiver.receive(
            params.get("marketplace", ""),
            params.get("merchant_id", ""),
            event.get("headers") or {},
            body,
            clock.now(),
        )
    except OrderhubError as exc:
        logger.info(
            "webhook refused",
            extra={"status": exc.status, "code": exc.code, "field": exc.field, "duration_ms": _ms(started)},
        )
        return correlation.with_header(error_response(exc))
    except Exception:
        logger.exception("webhook receive failed")
        return correlation.with_header(internal_error(getattr(context, "aws_request_id", None)))
    logger.info(
        "webhook queued",
        extra={**{k: result.get(k) for k in ("delivery_id", "topic", "queued")}, "duration_ms": _ms(started)},
    )
    return correlation.with_header(response(200, result))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
