"""Environment variables as a model: read once, checked, typed.

A plain frozen dataclass rather than a pydantic model: every function imports this module,
and handlers that never parse a payload should not pay pydantic's import time on a cold start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from orderhub.kernel import caches


@dataclass(frozen=True)
class Settings:
    table_name: str
    event_bus_name: str = ""
    ingest_queue_url: str = ""
    jobs_queue_url: str = ""
    digest_topic_arn: str = ""

    def __post_init__(self) -> None:
        if not self.table_name:
            raise ValueError("TABLE_NAME is not set")


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings(
        table_name=os.environ.get("TABLE_NAME", ""),
        event_bus_name=os.environ.get("EVENT_BUS_NAME", ""),
        ingest_queue_url=os.environ.get("INGEST_QUEUE_URL", ""),
        jobs_queue_url=os.environ.get("JOBS_QUEUE_URL", ""),
        digest_topic_arn=os.environ.get("DIGEST_TOPIC_ARN", ""),
    )


caches.register(settings.cache_clear)
