"""Environment variables as a model: read once, validated, typed."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field


class Settings(BaseModel):
    table_name: str = Field(min_length=1)
    event_bus_name: str = ""
    ingest_queue_url: str = ""
    jobs_queue_url: str = ""


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings(
        table_name=os.environ.get("TABLE_NAME", ""),
        event_bus_name=os.environ.get("EVENT_BUS_NAME", ""),
        ingest_queue_url=os.environ.get("INGEST_QUEUE_URL", ""),
        jobs_queue_url=os.environ.get("JOBS_QUEUE_URL", ""),
    )
