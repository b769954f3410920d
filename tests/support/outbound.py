"""Let the marketplace client call a fake marketplace started in this process (tests on moto,
without the local cloud): name its exact origin in OUTBOUND_ALLOWED_ORIGINS, as the local cloud
does for its own (docs/sync-flows.md, "Outbound URLs"). Without it the client refuses the fake's
http://127.0.0.1 URL, as it would on AWS."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from orderhub.kernel import config


@contextlib.contextmanager
def allowing(*origins: str) -> Iterator[None]:
    """`with FakeMarketplace() as fake, allowing(fake.url): ...`"""
    saved = os.environ.get(config.OUTBOUND_ALLOWED_ORIGINS)
    os.environ[config.OUTBOUND_ALLOWED_ORIGINS] = ",".join(origins)
    config.outbound_allowed_origins.cache_clear()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(config.OUTBOUND_ALLOWED_ORIGINS, None)
        else:
            os.environ[config.OUTBOUND_ALLOWED_ORIGINS] = saved
        config.outbound_allowed_origins.cache_clear()
