"""Every process-wide cache, cleared together.

A warm Lambda keeps clients, settings, profiles and mappings between invocations. A process that
runs more than one app (the local cloud, the tests) must start each app from nothing: each module
that caches registers its clear function here when it is imported, and `reset()` clears them all.
Nothing here imports the modules that register, so any module may use it."""

from __future__ import annotations

from collections.abc import Callable

_CLEARS: list[Callable[[], None]] = []


def register(clear: Callable[[], None]) -> Callable[[], None]:
    """Have `reset()` call `clear` (once, however often a module registers it); returns `clear`."""
    if clear not in _CLEARS:
        _CLEARS.append(clear)
    return clear


def reset() -> None:
    """Clear every registered cache (the modules not imported yet have nothing cached)."""
    for clear in list(_CLEARS):
        clear()
