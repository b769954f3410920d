"""Scheduled (hourly): overdue unshipped orders are refunded (with the merchant's violation) where the
marketplace refunds by itself, flagged overdue elsewhere."""

from __future__ import annotations

from orderhub.kernel import coldstart

# The cold start's imports, without the garbage collector; then frozen out of its full collections
# (kernel/coldstart.py, docs/architecture.md "Cold start").
with coldstart.loading():
    from aws_lambda_powertools import Logger

    from orderhub.kernel import correlation
    from orderhub.schedules import sweeps

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    correlation.begin(context=context)  # one per run
    return sweeps.deadline_check()
