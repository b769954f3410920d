"""Scheduled: read the orders changed at the marketplaces that are pulled, and queue them
(docs/pull.md)."""

from __future__ import annotations

from orderhub.kernel import coldstart

# The cold start's imports, without the garbage collector; then frozen out of its full collections
# (kernel/coldstart.py, docs/architecture.md "Cold start").
with coldstart.loading():
    from aws_lambda_powertools import Logger

    from orderhub.kernel import correlation
    from orderhub.pull import service

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    correlation.begin(context=context)  # one per run
    time_left = getattr(context, "get_remaining_time_in_millis", None)
    return service.run(time_left=(lambda: time_left() / 1000) if time_left else None)
