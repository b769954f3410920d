"""Runs the template's Lambda handlers in this process.

Each function's module is imported lazily, on first use, from its CodeUri under a package
name of its own (`_localcloud<N>_fn_<LogicalId>`), so two functions may both have an `app.py`
and a missing function directory only fails when that function is called.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import threading
import time
import types
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud import iam, limits
from localcloud.intrinsics import function_name_from_arn
from localcloud.template import FunctionDef

log = logging.getLogger("localcloud.functions")

_import_lock = threading.RLock()


class FunctionLoadError(RuntimeError):
    """A function's handler cannot be imported."""


class UnknownFunction(KeyError):
    pass


class PayloadTooLarge(RuntimeError):
    """An invocation's event (`request`) or result (`response`) is over Lambda's 6 MB."""

    def __init__(self, message: str, which: str):
        super().__init__(message)
        self.which = which


class FunctionTimedOut(RuntimeError):
    """The handler ran past the function's Timeout."""


class LambdaContext:
    """The subset of the Lambda context object that handlers and Powertools use."""

    def __init__(self, fn: FunctionDef, request_id: str | None = None):
        self.function_name = fn.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = fn.arn
        self.memory_limit_in_mb = fn.memory_mb
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{fn.name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + fn.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _load_handler(fn: FunctionDef, namespace: str) -> Callable[[Any, Any], Any]:
    code_dir = fn.code_dir
    if not code_dir.is_dir():
        raise FunctionLoadError(f"{fn.logical_id}: CodeUri {code_dir} does not exist")
    module_path, _, attr = fn.handler.rpartition(".")
    if not module_path or not attr:
        raise FunctionLoadError(f"{fn.logical_id}: Handler {fn.handler!r} is not module.function")
    module_path = module_path.replace("/", ".")
    package = f"{namespace}_fn_{fn.logical_id}"

    with _import_lock:
        if package not in sys.modules:
            pkg = types.ModuleType(package)
            pkg.__path__ = [str(code_dir)]
            pkg.__package__ = package
            sys.modules[package] = pkg
        shadowed = _hide_modules_named_like(code_dir)
        before = set(sys.modules)
        sys.path.insert(0, str(code_dir))
        try:
            module = importlib.import_module(f"{package}.{module_path}")
        except Exception as exc:
            raise FunctionLoadError(
                f"{fn.logical_id}: cannot import {fn.handler} from {code_dir}: {exc}"
            ) from exc
        finally:
            sys.path.remove(str(code_dir))
            _adopt_sibling_modules(package, code_dir, set(sys.modules) - before)
            sys.modules.update(shadowed)
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise FunctionLoadError(f"{fn.logical_id}: {fn.handler} is not a function")
    return handler


def _hide_modules_named_like(code_dir: Path) -> dict[str, types.ModuleType]:
    """Take loaded modules out of the way while a handler imports a sibling of the same name."""
    hidden = {}
    for entry in code_dir.iterdir():
        if entry.suffix == ".py":
            name = entry.stem
        elif (entry / "__init__.py").is_file():
            name = entry.name
        else:
            continue
        if name in sys.modules:
            hidden[name] = sys.modules.pop(name)
    return hidden


def _adopt_sibling_modules(package: str, code_dir: Path, new_names: set[str]) -> None:
    """Move modules a handler imported absolutely from its own directory (`import helpers`)
    under the function's package, so another function's `helpers` is not mistaken for it."""
    for name in new_names:
        if name.startswith(package):
            continue
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().is_relative_to(code_dir):
            sys.modules.setdefault(f"{package}.{name}", sys.modules.pop(name))


class Functions:
    """The template's functions by logical id, with lazily loaded handlers."""

    def __init__(
        self,
        defs: dict[str, FunctionDef],
        namespace: str = "_localcloud",
        enforcer: iam.Enforcer | None = None,
    ):
        self.defs = defs
        self.namespace = namespace
        self.enforcer = enforcer  # judges the handlers' AWS calls against their roles (iam.py)
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._by_name = {fn.name: fn for fn in defs.values()}

    def get(self, logical_id: str) -> FunctionDef:
        try:
            return self.defs[logical_id]
        except KeyError:
            raise UnknownFunction(logical_id) from None

    def find(self, name_or_arn: str) -> FunctionDef | None:
        """The function a Lambda name or ARN (as Step Functions passes it) refers to."""
        name = function_name_from_arn(name_or_arn)
        return self._by_name.get(name) or self.defs.get(name)

    def handler(self, logical_id: str) -> Callable[[Any, Any], Any]:
        handler = self._handlers.get(logical_id)
        if handler is None:
            with _import_lock:
                handler = self._handlers.get(logical_id)
                if handler is None:
                    handler = _load_handler(self.get(logical_id), self.namespace)
                    self._handlers[logical_id] = handler
        return handler

    def unload(self) -> None:
        """Forget the imported handler modules (another run may load other code under the same ids)."""
        with _import_lock:
            self._handlers.clear()
            prefix = f"{self.namespace}_fn_"
            for name in [n for n in sys.modules if n.startswith(prefix)]:
                del sys.modules[name]

    def invoke(self, logical_id: str, event: Any, context: LambdaContext | None = None) -> Any:
        """Call the handler like Lambda would: a JSON copy of the event in, a JSON-able result out.

        As Lambda: an event or a result over 6 MB fails the invocation (PayloadTooLarge), and so
        does a handler that runs past the function's Timeout (FunctionTimedOut, once it returns:
        a thread can't be stopped, so its writes up to then stand, as they would on AWS up to
        the moment Lambda stops it). Exceptions are logged with their traceback and re-raised.
        """
        fn = self.get(logical_id)
        handler = self.handler(logical_id)
        ctx = context or LambdaContext(fn)
        text = json.dumps(event)  # ASCII (non-ASCII escaped): its length is its size in bytes
        if len(text) > limits.LAMBDA_SYNC_PAYLOAD_BYTES:
            raise PayloadTooLarge(
                f"{logical_id}: the request payload is over {limits.LAMBDA_SYNC_PAYLOAD_BYTES} bytes",
                "request",
            )
        event = json.loads(text)
        started = time.monotonic()
        try:
            with iam.acting_as(self.enforcer, logical_id):
                result = handler(event, ctx)
        except Exception:
            log.exception("%s failed (request %s)", logical_id, ctx.aws_request_id)
            raise
        elapsed = time.monotonic() - started
        if elapsed > fn.timeout:
            log.error(
                "%s: Task timed out after %.2f seconds (its Timeout is %ss)", logical_id, elapsed, fn.timeout
            )
            raise FunctionTimedOut(f"{logical_id}: Task timed out after {elapsed:.2f} seconds")
        try:
            text = json.dumps(result)
        except (TypeError, ValueError) as exc:
            log.error("%s returned a value Lambda cannot serialize: %s", logical_id, exc)
            raise
        if len(text) > limits.LAMBDA_SYNC_PAYLOAD_BYTES:
            log.error("%s: Response payload size exceeded maximum allowed payload size", logical_id)
            raise PayloadTooLarge(
                f"{logical_id}: Response payload size exceeded maximum allowed payload size "
                f"({limits.LAMBDA_SYNC_PAYLOAD_BYTES} bytes)",
                "response",
            )
        return json.loads(text)
