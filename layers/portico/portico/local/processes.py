"""Processes the local container platform starts (hosted servers, builds), owned by the local runtime.

They outlive the Lambda invocation that started them and die with Portico: the runtime stops them all
on shutdown, and each is started with a parent-death signal. That signal (Linux PR_SET_PDEATHSIG)
fires when the *thread* that forked the child exits, so every process is forked by one long-lived
spawner thread owned by this registry, never by a short-lived request thread.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from portico.errors import ConfigurationError
from portico.local.aws import die_with_parent
from portico.observability import logger


@dataclass
class Managed:
    """One running (or finished) process and where its output goes."""

    key: str
    process: subprocess.Popen[bytes]
    port: int | None
    log_group: str
    log_stream: str
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    started: float = field(default_factory=time.time)

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> int | None:
        return self.process.poll()


@dataclass
class Build:
    phase: str = "pending"
    message: str = ""
    image: str | None = None


class ProcessRegistry:
    def __init__(self) -> None:
        self._items: dict[str, Managed] = {}
        self._builds: dict[str, Build] = {}
        self._lock = threading.Lock()
        self._jobs: queue.Queue[tuple[Callable[[], Any], Future[Any]] | None] = queue.Queue()
        self._spawner = threading.Thread(target=self._spawn_loop, name="local-platform-spawner", daemon=True)
        self._spawner.start()

    # ------------------------------------------------------------ spawning on the long-lived thread
    def _spawn_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            work, future = job
            try:
                future.set_result(work())
            except BaseException as exc:
                future.set_exception(exc)

    def _on_spawner(self, work: Callable[[], Any]) -> Any:
        future: Future[Any] = Future()
        self._jobs.put((work, future))
        return future.result(timeout=60)

    def popen(self, argv: list[str], env: dict[str, str], cwd: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        """Fork ``argv`` on the spawner thread: its own session, killed if Portico dies."""
        return self._on_spawner(  # type: ignore[no-any-return]
            lambda: subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,
                **kwargs,
            )
        )

    def start(
        self,
        key: str,
        argv: list[str],
        env: dict[str, str],
        cwd: str,
        port: int | None,
        log_group: str,
        log_stream: str,
    ) -> Managed:
        """(Re)start the process for ``key``; its output (stdout and stderr) goes to CloudWatch Logs."""
        self.stop(key)
        process = self.popen(argv, env, cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        managed = Managed(key, process, port, log_group, log_stream)
        with self._lock:
            self._items[key] = managed
        threading.Thread(target=self._pump, args=(managed,), name=f"logs-{key}", daemon=True).start()
        return managed

    def get(self, key: str) -> Managed | None:
        with self._lock:
            return self._items.get(key)

    def stop(self, key: str) -> None:
        with self._lock:
            managed = self._items.pop(key, None)
        if managed is not None:
            terminate(managed.process)

    def stop_all(self) -> None:
        with self._lock:
            items = list(self._items.values())
            self._items.clear()
        for managed in items:
            terminate(managed.process)
        self._jobs.put(None)

    def pids(self) -> list[int]:
        with self._lock:
            return [m.pid for m in self._items.values() if m.exited() is None]

    # ------------------------------------------------------------ builds
    def build(self, build_id: str, work: Callable[[Build], None]) -> None:
        """Run ``work`` in the background; it reports through the ``Build`` it is given."""
        state = Build()
        with self._lock:
            self._builds[build_id] = state

        def run() -> None:
            try:
                work(state)
            except Exception as exc:  # a build's failure is its result
                state.phase, state.message = "failed", f"build failed: {exc}"[:4000]

        threading.Thread(target=run, name=f"build-{build_id}", daemon=True).start()

    def build_state(self, build_id: str) -> Build | None:
        with self._lock:
            return self._builds.get(build_id)

    # ------------------------------------------------------------ output → CloudWatch Logs
    def _pump(self, managed: Managed) -> None:
        from portico.repositories.logs import LogStore

        store = LogStore(managed.log_group) if managed.log_group else None
        stream = managed.process.stdout
        assert stream is not None
        pending: list[str] = []
        last_flush = time.monotonic()

        def flush() -> None:
            nonlocal pending, last_flush
            if pending and store is not None:
                try:
                    store.write(managed.log_stream, pending)
                except Exception:  # moto gone at shutdown, say: output is best effort
                    logger.debug("hosted server output not stored", key=managed.key)
            pending, last_flush = [], time.monotonic()

        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not line:
                continue
            managed.tail.append(line)
            pending.append(line)
            if len(pending) >= 50 or time.monotonic() - last_flush > 0.2:
                flush()
        flush()


def terminate(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


_registry: ProcessRegistry | None = None


def install(registry: ProcessRegistry | None) -> None:
    """The runtime hands its registry to the local platform (one per running Portico)."""
    global _registry
    _registry = registry


def registry() -> ProcessRegistry:
    """Raises:
    ConfigurationError: no local runtime is running in this process.
    """
    if _registry is None:
        raise ConfigurationError("the local platform needs the local runtime (portico dev)")
    return _registry
