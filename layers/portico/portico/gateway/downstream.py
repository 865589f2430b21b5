"""MCP client calls to a registered server, bounded in time, with errors mapped to domain errors.

Each call opens a connection with the `mcp` SDK client (Streamable HTTP or SSE), performs the
handshake and its request, and closes. Every failure (unreachable, refused, timed out, garbage,
MCP error) becomes an ``UpstreamError``/``UpstreamTimeoutError`` naming the server.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from portico.errors import UpstreamError, UpstreamTimeoutError
from portico.settings import get_settings

T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    """Where and how to reach one downstream MCP server."""

    server_id: str
    name: str
    url: str
    transport: str = "streamable-http"
    headers: dict[str, str] = field(default_factory=dict)
    # A hosted server's address comes from Portico's own platform (a private Cloud Map name in AWS),
    # never from a user: the SSRF check that guards user-supplied URLs does not apply to it.
    hosted: bool = False


def check_destination(url: str) -> None:
    """Refuse loopback, private and link-local destinations unless the deployment allows them (SSRF).

    Raises:
        UpstreamError: the destination is not allowed or does not resolve.
    """
    if get_settings().allow_private_targets:
        return
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        raise UpstreamError(f"cannot resolve {host}", host=host) from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_private or address.is_loopback or address.is_link_local or address.is_reserved:
            raise UpstreamError(f"destination {host} is not reachable from Portico", host=host)


@asynccontextmanager
async def connect(target: Target) -> AsyncIterator[Any]:
    """An initialized ``mcp.Client`` session to ``target`` (handshake era, no discovery probe)."""
    import httpx2
    from mcp import Client
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    settings = get_settings()
    timeout = httpx2.Timeout(settings.downstream_timeout, connect=settings.downstream_connect_timeout)
    if target.transport == "sse":
        transport: Any = sse_client(
            target.url,
            headers=target.headers,
            timeout=settings.downstream_connect_timeout,
            sse_read_timeout=settings.downstream_timeout,
        )
        async with Client(transport, mode="legacy", read_timeout_seconds=settings.downstream_timeout) as client:
            yield client
        return
    async with httpx2.AsyncClient(headers=target.headers, timeout=timeout) as http:
        transport = streamable_http_client(target.url, http_client=http)
        async with Client(transport, mode="legacy", read_timeout_seconds=settings.downstream_timeout) as client:
            yield client


def run(target: Target, operation: Callable[[Any], Awaitable[T]]) -> T:
    """Connect to ``target``, run ``operation(client)`` and return its result, within the total timeout.

    Raises:
        UpstreamTimeoutError: no answer within the configured total timeout.
        UpstreamError: the server could not be reached or answered with an error or garbage.
    """
    import anyio
    import httpx2
    from mcp import MCPError

    if not target.hosted:
        check_destination(target.url)
    limit = get_settings().downstream_timeout

    async def main() -> T:
        with anyio.fail_after(limit):
            async with connect(target) as client:
                return await operation(client)

    try:
        return anyio.run(main)
    except TimeoutError as exc:
        raise UpstreamTimeoutError(
            f"server {target.name} did not answer within {limit:g}s", server_id=target.server_id
        ) from exc
    except MCPError as exc:
        raise UpstreamError(
            f"server {target.name} answered with an error: {exc}", server_id=target.server_id, mcp_code=exc.error.code
        ) from exc
    except (OSError, httpx2.HTTPError, BaseExceptionGroup, ValueError, RuntimeError) as exc:
        raise UpstreamError(
            f"server {target.name} is unreachable or misbehaved: {_describe(exc)}", server_id=target.server_id
        ) from exc


def _describe(exc: BaseException) -> str:
    """The innermost meaningful message of a (possibly grouped) exception."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"[:300]
