"""MCP sessions in DynamoDB (TTL), with a short in-process cache of lookups."""

from __future__ import annotations

import threading
import time
from typing import Any

from portico.repositories.dynamo import Expr, Table


class SessionStore:
    def __init__(self, table: Table, ttl_seconds: int = 24 * 3600, cache_seconds: float = 10.0) -> None:
        self.table = table
        self.ttl_seconds = ttl_seconds
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def create(self, session_id: str, session: dict[str, Any]) -> None:
        item = {"pk": session_id, "sk": "SESSION", **session, "expires_at_epoch": int(time.time()) + self.ttl_seconds}
        self.table.put(item, Expr("attribute_not_exists(pk)"))
        with self._lock:
            self._cache[session_id] = (time.monotonic(), item)

    def get(self, session_id: str) -> dict[str, Any] | None:
        """The live session, or None (unknown, deleted or expired: DynamoDB TTL deletes lazily)."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(session_id)
        if cached is not None and now - cached[0] < self.cache_seconds:
            item: dict[str, Any] | None = cached[1]
        else:
            item = self.table.get(session_id, "SESSION")
            if item is not None:
                with self._lock:
                    self._cache[session_id] = (now, item)
                    if len(self._cache) > 10_000:
                        self._cache.pop(next(iter(self._cache)))
        if item is None or int(item.get("expires_at_epoch", 0)) < time.time():
            return None
        return item

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._cache.pop(session_id, None)
        self.table.delete(session_id, "SESSION")
