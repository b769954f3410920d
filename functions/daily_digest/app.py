"""Scheduled (daily, 09:00 Asia/Tokyo): each merchant with unfulfilled orders gets one digest."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from orderhub.kernel import correlation
from orderhub.schedules import digest

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    correlation.begin(context=context)  # one per run
    return digest.daily_digest()
