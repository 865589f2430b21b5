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


class LocalLambda:
    def __init__(self, root: Path, function: Function) -> None:
        self.function = function
        self.path = root / function.code_uri / (function.handler.rsplit(".", 1)[0] + ".py")
        self.attribute = function.handler.rsplit(".", 1)[1]
        self._module: ModuleType | None = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._module is None:
            package = Path(self.function.code_uri.rstrip("/")).name
            name = f"functions.{package}.app"
            spec = importlib.util.spec_from_file_location(name, self.path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            self._module = module
        return getattr(self._module, self.attribute)

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._lock:
            handler = self._load()
            context = LambdaContext(
                function_name=self.function.logical_id,
                invoked_function_arn=f"arn:aws:lambda:local:123456789012:function:{self.function.logical_id}",
                aws_request_id=str(uuid.uuid4()),
                log_group_name=f"/aws/lambda/{self.function.logical_id}",
                deadline_ms=time.time() * 1000 + self.function.timeout * 1000,
            )
            return handler(event, context)


class Lambdas:
    """Every function of the template, loaded lazily on first invocation."""

    def __init__(self, root: Path, functions: dict[str, Function]) -> None:
        self.functions = {name: LocalLambda(root, f) for name, f in functions.items()}

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        return self.functions[logical_id].invoke(event)
