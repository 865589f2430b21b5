"""Run Lambda handlers in-process, one invocation at a time per function (as one warm instance would)."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from portico.local.template import Function


@dataclass
class LambdaContext:
    """The attributes handlers and powertools read from a Lambda context."""

    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""
    aws_request_id: str = ""
    log_group_name: str = ""
    log_stream_name: str = "local"
    deadline_ms: float = 0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.deadline_ms - time.time() * 1000))


class _Instance:
    """One warm execution environment: its own copy of the function module."""

    def __init__(self, module: ModuleType, attribute: str) -> None:
        self.handler = getattr(module, attribute)


class LocalLambda:
    """A function with up to ``max_concurrency`` warm instances, each serving one invocation at a time.

    Each instance loads its own copy of the handler module (its own resolver and module state), as
    separate Lambda execution environments would; the shared layer is imported once per process.
    """

    def __init__(self, root: Path, function: Function, max_concurrency: int = 10) -> None:
        self.function = function
        self.path = root / function.code_uri / (function.handler.rsplit(".", 1)[0] + ".py")
        self.attribute = function.handler.rsplit(".", 1)[1]
        self.max_concurrency = max_concurrency
        self._idle: list[_Instance] = []
        self._count = 0
        self._available = threading.Condition()

    def _new_instance(self, number: int) -> _Instance:
        package = Path(self.function.code_uri.rstrip("/")).name
        name = f"functions.{package}.app"
        if number > 1:
            name = f"{name}__instance{number}"
        existing = sys.modules.get(name)
        if number == 1 and existing is not None and getattr(existing, "__file__", None) == str(self.path):
            return _Instance(existing, self.attribute)  # already imported (by a test, say): that is instance 1
        spec = importlib.util.spec_from_file_location(name, self.path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return _Instance(module, self.attribute)

    def _acquire(self) -> _Instance:
        with self._available:
            while True:
                if self._idle:
                    return self._idle.pop()
                if self._count < self.max_concurrency:
                    self._count += 1
                    number = self._count
                    break
                self._available.wait()
        try:
            return self._new_instance(number)
        except BaseException:
            with self._available:
                self._count -= 1
                self._available.notify()
            raise

    def _release(self, instance: _Instance) -> None:
        with self._available:
            self._idle.append(instance)
            self._available.notify()

    def invoke(self, event: dict[str, Any]) -> Any:
        instance = self._acquire()
        try:
            context = LambdaContext(
                function_name=self.function.logical_id,
                invoked_function_arn=f"arn:aws:lambda:local:123456789012:function:{self.function.logical_id}",
                aws_request_id=event.get("requestContext", {}).get("requestId") or str(uuid.uuid4()),
                log_group_name=f"/aws/lambda/{self.function.logical_id}",
                deadline_ms=time.time() * 1000 + self.function.timeout * 1000,
            )
            return instance.handler(event, context)
        finally:
            self._release(instance)


class Lambdas:
    """Every function of the template, instantiated lazily on demand."""

    def __init__(self, root: Path, functions: dict[str, Function], max_concurrency: int = 10) -> None:
        self.functions = {name: LocalLambda(root, f, max_concurrency) for name, f in functions.items()}

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        return self.functions[logical_id].invoke(event)
