"""Environment variables as a model: read once, checked, typed. The only module that reads
os.environ; a handler that needs a variable only some functions get says so at cold start with
`require` (template.yaml gives each function its variables).

A plain frozen dataclass rather than a pydantic model: every function imports this module,
and handlers that never parse a payload should not pay pydantic's import time on a cold start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import lru_cache

from orderhub.kernel import caches

# Settings field -> the environment variable it is read from.
VARIABLES = {
    "table_name": "TABLE_NAME",
    "event_bus_name": "EVENT_BUS_NAME",
    "ingest_queue_url": "INGEST_QUEUE_URL",
    "jobs_queue_url": "JOBS_QUEUE_URL",
    "digest_topic_arn": "DIGEST_TOPIC_ARN",
    "cancel_state_machine_arn": "CANCEL_STATE_MACHINE_ARN",
    "modify_state_machine_arn": "MODIFY_STATE_MACHINE_ARN",
    "payload_bucket": "PAYLOAD_BUCKET",
    "secrets_key_arn": "SECRETS_KEY_ARN",
    "cursor_key_arn": "CURSOR_KEY_ARN",
}


class MissingSetting(RuntimeError):
    """A function was deployed without an environment variable it needs."""


@dataclass(frozen=True)
class Settings:
    table_name: str
    event_bus_name: str = ""
    ingest_queue_url: str = ""
    jobs_queue_url: str = ""
    digest_topic_arn: str = ""
    cancel_state_machine_arn: str = ""  # the merchant API and the ingest processor start the cancel flow
    modify_state_machine_arn: str = ""  # the ingest processor starts the modify flow
    payload_bucket: str = ""  # webhook deliveries too big for a queue message (webhooks/payloads.py)
    secrets_key_arn: str = ""  # the KMS key that seals merchants' secrets (merchants/sealed.py)
    cursor_key_arn: str = ""  # the KMS HMAC key list cursors are signed from (store/paging.py)

    def __post_init__(self) -> None:
        if not self.table_name:
            raise ValueError("TABLE_NAME is not set")


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings(**{f.name: os.environ.get(VARIABLES[f.name], "") for f in fields(Settings)})


def require(*names: str, why: str = "") -> Settings:
    """Fail loudly (at a handler's import, i.e. its cold start) when a setting it needs is empty:
    `config.require("cancel_state_machine_arn", why="POST /orders/{id}/cancel starts the cancel flow")`."""
    current = settings()
    missing = [VARIABLES[name] for name in names if not getattr(current, name)]
    if missing:
        raise MissingSetting(
            f"environment variable not set: {', '.join(missing)}" + (f" ({why})" if why else "")
        )
    return current


caches.register(settings.cache_clear)

# Exact `scheme://host:port` origins the marketplace client may call whatever their address and
# over http too (orderhub.domain.outbound, docs/sync-flows.md "Outbound URLs"). Deployed it is
# not set (template.yaml), so nothing is allowed beyond the rule; the local cloud names its fake
# marketplace. Not a Settings field: the client also runs where no table is configured (scripts,
# unit tests), and Settings needs TABLE_NAME.
OUTBOUND_ALLOWED_ORIGINS = "OUTBOUND_ALLOWED_ORIGINS"


@lru_cache(maxsize=1)
def outbound_allowed_origins() -> str:
    return os.environ.get(OUTBOUND_ALLOWED_ORIGINS, "")


caches.register(outbound_allowed_origins.cache_clear)

# Which generation of the order indexes this stack reads (store/keys.py `index`; docs/data-model.md,
# "Migration: index projections"): `slim` (the default, and every new stack) or `whole`, the
# indexes that project the whole order, while an older stack's migration has not reached its
# switch. template.yaml sets it from IndexMigrationStep. Not a Settings field: keys are also
# computed where no table is configured (pure rules, unit tests).
ORDER_INDEXES = "ORDER_INDEXES"
INDEX_GENERATIONS = ("slim", "whole")


def order_indexes() -> str:
    """`slim` or `whole` (read on every call: cheap, and tests switch it)."""
    value = os.environ.get(ORDER_INDEXES) or "slim"
    if value not in INDEX_GENERATIONS:
        raise MissingSetting(f"{ORDER_INDEXES} must be one of {', '.join(INDEX_GENERATIONS)}, not {value!r}")
    return value
