"""boto3 clients and resources, created once per process and reused across invocations."""

from __future__ import annotations

from functools import cache

import boto3

from orderhub.kernel import caches


@cache
def client(service: str):
    return boto3.client(service)


@cache
def table(name: str):
    return boto3.resource("dynamodb").Table(name)


def reset() -> None:
    """Forget cached clients (tests that switch endpoints or moto contexts call this)."""
    client.cache_clear()
    table.cache_clear()


caches.register(reset)
