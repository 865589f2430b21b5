"""The ToolExecuted publisher batches events into PutEvents calls, and a flush never waits for a batch to fill."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from portico.local.runtime import LocalRuntime
from portico.repositories.events import BATCH, EventPublisher


def test_events_published_together_go_out_in_full_batches(runtime: LocalRuntime) -> None:
    publisher = EventPublisher(runtime.physical("EventBus")["Ref"], linger=60.0)
    for n in range(2 * BATCH):
        publisher.publish("PublisherTest", {"n": n})
    # A lingering sender would hold these for a minute; the flush cuts the wait short.
    assert publisher.flush(timeout=20)
    assert publisher.sent == 2 * BATCH and publisher.failed == 0
    assert publisher.calls == 2


def test_a_flush_sends_a_partial_batch_at_once(runtime: LocalRuntime) -> None:
    publisher = EventPublisher(runtime.physical("EventBus")["Ref"], linger=60.0)
    publisher.publish("PublisherTest", {"n": 1})
    assert publisher.flush(timeout=20)
    assert (publisher.sent, publisher.calls) == (1, 1)
    publisher.publish("PublisherTest", {"n": 2})
    assert publisher.flush(timeout=20)
    assert (publisher.sent, publisher.calls) == (2, 2)


def test_events_given_as_builders_are_built_on_the_publishing_thread(runtime: LocalRuntime) -> None:
    publisher = EventPublisher(runtime.physical("EventBus")["Ref"], linger=60.0)
    built_on: list[str] = []

    def build(n: int) -> Callable[[], dict[str, Any]]:
        def detail() -> dict[str, Any]:
            built_on.append(threading.current_thread().name)
            if n == 2:
                raise ValueError("this one cannot be built")
            return {"n": n}

        return detail

    for n in range(4):
        publisher.publish("PublisherTest", build(n))
    assert publisher.flush(timeout=20)
    # The failing builder loses its own event only; the others go out together.
    assert (publisher.sent, publisher.failed, publisher.calls) == (3, 1, 1)
    assert built_on == ["event-publisher"] * 4
