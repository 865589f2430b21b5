"""`GET /health`: is Portico able to serve, and how much is in it (no host secrets)."""

from __future__ import annotations

import time
from typing import Any

from portico import __version__
from portico.repositories.dynamo import Table
from portico.repositories.main import MainRepository
from portico.settings import get_settings


class HealthService:
    def __init__(self, repo: MainRepository, receipts_table: Table | None = None) -> None:
        self.repo = repo
        self.receipts_table = receipts_table

    def check(self) -> tuple[dict[str, Any], bool]:
        """Component checks and counts; the flag is False when a component is down."""
        components: dict[str, Any] = {}
        started = time.perf_counter()
        try:
            table = self.repo.table.describe()
            components["main_table"] = {"status": "ok", "state": table.get("TableStatus")}
            orgs = self.repo.count("ORGS")
        except Exception as exc:  # the health edge reports any failure instead of raising
            components["main_table"] = {"status": "error", "error": type(exc).__name__}
            orgs = None
        components["main_table"]["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
        if self.receipts_table is not None:
            try:
                components["receipts_table"] = {"status": "ok", "state": self.receipts_table.describe()["TableStatus"]}
            except Exception as exc:
                components["receipts_table"] = {"status": "error", "error": type(exc).__name__}
        healthy = all(c["status"] == "ok" for c in components.values())
        settings = get_settings()
        return {
            "status": "ok" if healthy else "degraded",
            "name": "Portico",
            "version": __version__,
            "stage": settings.stage,
            "components": components,
            "counts": {"organizations": orgs},
        }, healthy
