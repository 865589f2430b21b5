"""Cached factories that build services over their repositories (one instance per warm process)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portico.services.health import HealthService
    from portico.services.identity import IdentityService
    from portico.services.receipts import ReceiptService
    from portico.services.servers import ServerService


@cache
def identity() -> IdentityService:
    from portico.repositories.main import main_repository
    from portico.services.identity import IdentityService

    return IdentityService(main_repository())


@cache
def servers() -> ServerService:
    from portico.repositories.main import main_repository
    from portico.services.servers import ServerService

    return ServerService(main_repository(), receipts())


@cache
def receipts() -> ReceiptService:
    from portico.repositories.dynamo import Table
    from portico.repositories.events import EventPublisher
    from portico.services.receipts import ReceiptService
    from portico.settings import get_settings

    settings = get_settings()
    table = Table(settings.receipts_table) if settings.receipts_table else None
    return ReceiptService(EventPublisher(settings.event_bus or ""), table, settings.receipt_retention_days)


@cache
def health() -> HealthService:
    from portico.repositories.dynamo import Table
    from portico.repositories.main import main_repository
    from portico.services.health import HealthService
    from portico.settings import get_settings

    receipts_table = get_settings().receipts_table
    return HealthService(main_repository(), Table(receipts_table) if receipts_table else None)
