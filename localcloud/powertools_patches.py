"""Per-thread request state for Powertools' event handler, in the local cloud only.

On Lambda an instance serves one request at a time. The local cloud serves HTTP requests on
threads of one process, and Powertools keeps the request being resolved in class attributes
(`BaseRouter.current_event`, `BaseRouter.lambda_context`) and in each resolver's `context`
dict, so two requests in flight could read each other's event (and claims). This makes those
three per thread, so every request sees only its own, as it would on its own instance:

- `BaseRouter.current_event = ...` (a class attribute write) goes to a data descriptor on a
  metaclass given to BaseRouter, which stores it for the current thread; reads through the
  class or any instance get the current thread's value.
- `context` (an instance attribute) becomes a data descriptor keeping one dict per instance and
  thread.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

_applied = False
_local = threading.local()


class _PerThreadClassAttr:
    """Read and written through the class (metaclass side) or its instances (class side)."""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        try:
            return getattr(_local, self.name)
        except AttributeError:
            raise AttributeError(self.name) from None

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(_local, self.name, value)


class _PerThreadContext:
    """`resolver.context`: one dict per resolver instance and thread."""

    @staticmethod
    def _contexts() -> weakref.WeakKeyDictionary:
        if not hasattr(_local, "contexts"):
            _local.contexts = weakref.WeakKeyDictionary()
        return _local.contexts

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        return self._contexts().setdefault(obj, {})

    def __set__(self, obj: Any, value: Any) -> None:
        self._contexts()[obj] = value


def apply() -> None:
    global _applied
    if _applied:
        return
    from aws_lambda_powertools.event_handler import api_gateway

    base = api_gateway.BaseRouter
    names = ("current_event", "lambda_context")
    for name in names:
        if name in base.__dict__:
            delattr(base, name)
        setattr(base, name, _PerThreadClassAttr(name))  # instance reads: self.current_event
    base.context = _PerThreadContext()
    # Class reads and writes (BaseRouter.current_event = ...) go through the metaclass.
    base.__class__ = type(
        "PerThreadRouterMeta", (type(base),), {name: _PerThreadClassAttr(name) for name in names}
    )
    _applied = True
