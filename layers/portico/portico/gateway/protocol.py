"""The MCP endpoint: Streamable HTTP (JSON responses, no SSE stream) for both protocol eras.

* Handshake era (2024-11-05 … 2025-11-25): ``initialize`` negotiates a version and opens a session
  (``Mcp-Session-Id``, stored in DynamoDB with a TTL and bound to the principal); requests without a
  session are served statelessly.
* 2026-07-28: no handshake; ``server/discover``, a ``_meta`` envelope on every request, and the
  ``MCP-Protocol-Version`` / ``Mcp-Method`` headers.

Errors: domain errors map once to JSON-RPC codes (``RPC_CODES``), with ``data.error_code``.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portico import __version__, auth
from portico.errors import NotFoundError, PorticoError, RateLimitedError, UnauthorizedError, ValidationError
from portico.gateway.client import RemoteError
from portico.gateway.service import CallContext, Gateway, Kind, Resolved
from portico.ids import now_iso
from portico.models.identity import Principal
from portico.observability import logger
from portico.repositories.sessions import SessionStore
from portico.services import org_settings

HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSION = "2026-07-28"
PAGE_SIZE = 100

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = -32700, -32600, -32601, -32602, -32603
HEADER_MISMATCH, UNSUPPORTED_PROTOCOL_VERSION = -32020, -32022
RPC_CODES = {
    "VALIDATION_ERROR": INVALID_PARAMS,
    "RESOURCE_NOT_FOUND": INVALID_PARAMS,
    "UNAUTHORIZED": -32003,
    "FORBIDDEN": -32003,
    "TIER_REQUIRED": -32003,
    "QUOTA_EXCEEDED": -32003,
    "APPROVAL_REQUIRED": -32004,
    "RATE_LIMITED": -32005,
    "CONFLICT": -32006,
    "UPSTREAM_ERROR": -32010,
    "UPSTREAM_TIMEOUT": -32011,
    "INTERNAL_ERROR": INTERNAL_ERROR,
}
CACHEABLE = {
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "server/discover",
}
INSTRUCTIONS = "Tools served by Portico. Tool names are unique here; call them as listed."

SEARCH_TOOLS = {
    "name": "search_tools",
    "description": "Search the available tools by keywords. Returns matching tool names, descriptions and "
    "input schemas; call one with call_tool.",
    "inputSchema": {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "Keywords to look for in tool names and descriptions."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
        },
        "required": ["query"],
    },
    "annotations": {"readOnlyHint": True},
}
CALL_TOOL = {
    "name": "call_tool",
    "description": "Call a tool found with search_tools, by its name, with its arguments.",
    "inputSchema": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "arguments": {"type": "object"}},
        "required": ["name"],
    },
}


class Encoded(str):
    """A result already shaped for its protocol revision and serialized (a cached tools/list page)."""


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None, http_status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.http_status = http_status


@dataclass
class Request:
    principal: Principal
    kind: Kind
    scope_id: str | None
    version: str | None
    session: dict[str, Any] | None
    session_id: str | None
    request_id: str | None
    meta: dict[str, Any]
    resolved: Resolved  # the scope, resolved once per request (a bad id fails even the handshake)

    @property
    def negotiated(self) -> str | None:
        """The protocol revision in use: the request's header, else the session's."""
        return self.version or (self.session or {}).get("protocol_version")


def _response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    out_headers = {"Content-Type": "application/json", **(headers or {})}
    return {
        "statusCode": status,
        "headers": out_headers,
        "body": json.dumps(body, separators=(",", ":")) if body is not None else "",
        "isBase64Encoded": False,
    }


def _result(message_id: Any, result: dict[str, Any] | Encoded, headers: dict[str, str]) -> dict[str, Any]:
    if not isinstance(result, Encoded):
        return _response(200, {"jsonrpc": "2.0", "id": message_id, "result": result}, headers)
    response = _response(200, None, headers)
    response["body"] = f'{{"jsonrpc":"2.0","id":{json.dumps(message_id)},"result":{result}}}'
    return response


def _error(message_id: Any, exc: RpcError) -> dict[str, Any]:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.data is not None:
        error["data"] = exc.data
    return {"jsonrpc": "2.0", "id": message_id, "error": error}


def rpc_error(exc: PorticoError) -> RpcError:
    """The one mapping of domain errors to JSON-RPC."""
    if isinstance(exc, RemoteError):
        return RpcError(
            exc.rpc_code,
            exc.rpc_message,
            {"error_code": exc.code, "server_id": exc.details.get("server_id"), "downstream": exc.rpc_data},
        )
    data: dict[str, Any] = {"error_code": exc.code, "details": exc.details}
    if isinstance(exc, RateLimitedError):
        data["retry_after"] = exc.retry_after  # seconds, as REST's Retry-After header
    return RpcError(RPC_CODES.get(exc.code, INTERNAL_ERROR), exc.message, data)


def _headers(event: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in (event.get("headers") or {}).items() if isinstance(v, str)}


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def _decode_cursor(cursor: Any) -> int:
    if cursor is None:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(str(cursor).encode()))["o"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RpcError(INVALID_PARAMS, "invalid cursor") from exc
    if offset < 0:
        raise RpcError(INVALID_PARAMS, "invalid cursor")
    return offset


class McpEndpoint:
    """Serves one API Gateway event addressed to ``/mcp``, ``/mcp/toolsets/{id}`` or ``/mcp/servers/{id}``."""

    def __init__(self, gateway: Gateway, sessions: SessionStore, allowed_origins: Callable[[], list[str]]) -> None:
        self.gateway = gateway
        self.sessions = sessions
        self.allowed_origins = allowed_origins
        # Encoded tools/list pages by (listing identity, offset, modern revision): a listing is memoized
        # per resolution and liveness snapshot, so a warm tools/list serializes nothing (a page of 16
        # servers' tools costs what one server's does). Entries hold their listing, so ids stay unique.
        self._pages: dict[tuple[int, int, bool], tuple[list[dict[str, Any]], Encoded]] = {}
        self._pages_lock = threading.Lock()

    # ------------------------------------------------------------- HTTP
    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        headers = _headers(event)
        origin = headers.get("origin")
        refused = _response(403, _error(None, RpcError(-32003, f"origin {origin} is not allowed")))
        platform_allowed = not origin or self._origin_allowed(origin)
        try:
            principal = auth.from_context((event.get("requestContext") or {}).get("authorizer"))
        except UnauthorizedError:
            if not platform_allowed:
                return refused
            return _response(401, _error(None, RpcError(-32003, "unauthorized")))
        if not platform_allowed and not self._org_origin_allowed(principal, str(origin)):
            return refused
        params = event.get("pathParameters") or {}
        kind: Kind = "toolset" if "toolset_id" in params else "server" if "server_id" in params else "org"
        scope_id = params.get("toolset_id") or params.get("server_id")
        if principal.scope_server_id is not None and (kind != "server" or scope_id != principal.scope_server_id):
            # A connect token opens one hosted server's endpoint only (the authorizer refuses the rest too).
            return _response(403, _error(None, RpcError(-32003, "this token is scoped to another server")))
        method = event.get("httpMethod", "POST")
        if method == "GET":
            return _response(
                405,
                _error(None, RpcError(METHOD_NOT_FOUND, "this endpoint offers no SSE stream")),
                {"Allow": "POST, DELETE"},
            )
        if method == "DELETE":
            return self._end_session(principal, headers.get("mcp-session-id"))
        if method != "POST":
            return _response(405, None, {"Allow": "POST, DELETE"})
        try:
            return self._post(event, headers, principal, kind, scope_id)
        except RpcError as exc:
            return _response(exc.http_status, _error(None, exc))

    def _origin_allowed(self, origin: str) -> bool:
        if re.match(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$", origin):
            return True
        return origin in self.allowed_origins()

    def _org_origin_allowed(self, principal: Principal, origin: str) -> bool:
        """The org's own allow-list (setting ``allowed_origins``), added to the platform's."""
        if not principal.org_id:
            return False
        return origin.lower() in org_settings.origins(self.gateway.org_settings(principal.org_id))

    def _end_session(self, principal: Principal, session_id: str | None) -> dict[str, Any]:
        if not session_id:
            return _response(400, _error(None, RpcError(INVALID_REQUEST, "Mcp-Session-Id header required")))
        session = self.sessions.get(session_id)
        if session is None or session.get("principal_id") != principal.principal_id:
            return _response(404, _error(None, RpcError(INVALID_REQUEST, "session not found")))
        self.sessions.delete(session_id)
        return _response(204)

    def _post(
        self, event: dict[str, Any], headers: dict[str, str], principal: Principal, kind: Kind, scope_id: str | None
    ) -> dict[str, Any]:
        try:
            raw = event.get("body") or ""
            if event.get("isBase64Encoded"):
                raw = base64.b64decode(raw).decode()
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RpcError(PARSE_ERROR, "parse error: the body is not JSON", http_status=400) from exc
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            raise RpcError(
                INVALID_REQUEST, "expected one JSON-RPC 2.0 message (batches are not supported)", http_status=400
            )
        if "method" not in message:
            return _response(202)  # a client's response to a server request: nothing is pending here
        method = message["method"]
        if not isinstance(method, str):
            raise RpcError(INVALID_REQUEST, "method must be a string", http_status=400)
        version = headers.get("mcp-protocol-version")
        if version and version not in HANDSHAKE_VERSIONS and version != MODERN_VERSION:
            raise RpcError(
                UNSUPPORTED_PROTOCOL_VERSION,
                f"unsupported protocol version {version}",
                {"supported": [*HANDSHAKE_VERSIONS, MODERN_VERSION]},
                http_status=400,
            )
        if version == MODERN_VERSION and headers.get("mcp-method") not in (None, method):
            raise RpcError(HEADER_MISMATCH, "Mcp-Method header does not match the body", http_status=400)
        session_id = headers.get("mcp-session-id")
        session = None
        if session_id and method != "initialize":
            session = self.sessions.get(session_id)
            bound = (
                session is not None
                and session.get("principal_id") == principal.principal_id
                and session.get("scope") == f"{kind}:{scope_id or ''}"
            )
            if not bound:
                # Unknown, expired, or someone else's: the client must start a new session.
                raise RpcError(INVALID_REQUEST, "session not found", http_status=404)
        if "id" not in message:
            return _response(202)  # notifications (initialized, cancelled, …) need no answer
        try:
            resolved = self.gateway.resolve(principal, kind, scope_id)
        except NotFoundError as exc:
            failed = RpcError(INVALID_PARAMS, exc.message, {"error_code": exc.code}, http_status=404)
            return _response(404, _error(message["id"], failed))
        except PorticoError as exc:
            return _response(403, _error(message["id"], rpc_error(exc)))
        params = message.get("params") or {}
        if not isinstance(params, dict):
            return _response(200, _error(message["id"], RpcError(INVALID_PARAMS, "params must be an object")))
        meta: dict[str, Any] = params["_meta"] if isinstance(params.get("_meta"), dict) else {}
        request = Request(
            principal,
            kind,
            scope_id,
            version,
            session,
            session_id,
            (event.get("requestContext") or {}).get("requestId"),
            meta,
            resolved,
        )
        extra_headers: dict[str, str] = {}
        try:
            result = self._dispatch(method, params, request, extra_headers)
        except RpcError as exc:
            return _response(exc.http_status, _error(message["id"], exc))
        except PorticoError as exc:
            if exc.code == "INTERNAL_ERROR":
                logger.exception("mcp request failed", method=method)
            return _response(200, _error(message["id"], rpc_error(exc)))
        if not isinstance(result, Encoded):
            result = self._wire(method, request.negotiated, result)
        return _result(message["id"], result, extra_headers)

    @staticmethod
    def _wire(method: str, version: str | None, result: dict[str, Any]) -> dict[str, Any]:
        """Shape a result for the negotiated revision.

        Results Portico authors (initialize, discover) are built with the SDK's wire types; tool lists
        come from definitions validated at sync; proxied results pass through. The few era-specific
        fields are set here rather than by importing `mcp_types.methods` on the hot path (~1 s cold);
        ``tests/integration/test_mcp_wire.py`` holds every result to the SDK's per-revision schemas.
        """
        if version == MODERN_VERSION:
            result.setdefault("resultType", "complete")
            if method in CACHEABLE:
                result.setdefault("ttlMs", 0)
                result.setdefault("cacheScope", "private")
        else:
            for modern_only in ("resultType", "ttlMs", "cacheScope"):
                result.pop(modern_only, None)
        return result

    # ------------------------------------------------------------- methods
    def _dispatch(
        self, method: str, params: dict[str, Any], request: Request, extra_headers: dict[str, str]
    ) -> dict[str, Any] | Encoded:
        if method == "initialize":
            return self._initialize(params, request, extra_headers)
        if method == "server/discover":
            return self._discover(request)
        if method == "ping":
            return {}
        resolved = request.resolved
        if method == "tools/list":
            return self._list_tools(resolved, params, request.negotiated)
        if method == "tools/call":
            return self._call_tool(resolved, params, request)
        if method in ("resources/list", "resources/templates/list", "prompts/list"):
            key = {
                "resources/list": "resources",
                "resources/templates/list": "resourceTemplates",
                "prompts/list": "prompts",
            }[method]
            items, errors = self.gateway.aggregate(resolved, method, key)
            return self._page(key, items, params, errors)
        if method == "resources/read":
            uri = params.get("uri")
            if not isinstance(uri, str):
                raise RpcError(INVALID_PARAMS, "uri is required")
            return self.gateway.read_resource(resolved, uri)
        if method == "prompts/get":
            name = params.get("name")
            if not isinstance(name, str):
                raise RpcError(INVALID_PARAMS, "name is required")
            return self.gateway.get_prompt(resolved, name, params.get("arguments") or {})
        if method in ("logging/setLevel", "resources/subscribe", "resources/unsubscribe"):
            return {}
        raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")

    def _capabilities(self) -> dict[str, Any]:
        return {
            "tools": {"listChanged": False},
            "resources": {"listChanged": False, "subscribe": False},
            "prompts": {"listChanged": False},
        }

    def _initialize(self, params: dict[str, Any], request: Request, extra_headers: dict[str, str]) -> dict[str, Any]:
        from mcp_types import Implementation, InitializeResult, ServerCapabilities

        requested = params.get("protocolVersion")
        version = requested if requested in HANDSHAKE_VERSIONS else HANDSHAKE_VERSIONS[-1]
        client: dict[str, Any] = params["clientInfo"] if isinstance(params.get("clientInfo"), dict) else {}
        session_id = secrets.token_urlsafe(32)  # 256 bits
        self.sessions.create(
            session_id,
            {
                "principal_id": request.principal.principal_id,
                "org_id": request.principal.org_id,
                "key_id": request.principal.key_id,
                "scope": f"{request.kind}:{request.scope_id or ''}",
                "protocol_version": version,
                "client_name": str(client.get("name", ""))[:100],
                "client_version": str(client.get("version", ""))[:50],
                "created_at": now_iso(),
            },
        )
        extra_headers["Mcp-Session-Id"] = session_id
        result = InitializeResult(
            protocol_version=version,
            capabilities=ServerCapabilities.model_validate(self._capabilities()),
            server_info=Implementation(name="portico", version=__version__),
            instructions=INSTRUCTIONS,
        )
        return dict(result.model_dump(mode="json", by_alias=True, exclude_none=True))

    def _discover(self, request: Request) -> dict[str, Any]:
        from mcp_types import DiscoverResult, ServerCapabilities

        result = DiscoverResult(
            supported_versions=[MODERN_VERSION],
            capabilities=ServerCapabilities.model_validate(self._capabilities()),
            instructions=INSTRUCTIONS,
        )
        out = dict(result.model_dump(mode="json", by_alias=True, exclude_none=True))
        out["_meta"] = {"io.modelcontextprotocol/serverInfo": {"name": "portico", "version": __version__}}
        return out

    def _page(
        self, key: str, items: list[dict[str, Any]], params: dict[str, Any], errors: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        offset = _decode_cursor(params.get("cursor"))
        result: dict[str, Any] = {key: items[offset : offset + PAGE_SIZE]}
        if offset + PAGE_SIZE < len(items):
            result["nextCursor"] = _encode_cursor(offset + PAGE_SIZE)
        if errors:
            # Servers that failed are named here; every other server's items are listed.
            result["_meta"] = {"portico/errors": errors}
        return result

    def _list_tools(self, resolved: Resolved, params: dict[str, Any], version: str | None) -> dict[str, Any] | Encoded:
        if resolved.exposure_mode == "progressive":
            return self._page("tools", [SEARCH_TOOLS, CALL_TOOL], params)
        tools, errors = self.gateway.list_tools(resolved)
        if errors:
            return self._page("tools", tools, params, errors)
        offset = _decode_cursor(params.get("cursor"))
        key = (id(tools), offset, version == MODERN_VERSION)
        with self._pages_lock:
            found = self._pages.get(key)
        if found is not None and found[0] is tools:
            return found[1]
        page = self._wire("tools/list", version, self._page("tools", tools, params))
        encoded = Encoded(json.dumps(page, separators=(",", ":")))
        with self._pages_lock:
            if len(self._pages) >= 512:
                self._pages.pop(next(iter(self._pages)))
            self._pages[key] = (tools, encoded)
        return encoded

    def _context(self, request: Request) -> CallContext:
        session = request.session or {}
        client = request.meta.get("io.modelcontextprotocol/clientInfo") or {}
        return CallContext(
            source="mcp",
            session_id=request.session_id if request.session else None,
            request_id=request.request_id,
            client_name=session.get("client_name") or client.get("name"),
            client_version=session.get("client_version") or client.get("version"),
        )

    def _call_tool(self, resolved: Resolved, params: dict[str, Any], request: Request) -> dict[str, Any]:
        name = params.get("name")
        arguments = params.get("arguments") or {}
        if not isinstance(name, str) or not isinstance(arguments, dict):
            raise RpcError(INVALID_PARAMS, "tools/call needs a name and an arguments object")
        if resolved.exposure_mode == "progressive":
            if name == "search_tools":
                return self._search(resolved, arguments)
            if name != "call_tool":
                raise RpcError(INVALID_PARAMS, f"unknown tool: {name} (use search_tools and call_tool)")
            name, arguments = arguments.get("name"), arguments.get("arguments") or {}
            if not isinstance(name, str) or not isinstance(arguments, dict):
                raise RpcError(INVALID_PARAMS, "call_tool needs a name and an arguments object")
        try:
            outcome = self.gateway.call(request.principal, resolved, name, arguments, self._context(request))
        except NotFoundError as exc:
            raise RpcError(INVALID_PARAMS, f"unknown tool: {name}", {"error_code": exc.code}) from exc
        result = outcome["result"]
        if outcome.get("receipt_id"):
            result.setdefault("_meta", {})["portico/receipt_id"] = outcome["receipt_id"]
        return dict(result)

    def _search(self, resolved: Resolved, arguments: dict[str, Any]) -> dict[str, Any]:
        query = arguments.get("query")
        if not isinstance(query, str):
            raise ValidationError("search_tools needs a query string", field="query")
        limit = arguments.get("limit", 10)
        limit = max(1, min(50, limit if isinstance(limit, int) else 10))
        terms = [t for t in re.split(r"[^a-z0-9]+", query.lower()) if t]
        scored = []
        for entry in resolved.enabled():
            name = entry.exposed.lower()
            text = f"{entry.tool.get('description_override') or entry.tool.get('description') or ''}".lower()
            score = sum(3 * (t in name) + (t in text) for t in terms) if terms else 1
            if score:
                scored.append((-score, entry.exposed, entry))
        scored.sort(key=lambda s: (s[0], s[1]))
        matches = [e.definition() for _, _, e in scored[:limit]]
        structured = {"tools": matches, "total_matches": len(scored)}
        return {
            "content": [{"type": "text", "text": json.dumps(structured)}],
            "structuredContent": structured,
            "isError": False,
        }


def serve(event: dict[str, Any]) -> dict[str, Any]:
    """The MCP function's entry point (kept free of the REST resolver: this is the hot path)."""
    from portico.context import set_from_event
    from portico.repositories.events import invocation_finished
    from portico.wiring import mcp_endpoint

    set_from_event(event)
    try:
        return mcp_endpoint().handle(event)
    except Exception:  # the top-level edge: a JSON-RPC error, never an unhandled 500
        logger.exception("mcp endpoint failed")
        return _response(500, _error(None, RpcError(INTERNAL_ERROR, "internal error")))
    finally:
        invocation_finished()
