"""A lean MCP client for the gateway's hot path: Streamable HTTP over persistent http.client connections.

One ``Connection`` per downstream (server + credentials) is negotiated once and reused across
invocations of a warm Lambda: the initialize handshake (or, for a modern-only server, the
2026-07-28 envelope) happens on first use, the downstream's ``Mcp-Session-Id`` is kept, and an
expired session (404, or 400 from TypeScript servers) is re-initialized once. A server that keeps no
sessions needs no handshake in a new process either: its negotiation, recorded when it was synced,
is adopted (one downstream request for a cold Lambda's first call instead of three); should it now
want a session, it answers 400/404 and is initialized then. Every exchange has a
connect timeout and a total deadline; every failure becomes an ``UpstreamError`` naming the server.

Servers registered with the legacy SSE transport go through the `mcp` SDK client instead
(``portico.gateway.downstream``), which this module imports only for them.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import itertools
import json
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from portico import __version__
from portico.errors import UpstreamError, UpstreamTimeoutError
from portico.gateway.downstream import Target, check_destination, closed_hint

HANDSHAKE_VERSION = "2025-11-25"
MODERN_VERSION = "2026-07-28"
CLIENT_INFO = {"name": "portico-gateway", "version": __version__}
_ids = itertools.count(1)


class RemoteError(UpstreamError):
    """The downstream answered with a JSON-RPC error; ``rpc_code`` and ``rpc_data`` carry it."""

    def __init__(self, server: str, server_id: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"server {server} answered: {message}", server_id=server_id, mcp_code=code)
        self.rpc_code = code
        self.rpc_message = message
        self.rpc_data = data


class _SessionExpired(Exception):
    pass


class Wire:
    """Persistent HTTP/1.1 connections, one per thread and origin, sending each request in one write.

    (urllib3 writes headers and body separately; on a busy interpreter each extra write costs a
    lock hand-off.) A reused connection the server closed while idle is replaced once.
    """

    _STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.CannotSendRequest)

    def __init__(self) -> None:
        self._local = threading.local()

    def _connections(self) -> dict[tuple[str, str, int, int], http.client.HTTPConnection]:
        found: dict[tuple[str, str, int, int], http.client.HTTPConnection] | None = getattr(self._local, "c", None)
        if found is None:
            found = self._local.c = {}
        return found

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        connect: float,
        read: float,
        context: ssl.SSLContext | None = None,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send one request; the caller reads the response fully or calls ``discard``.

        Connections are kept per origin and TLS context (a server's CA and client certificate are
        part of what a pooled connection is).

        Raises:
            OSError / http.client.HTTPException: connecting, sending or reading the status failed.
        """
        parts = urlsplit(url)
        https = parts.scheme == "https"
        key = (parts.scheme, parts.hostname or "", parts.port or (443 if https else 80), id(context) if context else 0)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        connections = self._connections()
        for attempt in (0, 1):
            connection = connections.get(key)
            reused = connection is not None and connection.sock is not None
            if connection is None:
                if https:
                    connection = http.client.HTTPSConnection(key[1], key[2], timeout=connect, context=context)
                else:
                    connection = http.client.HTTPConnection(key[1], key[2], timeout=connect)
                connections[key] = connection
            try:
                if connection.sock is None:
                    connection.timeout = connect
                    connection.connect()
                sock: socket.socket = connection.sock  # type: ignore[assignment]
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(read)
                connection.request(method, target, body=body, headers=headers)
                return connection, connection.getresponse()
            except self._STALE:
                self.discard(key, connection)
                if not reused or attempt:
                    raise
            except BaseException:
                self.discard(key, connection)
                raise
        raise AssertionError("unreachable")

    def discard(self, key: tuple[str, str, int, int] | None, connection: http.client.HTTPConnection) -> None:
        connection.close()
        if key is not None:
            self._connections().pop(key, None)

    def done(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        """Keep the connection if its response was read to the end, else close it."""
        if not response.isclosed() or response.will_close:
            connection.close()


@dataclass
class Limits:
    connect: float
    total: float


@dataclass
class Connection:
    """A negotiated client session with one downstream server (thread-safe)."""

    target: Target
    wire: Wire
    limits: Limits
    protocol_version: str | None = None
    session_id: str | None = None
    server_info: dict[str, Any] = field(default_factory=dict)
    capabilities: dict[str, Any] = field(default_factory=dict)
    last_used: float = field(default_factory=time.monotonic)
    tls_context: ssl.SSLContext | None = None
    adopted: bool = False  # negotiated from a record, not by this connection: a 400/404 re-initializes
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def modern(self) -> bool:
        return self.protocol_version == MODERN_VERSION

    def adopt(self, negotiated: dict[str, Any]) -> None:
        """Start from a negotiation recorded earlier with this server (``negotiation()``), if not negotiated yet."""
        version = negotiated.get("protocol_version")
        if not isinstance(version, str) or negotiated.get("url") != self.target.url:
            return
        with self._lock:
            if self.protocol_version is None:
                self.capabilities = dict(negotiated.get("capabilities") or {})
                self.server_info = dict(negotiated.get("server_info") or {})
                self.session_id = None
                self.protocol_version = version
                self.adopted = True

    def negotiation(self) -> dict[str, Any] | None:
        """What a connection in another process may adopt: this one's negotiation, when the server keeps
        no sessions (it granted no ``Mcp-Session-Id``); None for a server that does.

        Raises:
            UpstreamError / UpstreamTimeoutError: the server could not be initialized.
        """
        if self.adopted:
            self.request("ping")  # proves the adopted negotiation, or (a 400/404) replaces it
        else:
            self._ensure(time.monotonic() + self.limits.total)
        if self.session_id is not None:
            return None
        return {
            "url": self.target.url,
            "protocol_version": self.protocol_version,
            "capabilities": self.capabilities,
            "server_info": self.server_info,
        }

    # ------------------------------------------------------------- public
    def request(self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        """Send one request and return its ``result``.

        Raises:
            RemoteError: the server answered with a JSON-RPC error.
            UpstreamTimeoutError: no answer before the deadline.
            UpstreamError: unreachable, or an answer that is not MCP.
        """
        self.last_used = time.monotonic()
        deadline = time.monotonic() + min(timeout or self.limits.total, self.limits.total)
        self._ensure(deadline)
        try:
            return self._post_raw(method, params, deadline, self.protocol_version)[0]
        except _SessionExpired:
            with self._lock:
                self.protocol_version = None
                self.session_id = None
                self.adopted = False
            self._ensure(deadline)
            return self._post_raw(method, params, deadline, self.protocol_version, retrying=True)[0]

    def close(self) -> None:
        """End the downstream session (best effort)."""
        if self.session_id:
            with contextlib.suppress(OSError, http.client.HTTPException):
                connection, response = self.wire.request(
                    "DELETE", self.target.url, None, self._headers(), 1, 1, self.tls_context
                )
                response.read()
                self.wire.done(connection, response)

    # ------------------------------------------------------------- negotiation
    def _ensure(self, deadline: float) -> None:
        if self.protocol_version is not None:
            return
        with self._lock:
            if self.protocol_version is not None:
                return
            self.session_id = None
            try:
                result, session = self._post_raw(
                    "initialize",
                    {"protocolVersion": HANDSHAKE_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO},
                    deadline,
                    version=None,
                )
            except RemoteError:
                # A modern-only server refuses the handshake: use the per-request envelope.
                result, session = self._post_raw("server/discover", {}, deadline, version=MODERN_VERSION)
                if MODERN_VERSION not in result.get("supportedVersions", []):
                    raise self._error("no protocol version in common") from None
                self.protocol_version = MODERN_VERSION
                self.capabilities = result.get("capabilities", {})
                self.server_info = (result.get("_meta") or {}).get("io.modelcontextprotocol/serverInfo", {})
                return
            self.session_id = session
            version = str(result.get("protocolVersion") or HANDSHAKE_VERSION)
            self.capabilities = result.get("capabilities", {})
            self.server_info = result.get("serverInfo", {})
            self._notify("notifications/initialized", version, deadline)
            self.protocol_version = version

    # ------------------------------------------------------------- wire
    def _headers(
        self, version: str | None = None, method: str | None = None, name: str | None = None
    ) -> dict[str, str]:
        headers = {
            **self.target.headers,
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        version = version or self.protocol_version
        if version:
            headers["MCP-Protocol-Version"] = version
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        if version == MODERN_VERSION and method:
            headers["Mcp-Method"] = method
            if name:
                headers["Mcp-Name"] = name
        return headers

    def _envelope(self, method: str, params: dict[str, Any] | None, version: str | None) -> dict[str, Any]:
        params = dict(params or {})
        if version == MODERN_VERSION:
            params["_meta"] = {
                **(params.get("_meta") or {}),
                "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
                "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": next(_ids), "method": method}
        if params:
            message["params"] = params
        return message

    def _notify(self, method: str, version: str, deadline: float) -> None:
        body = json.dumps({"jsonrpc": "2.0", "method": method}).encode()
        connection, response = self._send(body, self._headers(version), deadline)
        response.read()
        self.wire.done(connection, response)

    def _send(
        self, body: bytes, headers: dict[str, str], deadline: float
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._timeout()
        try:
            return self.wire.request(
                "POST", self.target.url, body, headers, min(self.limits.connect, remaining), remaining, self.tls_context
            )
        except TimeoutError as exc:
            raise self._timeout() from exc
        except ssl.SSLError as exc:
            raise self._tls_error(exc) from exc
        except (ConnectionRefusedError, socket.gaierror) as exc:
            raise self._error("unreachable (connection refused or no such host)") from exc
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
            raise self._error(f"unreachable ({type(exc).__name__}){closed_hint(self.target)}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise self._error(f"unreachable ({type(exc).__name__})") from exc

    def _post_raw(
        self,
        method: str,
        params: dict[str, Any] | None,
        deadline: float,
        version: str | None,
        retrying: bool = False,
    ) -> tuple[Any, str | None]:
        """One request/response exchange; returns the result and any ``Mcp-Session-Id`` granted.

        An expired downstream session shows up as 404 (Python servers) or 400 (TypeScript servers);
        a request answered so was not processed, so it is safe to re-initialize and send it once more.
        """
        message = self._envelope(method, params, version)
        name = (params or {}).get("name") if method in ("tools/call", "prompts/get") else None
        headers = self._headers(version, method, name)
        connection, response = self._send(json.dumps(message).encode(), headers, deadline)
        try:
            renewable = self.session_id is not None or self.adopted
            if response.status in (404, 400) and renewable and method != "initialize" and not retrying:
                raise _SessionExpired()
            if response.status >= 400 and response.status != 400:
                # A JSON-RPC error may ride on a 4xx; otherwise the status is the error.
                reply = _maybe_json(response.read(65536).decode(errors="replace"))
                if not (isinstance(reply, dict) and "error" in reply):
                    raise self._error(f"HTTP {response.status}")
            else:
                reply = self._read_reply(response, message["id"], deadline)
            session = response.getheader("mcp-session-id")
        except TimeoutError as exc:
            raise self._timeout() from exc
        except ssl.SSLError as exc:
            raise self._tls_error(exc) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise self._error(f"connection failed ({type(exc).__name__})") from exc
        finally:
            self.wire.done(connection, response)
        if not isinstance(reply, dict) or reply.get("jsonrpc") != "2.0":
            raise self._error("answered something that is not JSON-RPC")
        if "error" in reply:
            error = reply["error"] if isinstance(reply["error"], dict) else {}
            raise RemoteError(
                self.target.name,
                self.target.server_id,
                int(error.get("code", -32603)),
                str(error.get("message", "error"))[:500],
                error.get("data"),
            )
        if "result" not in reply or not isinstance(reply["result"], dict):
            raise self._error("answered without a result")
        return reply["result"], session

    def _read_reply(self, response: http.client.HTTPResponse, request_id: int, deadline: float) -> Any:
        content_type = (response.getheader("content-type") or "").lower()
        if content_type.startswith("text/event-stream"):
            for event in _sse_events(response, deadline):
                message = _maybe_json(event)
                if isinstance(message, dict) and message.get("id") == request_id:
                    # The server ends a POST's stream after its answer: read to the end so the
                    # connection can be reused.
                    response.read()
                    return message
            raise self._error("closed the event stream without answering")
        if response.status == 400:
            reply = _maybe_json(response.read(65536).decode(errors="replace"))
            if isinstance(reply, dict) and "error" in reply:
                return reply
            raise self._error("HTTP 400")
        data = response.read(32 * 1024 * 1024 + 1)
        if len(data) > 32 * 1024 * 1024:
            raise self._error("answer larger than 32 MiB")
        return _maybe_json(data.decode(errors="replace"))

    def _error(self, why: str) -> UpstreamError:
        return UpstreamError(f"server {self.target.name}: {why}", server_id=self.target.server_id)

    def _tls_error(self, exc: ssl.SSLError) -> UpstreamError:
        closed = isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError)
        return self._error(f"TLS failed ({tls_reason(exc)}){closed_hint(self.target) if closed else ''}")

    def _timeout(self) -> UpstreamTimeoutError:
        return UpstreamTimeoutError(
            f"server {self.target.name} did not answer within {self.limits.total:g}s", server_id=self.target.server_id
        )


def tls_reason(exc: BaseException) -> str:
    """A short, secret-free description of a TLS failure (``certificate verify failed: …``, alerts)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    reason = getattr(exc, "reason", None)
    if reason and "CERTIFICATE_REQUIRED" in str(reason).upper():
        return "the server requires a client certificate"
    return str(reason or type(exc).__name__)[:200]


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _sse_events(response: http.client.HTTPResponse, deadline: float) -> Iterator[str]:
    data: list[str] = []
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError
        raw = response.readline(1024 * 1024)
        if not raw:
            break
        line = raw.decode(errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    if data:
        yield "\n".join(data)


class ConnectionCache:
    """Negotiated connections keyed by server and credential hash, with a size bound and an idle timeout."""

    def __init__(self, max_size: int = 1000, idle_timeout: float = 600.0) -> None:
        self.max_size = max_size
        self.idle_timeout = idle_timeout
        self.wire = Wire()
        self._items: OrderedDict[str, Connection] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(target: Target) -> str:
        """Server, URL and a hash of the credentials: headers and TLS material."""
        tls = target.tls.fingerprint() if target.tls else ""
        credentials = hashlib.sha256(f"{json.dumps(target.headers, sort_keys=True)}|{tls}".encode()).hexdigest()[:32]
        return f"{target.server_id}|{target.url}|{credentials}"

    def get(self, target: Target, limits: Limits, negotiated: dict[str, Any] | None = None) -> Connection:
        """The connection for ``target``; a new one adopts ``negotiated`` (see ``Connection.adopt``) if given."""
        key = self.key(target)
        now = time.monotonic()
        with self._lock:
            for stale_key in [k for k, c in self._items.items() if now - c.last_used > self.idle_timeout]:
                self._items.pop(stale_key)
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                found.limits = limits
                self.hits += 1
                return found
            self.misses += 1
            if not target.hosted:
                check_destination(target.url)
            connection = Connection(target, self.wire, limits, tls_context=target.ssl_context())
            if negotiated:
                connection.adopt(negotiated)
            self._items[key] = connection
            while len(self._items) > self.max_size:
                self._items.popitem(last=False)
            return connection

    def forget(self, server_id: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k.startswith(f"{server_id}|")]:
                self._items.pop(key)

    def __len__(self) -> int:
        return len(self._items)
