"""The ToolExecuted publisher batches events into PutEvents calls, and a flush never waits for a batch to fill."""

from __future__ import annotations

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
