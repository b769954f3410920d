"""Scheduled: release orders whose payment hold has ended."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from orderhub.kernel import correlation
from orderhub.schedules import sweeps

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    correlation.begin(context=context)  # one per run
    return sweeps.hold_sweep()
