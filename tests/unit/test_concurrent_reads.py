"""Reads that go out together: a resolution's table reads, and the process's AWS clients built once."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from portico.gateway.service import together
from portico.repositories import aws


def test_together_runs_reads_at_once_and_keeps_their_order() -> None:
    threads: list[str] = []
    barrier = threading.Barrier(3, timeout=5)  # passes only if all three run at the same time

    def read(value: int) -> Any:
        threads.append(threading.current_thread().name)
        barrier.wait()
        return value

    assert together(lambda: read(1), lambda: read(2), lambda: read(3)) == [1, 2, 3]
    assert threads.count(threading.current_thread().name) == 1  # the first on the caller's thread


def test_together_raises_the_first_failure_after_every_read_is_done() -> None:
    finished = threading.Event()

    def slow() -> None:
        time.sleep(0.05)
        finished.set()

    def broken() -> None:
        raise LookupError("gone")

    with pytest.raises(LookupError, match="gone"):
        together(broken, slow)
    assert finished.is_set()  # no read is left running unobserved


def test_a_client_is_built_once_when_threads_ask_together(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []

    def build(service: str) -> object:
        built.append(service)
        time.sleep(0.05)  # as slow as importing boto3: every thread arrives before the first is done
        return object()

    monkeypatch.setattr(aws, "_build", build)
    monkeypatch.setattr(aws, "_clients", {})
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(aws.client("dynamodb"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert built == ["dynamodb"] and len(got) == 4 and all(g is got[0] for g in got)
    aws.clear_clients()
    assert aws.client("dynamodb") is not got[0] and built == ["dynamodb", "dynamodb"]
