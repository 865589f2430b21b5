"""EventBridge publishing port."""

from __future__ import annotations

import json
from typing import Any

from portico.observability import logger
from portico.repositories.aws import client

SOURCE = "portico.gateway"


class EventPublisher:
    def __init__(self, bus: str) -> None:
        self.bus = bus

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        """Put one event on the bus; a failed entry is logged, never raised into the caller's request."""
        response = client("events").put_events(
            Entries=[
                {"Source": SOURCE, "DetailType": detail_type, "Detail": json.dumps(detail), "EventBusName": self.bus}
            ]
        )
        if response.get("FailedEntryCount"):
            logger.error("event not published", detail_type=detail_type, entries=response.get("Entries"))
