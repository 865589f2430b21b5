"""MCP client calls to a registered server, bounded in time, with errors mapped to domain errors.

Each call opens a connection with the `mcp` SDK client (Streamable HTTP or SSE), performs the
handshake and its request, and closes. Every failure (unreachable, refused, timed out, garbage,
MCP error) becomes an ``UpstreamError``/``UpstreamTimeoutError`` naming the server.
"""

from __future__ import annotations

import hashlib
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
class Tls:
    """TLS towards one downstream, with PEM material already resolved from secrets (never logged)."""

    verify_certs: bool = True
    accept_invalid_hostnames: bool = False
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None

    def fingerprint(self) -> str:
        parts = (
            str(self.verify_certs),
            str(self.accept_invalid_hostnames),
            self.ca_cert,
            self.client_cert,
            self.client_key,
        )
        return hashlib.sha256("\x00".join(p or "" for p in parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Target:
    """Where and how to reach one downstream MCP server."""

    server_id: str
    name: str
    url: str
    transport: str = "streamable-http"
    headers: dict[str, str] = field(default_factory=dict)
    tls: Tls | None = None
    # A hosted server's address comes from Portico's own platform (a private Cloud Map name in AWS),
    # never from a user: the SSRF check that guards user-supplied URLs does not apply to it.
    hosted: bool = False

    def ssl_context(self) -> Any:
        """The ``ssl.SSLContext`` for an ``https`` URL with TLS options, else None (the defaults)."""
        if self.tls is None or not self.url.lower().startswith("https:"):
            return None
        from portico.gateway.credentials import ssl_context

        return ssl_context(self.tls, self.name)


def closed_hint(target: Target) -> str:
    """What to say when an ``https`` server hangs up without answering and we sent no client certificate:
    a server that requires one (mTLS) closes the connection right after the TLS handshake."""
    if not target.url.lower().startswith("https:") or (target.tls and target.tls.client_cert):
        return ""
    return (
        "; the server closed the TLS connection without answering: it may require a client certificate"
        " (set tls.client_cert and tls.client_key)"
    )


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
    # TLS options (custom CA, client certificate, hostname/verification switches) as one SSLContext.
    verify: Any = target.ssl_context() or True

    def client_factory(
        headers: dict[str, str] | None = None, timeout: Any = None, auth: Any = None
    ) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(headers=headers, timeout=timeout, auth=auth, verify=verify)

    if target.transport == "sse":
        transport: Any = sse_client(
            target.url,
            headers=target.headers,
            timeout=settings.downstream_connect_timeout,
            sse_read_timeout=settings.downstream_timeout,
            httpx_client_factory=client_factory,
        )
        async with Client(transport, mode="legacy", read_timeout_seconds=settings.downstream_timeout) as client:
            yield client
        return
    async with httpx2.AsyncClient(headers=target.headers, timeout=timeout, verify=verify) as http:
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
    target.ssl_context()  # invalid TLS material fails here, as an UpstreamError naming the server
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
        why = _describe(exc)
        if why.startswith(("ReadError", "RemoteProtocolError", "BrokenResourceError")) or "SSLEOFError" in why:
            why += closed_hint(target)
        raise UpstreamError(
            f"server {target.name} is unreachable or misbehaved: {why}", server_id=target.server_id
        ) from exc


def _describe(exc: BaseException) -> str:
    """The innermost meaningful message of a (possibly grouped) exception."""
    import ssl

    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return "timed out"
    cause: BaseException | None = exc
    for _ in range(10):  # httpx wraps the ssl error: report the TLS reason itself
        if cause is None:
            break
        if isinstance(cause, ssl.SSLError):
            from portico.gateway.client import tls_reason

            return f"TLS failed ({tls_reason(cause)})"
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__
