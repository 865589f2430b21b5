"""Cached factories that build services over their repositories (one instance per warm process)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portico.gateway.protocol import McpEndpoint
    from portico.gateway.service import Gateway
    from portico.services.catalog import ToolService, ToolsetService
    from portico.services.health import HealthService
    from portico.services.hosting import HostingService
    from portico.services.identity import IdentityService
    from portico.services.logins import LoginService
    from portico.services.org_settings import OrgSettingsService
    from portico.services.receipts import ReceiptService
    from portico.services.receipts_query import ReceiptQueryService
    from portico.services.secrets import SecretService
    from portico.services.servers import ServerService
    from portico.services.transfer import ServerTransfer


@cache
def identity() -> IdentityService:
    from portico.repositories.main import main_repository
    from portico.services.identity import IdentityService
    from portico.settings import get_settings

    return IdentityService(main_repository(), logins() if get_settings().user_pool_id else None)


@cache
def logins() -> LoginService:
    from portico.repositories.main import main_repository
    from portico.repositories.users import user_directory
    from portico.services.logins import LoginService

    return LoginService(main_repository(), user_directory())


@cache
def servers() -> ServerService:
    from portico.repositories.main import main_repository
    from portico.services.servers import ServerService

    return ServerService(main_repository(), gateway(), secrets())


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


@cache
def gateway() -> Gateway:
    from portico.gateway.service import Gateway
    from portico.repositories.main import main_repository
    from portico.settings import get_settings

    return Gateway(
        main_repository(),
        receipts(),
        resolve_ttl=get_settings().resolve_cache_seconds,
        secrets=secrets().resolver,
    )


@cache
def mcp_endpoint() -> McpEndpoint:
    from portico.gateway.protocol import McpEndpoint
    from portico.repositories.dynamo import Table
    from portico.repositories.sessions import SessionStore
    from portico.settings import get_settings

    settings = get_settings()

    def origins() -> list[str]:
        return [o.strip() for o in settings.allowed_origins.split(",") if o.strip()]

    return McpEndpoint(gateway(), SessionStore(Table(settings.require("sessions_table"))), origins)


@cache
def tools() -> ToolService:
    from portico.repositories.main import main_repository
    from portico.services.catalog import ToolService

    return ToolService(main_repository(), gateway(), servers())


@cache
def toolsets() -> ToolsetService:
    from portico.repositories.main import main_repository
    from portico.services.catalog import ToolsetService

    return ToolsetService(main_repository(), gateway(), tools(), servers())


@cache
def receipts_query() -> ReceiptQueryService:
    from portico.repositories.dynamo import Table
    from portico.services.receipts_query import ReceiptQueryService
    from portico.settings import get_settings

    return ReceiptQueryService(Table(get_settings().require("receipts_table")))


@cache
def org_settings() -> OrgSettingsService:
    from portico.repositories.main import main_repository
    from portico.services.org_settings import OrgSettingsService

    return OrgSettingsService(main_repository(), gateway())


@cache
def secrets() -> SecretService:
    from portico.repositories.main import main_repository
    from portico.repositories.secrets import SecretIndex, secret_values
    from portico.services.secrets import SecretResolver, SecretService
    from portico.settings import get_settings

    repo = main_repository()
    resolver = SecretResolver(SecretIndex(repo), secret_values(), ttl=get_settings().resolve_cache_seconds)
    return SecretService(repo, secret_values(), resolver)


@cache
def transfer() -> ServerTransfer:
    from portico.services.transfer import ServerTransfer

    return ServerTransfer(servers())


@cache
def hosting() -> HostingService:
    from portico.hosting.platforms import get_platform
    from portico.repositories.logs import LogStore
    from portico.repositories.main import main_repository
    from portico.repositories.workflows import Workflows
    from portico.services.hosting import HostingService
    from portico.settings import get_settings

    return HostingService(
        main_repository(),
        servers(),
        Workflows(),
        lambda: LogStore(get_settings().require("hosted_log_group")),
        get_platform,
    )
