"""EventBridge publishing off the request's critical path.

Events are buffered and sent in batches of up to 10 (one PutEvents call) by a background thread,
so a tool call never waits on EventBridge. Nothing is dropped silently:
* in Lambda, an internal extension (registered at cold start) holds the execution environment after
  each invocation until the buffer is flushed — the client already has its response by then;
* elsewhere (the local runtime), the thread flushes continuously and ``flush()`` runs at exit;
* the thread lingers up to ``linger`` seconds for a batch to fill (one PutEvents for up to 10 events
  rather than one per event under load), unless a ``flush()`` is waiting;
* failed entries are retried, then logged with their full detail.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from portico.observability import logger
from portico.repositories.aws import client

SOURCE = "portico.gateway"
BATCH = 10  # PutEvents' limit


class EventPublisher:
    def __init__(self, bus: str, background: bool = True, linger: float = 0.05) -> None:
        self.bus = bus
        self.background = background
        self.linger = linger
        self._flushing = threading.Event()
        self._queue: queue.Queue[tuple[str, dict[str, Any] | Callable[[], dict[str, Any]]]] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.failed = 0
        self.calls = 0  # PutEvents requests made
        _publishers.append(self)

    def publish(self, detail_type: str, detail: dict[str, Any] | Callable[[], dict[str, Any]]) -> None:
        """Queue one event. ``detail`` may be a function that builds it: it then runs on the publishing
        thread, off the request's path (what it reads must not change after the call)."""
        if not self.background:
            self._send([self._entry(detail_type, detail)])
            return
        with self._idle:
            self._pending += 1
        self._queue.put((detail_type, detail))
        self._start()

    def _entry(self, detail_type: str, detail: dict[str, Any] | Callable[[], dict[str, Any]]) -> dict[str, Any]:
        built = detail() if callable(detail) else detail
        return {"Source": SOURCE, "DetailType": detail_type, "Detail": json.dumps(built), "EventBusName": self.bus}

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every published event has been sent (or given up on); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            if self._pending:
                self._flushing.set()  # no lingering for a fuller batch while someone waits
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    # ------------------------------------------------------------- internals
    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._idle:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="event-publisher", daemon=True)
                    self._thread.start()
                    atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            if self.linger > 0 and self._queue.qsize() < BATCH - 1:
                # Sleep rather than wait on the queue: one wake-up per batch, not one per event.
                self._flushing.wait(self.linger)
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                entries = []
                for detail_type, detail in batch:
                    try:
                        entries.append(self._entry(detail_type, detail))
                    except Exception:  # a builder that fails loses its own event only, loudly
                        self.failed += 1
                        logger.exception("event not built", detail_type=detail_type)
                if entries:
                    self._send(entries)
            finally:
                with self._idle:
                    self._pending -= len(batch)
                    if not self._pending:
                        self._flushing.clear()
                    self._idle.notify_all()

    def _send(self, entries: list[dict[str, Any]]) -> None:
        for attempt in range(3):
            try:
                self.calls += 1
                response = client("events").put_events(Entries=entries)
            except Exception:  # a publishing edge: keep the process serving, log what could not be sent
                logger.exception("PutEvents failed", attempt=attempt, entries=len(entries))
                time.sleep(0.05 * (attempt + 1))
                continue
            results = response.get("Entries", [])
            retry = [e for e, r in zip(entries, results, strict=False) if r.get("ErrorCode")]
            self.sent += len(entries) - len(retry)
            if not retry:
                return
            entries = retry
        self.failed += len(entries)
        for entry in entries:
            logger.error("event not published", detail_type=entry["DetailType"], detail=entry["Detail"])


_publishers: list[EventPublisher] = []
_invocation_done = threading.Event()


def invocation_finished() -> None:
    """Handlers call this when their work is done: the Lambda extension may flush and let the environment freeze."""
    _invocation_done.set()


def flush_all(timeout: float = 5.0) -> None:
    for publisher in list(_publishers):
        publisher.flush(timeout)


def _register_lambda_extension() -> None:
    """In Lambda, register an internal extension (only possible during init) that flushes after each invocation.

    Lambda keeps the environment running until every extension asks for its next event, and it has
    already returned the function's response by then: the flush costs the caller nothing.
    """
    api = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not api:
        return
    import urllib3

    http = urllib3.PoolManager()
    try:
        registered = http.request(
            "POST",
            f"http://{api}/2020-01-01/extension/register",
            body=json.dumps({"events": ["INVOKE"]}),
            headers={"Lambda-Extension-Name": "portico-receipts"},
            timeout=2.0,
        )
        identifier = registered.headers["Lambda-Extension-Identifier"]
    except Exception:  # outside init, or no extensions API: the background thread alone remains
        logger.warning("receipts extension not registered; events flush in the background only")
        return

    def loop() -> None:
        while True:
            event = http.request(
                "GET",
                f"http://{api}/2020-01-01/extension/event/next",
                headers={"Lambda-Extension-Identifier": identifier},
                timeout=None,
            )
            deadline_ms = (json.loads(event.data or b"{}") or {}).get("deadlineMs", 0)
            wait = max(0.0, deadline_ms / 1000 - time.time()) if deadline_ms else 30.0
            _invocation_done.wait(wait)
            _invocation_done.clear()
            flush_all()

    threading.Thread(target=loop, name="receipts-extension", daemon=True).start()


_register_lambda_extension()
