"""A handler module's imports (a Lambda cold start) without the cyclic garbage collector.

What a cold start imports lives as long as the process, so a collection during it finds almost
nothing to free (about 600 objects of the ~36,000 a handler's import makes) and costs that
import ~15 ms (about 90 young-generation collections). A handler module imports inside
`with coldstart.loading():`, which turns the collector off for the block and, when the block
ends, freezes what was loaded out of every later collection (gc.freeze) and turns the collector
back on: a first request then imports pydantic and its models without a full collection
walking the cold start. An import that fails turns the collector back on without freezing.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def loading() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        if enabled:
            gc.enable()
