"""The gateway: which tools a caller may see and call, and calling them, with one policy on every path.

Every path that executes a tool — MCP `tools/call`, progressive `call_tool`, REST `execute` and
server `invoke` — goes through ``Gateway.call``: the same checks (role, disabled tool, stopped
server, approval state, rate limits), the same downstream client, and one receipt per execution
whatever its outcome. ``tool_verdict`` is the one place that decides whether a tool is listed and
callable; ``Gateway.rate_limits`` the one place that decides which limits a call must pass.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from portico import auth
from portico.context import caller_token
from portico.errors import (
    ApprovalRequiredError,
    ForbiddenError,
    NotFoundError,
    PorticoError,
    UpstreamError,
    UpstreamTimeoutError,
)
from portico.gateway import credentials, policy
from portico.gateway.client import Connection, ConnectionCache, Limits
from portico.gateway.downstream import Target
from portico.gateway.ratelimit import Limit, RateLimiter
from portico.ids import iso
from portico.models.common import Role
from portico.models.identity import Principal
from portico.models.receipts import ReceiptStatus, ToolExecuted
from portico.observability import logger
from portico.repositories.dynamo import dumps
from portico.repositories.main import MainRepository
from portico.services import org_settings
from portico.services.receipts import ReceiptService, digest, digest_text, new_receipt_id, preview
from portico.settings import get_settings

if TYPE_CHECKING:
    from portico.services.secrets import SecretResolver

Kind = Literal["org", "toolset", "server"]
SERVER_INFO_META = "io.modelcontextprotocol/serverInfo"
_fanout = ThreadPoolExecutor(max_workers=32, thread_name_prefix="fanout")
# Table reads of one resolution, side by side (a pool of its own: its tasks never wait on other tasks).
_reads = ThreadPoolExecutor(max_workers=6, thread_name_prefix="resolve")


def together(*reads: Callable[[], Any]) -> list[Any]:
    """Run independent reads at once (the first on this thread); their results in order, or the first error."""
    futures = [_reads.submit(contextvars.copy_context().run, read) for read in reads[1:]]
    try:
        first = reads[0]()
    finally:
        rest = [future.result() for future in futures]  # never leave a read running unobserved
    return [first, *rest]


@dataclass(frozen=True)
class Entry:
    """One tool as a scope exposes it."""

    exposed: str
    tool: dict[str, Any]
    server: dict[str, Any] | None
    enabled: bool
    reason: str | None = None
    error_code: str | None = None  # why a call is refused: FORBIDDEN, or APPROVAL_REQUIRED

    def definition(self) -> dict[str, Any]:
        """The tool as MCP clients see it (the stored, synced definition under its exposed name)."""
        tool = self.tool
        out: dict[str, Any] = {"name": self.exposed, "inputSchema": tool.get("input_schema") or {"type": "object"}}
        description = tool.get("description_override") or tool.get("description")
        if description:
            out["description"] = description
        if tool.get("title"):
            out["title"] = tool["title"]
        if tool.get("output_schema"):
            out["outputSchema"] = tool["output_schema"]
        if tool.get("annotations"):
            out["annotations"] = tool["annotations"]
        return out


@dataclass
class Resolved:
    """A scope (the org, a toolset or one server) resolved to its tools and servers."""

    org_id: str
    kind: Kind
    scope_id: str | None
    exposure_mode: str
    entries: dict[str, Entry]
    servers: dict[str, dict[str, Any]]
    toolset: dict[str, Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # the org's stored settings
    loaded_at: float = field(default_factory=time.monotonic)
    _enabled: list[Entry] | None = field(default=None, repr=False)
    _definitions: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    # tools/list results by the liveness snapshot they were computed from (same snapshot, same list)
    _listings: dict[tuple[tuple[str, int], ...], list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    def enabled(self) -> list[Entry]:
        if self._enabled is None:
            self._enabled = sorted((e for e in self.entries.values() if e.enabled), key=lambda e: e.exposed)
        return self._enabled

    def definition(self, entry: Entry) -> dict[str, Any]:
        """The entry's wire definition, built once per resolution (a tools/list is then mostly lookups)."""
        found = self._definitions.get(entry.exposed)
        if found is None:
            found = self._definitions[entry.exposed] = entry.definition()
        return found


@dataclass
class CallContext:
    source: Literal["mcp", "rest_execute", "rest_invoke"]
    session_id: str | None = None
    request_id: str | None = None
    client_name: str | None = None
    client_version: str | None = None


def tool_verdict(tool: dict[str, Any], server: dict[str, Any] | None) -> tuple[bool, str | None, str | None]:
    """Whether a tool may be listed and called; if not, why, and the error code a call gets."""
    if tool.get("origin") == "http":
        enabled = tool.get("status", "active") != "disabled"
        return enabled, None if enabled else "tool is disabled", None if enabled else "FORBIDDEN"
    if server is None:
        return False, "server is gone", "FORBIDDEN"
    if tool["name"] in set(server.get("disabled_tools") or []):
        return False, "tool is disabled", "FORBIDDEN"
    if server.get("status") != "running":
        return False, f"server {server['name']} is {server.get('status')}", "FORBIDDEN"
    if not policy.is_approved(tool, server):
        status = policy.approval_status(tool, server)
        why = "its definition changed since it was approved" if status == "quarantined" else "it is not approved"
        return False, f"{why}: an admin must approve it", "APPROVAL_REQUIRED"
    return True, None, None


def tool_state(tool: dict[str, Any], server: dict[str, Any] | None) -> tuple[bool, str | None]:
    """Whether a tool may be listed and called, and why not."""
    enabled, reason, _ = tool_verdict(tool, server)
    return enabled, reason


def target_of(server: dict[str, Any], secrets: SecretResolver | None = None) -> Target:
    """The downstream target of ``server``: secret references resolved now, the caller's token if forwarded."""

    def lookup(name: str) -> str:
        if secrets is None:
            raise UpstreamError(f"server {server['name']} references secret {name}; secrets are not configured")
        return secrets.value(server["org_id"], name, server["name"])

    return credentials.target_of(server, lookup, caller_token())


class Gateway:
    def __init__(
        self,
        repo: MainRepository,
        receipts: ReceiptService | None,
        connections: ConnectionCache | None = None,
        resolve_ttl: float = 5.0,
        limiter: RateLimiter | None = None,
        secrets: SecretResolver | None = None,
    ) -> None:
        self.repo = repo
        self.receipts = receipts
        self.secrets = secrets
        self.connections = connections or ConnectionCache()
        self.resolve_ttl = resolve_ttl
        self._limiter = limiter
        self._settings: dict[str, tuple[float, dict[str, Any]]] = {}
        self._resolved: dict[tuple[str, str, str | None], Resolved] = {}
        self._refreshing: set[tuple[str, str, str | None]] = set()
        self._refreshing_live: set[str] = set()
        # server id -> (checked at, tool hashes by name | None, error | None): a short-lived view of which
        # downstreams answer, so a tools/list does not re-ask (or re-wait for) every server each time.
        self._liveness: dict[str, tuple[float, dict[str, str] | None, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------- resolution
    @property
    def limiter(self) -> RateLimiter:
        if self._limiter is None:
            self._limiter = RateLimiter(self.repo.table)
        return self._limiter

    def resolve(self, principal: Principal, kind: Kind, scope_id: str | None = None) -> Resolved:
        """The tools ``principal`` reaches through a scope (cached briefly in a warm process).

        Raises:
            ForbiddenError: not an organization member.  NotFoundError: no such toolset/server here.
        """
        org_id = auth.require_member(principal)
        key = (org_id, kind, scope_id)
        with self._lock:
            cached = self._resolved.get(key)
        if cached is not None:
            age = time.monotonic() - cached.loaded_at
            if age < self.resolve_ttl:
                return cached
            if age < 3 * self.resolve_ttl:
                # Serve the recent resolution while one background refresh replaces it, so requests
                # never queue behind the table reads (stale by at most ~3 TTLs).
                self._refresh_in_background(key)
                return cached
        return self._store(key, self._load(org_id, kind, scope_id))

    def _store(self, key: tuple[str, str, str | None], resolved: Resolved) -> Resolved:
        with self._lock:
            self._resolved[key] = resolved
            if len(self._resolved) > 2000:
                self._resolved.pop(next(iter(self._resolved)))
        return resolved

    def _refresh_in_background(self, key: tuple[str, str, str | None]) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def refresh() -> None:
            try:
                self._store(key, self._load(*key))  # type: ignore[arg-type]
            except PorticoError:
                with self._lock:
                    self._resolved.pop(key, None)  # gone (e.g. deleted): the next request finds out
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        _fanout.submit(refresh)

    def invalidate(self, org_id: str | None = None) -> None:
        with self._lock:
            for key in [k for k in self._resolved if org_id is None or k[0] == org_id]:
                self._resolved.pop(key)
            for settings_of in [k for k in self._settings if org_id is None or k == org_id]:
                self._settings.pop(settings_of)
            self._liveness.clear()

    def org_settings(self, org_id: str) -> dict[str, Any]:
        """The org's stored settings (cached like resolutions: a change is seen within the TTL)."""
        with self._lock:
            cached = self._settings.get(org_id)
        if cached is not None and time.monotonic() - cached[0] < self.resolve_ttl:
            return cached[1]
        found = self.repo.get_org_settings(org_id)
        stored = found[0] if found else {}
        with self._lock:
            if len(self._settings) > 2000:
                self._settings.clear()
            self._settings[org_id] = (time.monotonic(), stored)
        return stored

    def _load(self, org_id: str, kind: Kind, scope_id: str | None) -> Resolved:
        """Read a scope and the org's settings; the reads go out together (one round trip's latency)."""
        scope_id = scope_id or ""
        if kind == "server":
            if not scope_id.startswith("mcp_"):
                raise NotFoundError("server", scope_id)
            found, tools, settings = together(
                lambda: self.repo.get_server(org_id, scope_id),
                lambda: self.repo.server_tools(scope_id),
                lambda: self.org_settings(org_id),
            )
            if found is None:
                raise NotFoundError("server", scope_id)
            only = found[0]
            entries = {t["name"]: Entry(t["name"], t, only, *tool_verdict(t, only)) for t in tools}
            return Resolved(org_id, kind, scope_id, "full", entries, {only["id"]: only}, settings=settings)
        if kind == "toolset" and not scope_id.startswith("ts_"):
            raise NotFoundError("toolset", scope_id)
        toolset, server_list, tool_list, settings = together(
            lambda: self.repo.get_toolset(org_id, scope_id) if kind == "toolset" else None,
            lambda: self.repo.org_servers(org_id),
            lambda: self.repo.org_tools(org_id),
            lambda: self.org_settings(org_id),
        )
        resolved = self._load_scope(org_id, kind, scope_id, toolset, server_list, tool_list)
        resolved.settings = settings
        return resolved

    def _load_scope(
        self,
        org_id: str,
        kind: Kind,
        scope_id: str,
        found: tuple[dict[str, Any], int] | None,
        server_list: list[dict[str, Any]],
        tool_list: list[dict[str, Any]],
    ) -> Resolved:
        servers = {s["id"]: s for s in server_list}
        catalog = {t["id"]: t for t in tool_list}
        if kind == "org":
            entries = {}
            for tool in catalog.values():
                owner = servers.get(tool.get("server_id") or "")
                name = f"{owner['name'] if owner else 'http'}__{tool['name']}"
                entries[name] = Entry(name, tool, owner, *tool_verdict(tool, owner))
            return Resolved(org_id, kind, None, "full", entries, servers)
        if found is None:
            raise NotFoundError("toolset", scope_id)
        toolset = found[0]
        aliases = toolset.get("aliases") or {}
        entries = {}
        used: dict[str, dict[str, Any]] = {}
        for tool_id in toolset.get("tool_ids", []):
            member = catalog.get(tool_id)
            if member is None:
                continue
            tool = member
            server = servers.get(tool.get("server_id") or "")
            name = aliases.get(tool_id) or tool.get("alias") or tool["name"]
            enabled, reason, code = tool_verdict(tool, server)
            if toolset.get("status") == "disabled":
                enabled, reason, code = False, "toolset is disabled", "FORBIDDEN"
            entries[name] = Entry(name, tool, server, enabled, reason, code)
            if server:
                used[server["id"]] = server
        return Resolved(org_id, kind, scope_id, toolset.get("exposure_mode", "full"), entries, used, toolset)

    # ------------------------------------------------------------- listing
    def fan_out(
        self, resolved: Resolved, operation: Callable[[dict[str, Any]], Any], servers: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Run ``operation(server)`` for every server in parallel; results by server id, and errors."""
        # Each task runs in a copy of this request's context (the caller's token for `forward` auth).
        futures = {s["id"]: _fanout.submit(contextvars.copy_context().run, operation, s) for s in servers}
        results: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        limit = get_settings().downstream_timeout + 1
        for server_id, future in futures.items():
            server = resolved.servers[server_id]
            try:
                results[server_id] = future.result(timeout=limit)
            except PorticoError as exc:
                errors.append(
                    {"server_id": server_id, "server": server["name"], "error_code": exc.code, "message": exc.message}
                )
            except TimeoutError:
                errors.append(
                    {
                        "server_id": server_id,
                        "server": server["name"],
                        "error_code": "UPSTREAM_TIMEOUT",
                        "message": f"server {server['name']} did not answer in time",
                    }
                )
        return results, errors

    def list_tools(self, resolved: Resolved) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Enabled tools whose server answers a live ``tools/list`` now (all servers asked in parallel).

        Definitions come from the stored, synced catalog; a downstream that fails is reported in the
        errors and its tools are left out, while every other server's tools still list.
        """
        enabled = resolved.enabled()
        servers = {e.server["id"]: e.server for e in enabled if e.server is not None}
        live, errors = self._live_tools(resolved, list(servers.values()))
        snapshot = tuple((server_id, id(hashes)) for server_id, hashes in sorted(live.items()))
        listed = resolved._listings.get(snapshot)
        if listed is not None:
            return listed, errors
        tools = []
        for entry in enabled:
            if entry.server is None:
                tools.append(resolved.definition(entry))
                continue
            available = live.get(entry.server["id"])
            if available is None:
                continue
            if entry.tool["name"] not in available:
                continue
            if available[entry.tool["name"]] != entry.tool.get("definition_hash"):
                logger.info(
                    "tool definition changed since last sync", server_id=entry.server["id"], tool=entry.tool["name"]
                )
                if policy.requires_approval(entry.server):
                    continue  # the server now describes it otherwise: not listed until synced and approved
            tools.append(resolved.definition(entry))
        resolved._listings[snapshot] = tools
        return tools, errors

    def _live_tools(
        self, resolved: Resolved, servers: list[dict[str, Any]]
    ) -> tuple[dict[str, dict[str, str]], list[dict[str, Any]]]:
        """Each server's live tool names (and definition hashes); asks only servers not seen recently."""
        now = time.monotonic()
        live: dict[str, dict[str, str]] = {}
        errors: list[dict[str, Any]] = []
        stale = []
        refresh = []
        for server in servers:
            seen = self._liveness.get(server["id"])
            age = now - seen[0] if seen is not None else None
            if (
                seen is not None
                and age is not None
                and (age < self.resolve_ttl or (age < 3 * self.resolve_ttl and seen[1]))
            ):
                if seen[1] is not None:
                    live[server["id"]] = seen[1]
                elif seen[2] is not None:
                    errors.append(seen[2])
                if age >= self.resolve_ttl:
                    refresh.append(server)  # answered recently: keep serving, re-ask in the background
            else:
                stale.append(server)
        if refresh:
            _fanout.submit(contextvars.copy_context().run, self._refresh_liveness, resolved, refresh)
        if stale:
            fresh, failed = self.fan_out(resolved, self._list_live, stale)
            for server_id, hashes in fresh.items():
                self._liveness[server_id] = (now, hashes, None)
            for error in failed:
                self._liveness[error["server_id"]] = (now, None, error)
            live.update(fresh)
            errors.extend(failed)
        return live, errors

    def _refresh_liveness(self, resolved: Resolved, servers: list[dict[str, Any]]) -> None:
        with self._lock:
            servers = [s for s in servers if s["id"] not in self._refreshing_live]
            self._refreshing_live.update(s["id"] for s in servers)
        try:
            now = time.monotonic()
            fresh, failed = self.fan_out(resolved, self._list_live, servers)
            for server_id, hashes in fresh.items():
                previous = self._liveness.get(server_id)
                # Unchanged answers keep their identity, so memoized listings stay valid.
                same = previous is not None and previous[1] == hashes
                self._liveness[server_id] = (now, previous[1] if same and previous else hashes, None)
            for error in failed:
                self._liveness[error["server_id"]] = (now, None, error)
        finally:
            with self._lock:
                self._refreshing_live.difference_update(s["id"] for s in servers)

    def _list_live(self, server: dict[str, Any]) -> dict[str, str]:
        from portico.services.servers import definition_hash

        listed = self._request(server, "tools/list", {})
        names: dict[str, str] = {}
        for tool in listed.get("tools", []):
            stored = {
                "name": tool.get("name"),
                "title": tool.get("title"),
                "description": tool.get("description"),
                "input_schema": tool.get("inputSchema") or {},
                "output_schema": tool.get("outputSchema"),
                "annotations": tool.get("annotations"),
            }
            names[str(tool.get("name"))] = definition_hash(stored)
        return names

    def target(self, server: dict[str, Any]) -> Target:
        return target_of(server, self.secrets)

    def _request(self, server: dict[str, Any], method: str, params: dict[str, Any]) -> Any:
        """One request to a downstream server through the shared connection cache."""
        target = self.target(server)
        if target.transport == "sse":
            return _sdk_request(target, method, params)
        return self._connection(server, target).request(method, params)

    def _connection(self, server: dict[str, Any], target: Target) -> Connection:
        settings = get_settings()
        limits = Limits(settings.downstream_connect_timeout, settings.downstream_timeout)
        return self.connections.get(target, limits, server.get("negotiated"))

    def negotiation(self, server: dict[str, Any]) -> dict[str, Any] | None:
        """What connections to ``server`` in other processes may adopt instead of initializing (stored on
        the server when it is synced); None for a server that keeps sessions, or that cannot say now."""
        try:
            target = self.target(server)
            return None if target.transport == "sse" else self._connection(server, target).negotiation()
        except UpstreamError:
            return None

    # ------------------------------------------------------------- calling
    def call(
        self, principal: Principal, resolved: Resolved, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        """Call one tool by its exposed name; returns the MCP ``CallToolResult`` (wire form) and a receipt id.

        Raises:
            NotFoundError: no such tool in this scope.
            ForbiddenError: a viewer, a disabled tool, or a stopped server (a ``denied`` receipt is left).
            ApprovalRequiredError: the tool's definition is not approved (``denied`` receipt).
            RateLimitedError: a rate limit is used up (``rate_limited`` receipt, ``retry_after`` seconds).
            UpstreamError / UpstreamTimeoutError: the downstream failed (``error`` / ``timeout`` receipt).
        """
        entry = resolved.entries.get(name)
        if entry is None:
            raise NotFoundError("tool", name)
        started = time.perf_counter()
        upstream_ms: float | None = None
        try:
            auth.require_member(principal, Role.MEMBER)
            if not entry.enabled:
                refused = ApprovalRequiredError if entry.error_code == "APPROVAL_REQUIRED" else ForbiddenError
                raise refused(f"tool {name} is not available: {entry.reason}", tool=name, reason=entry.reason)
            self.limiter.acquire(self.rate_limits(principal, resolved, entry))
            upstream_started = time.perf_counter()
            result = self._execute(entry, arguments)
            upstream_ms = (time.perf_counter() - upstream_started) * 1000
        except PorticoError as exc:
            status: ReceiptStatus = (
                "timeout"
                if isinstance(exc, UpstreamTimeoutError)
                else "error"
                if isinstance(exc, UpstreamError)
                else "rate_limited"
                if exc.code == "RATE_LIMITED"
                else "denied"
            )
            self._receipt(principal, resolved, entry, arguments, ctx, started, status, exc.code, None, upstream_ms)
            raise
        meta = result.get("_meta")
        if isinstance(meta, dict):
            meta.pop(SERVER_INFO_META, None)
            if not meta:
                result.pop("_meta")
        result.pop("resultType", None)
        receipt_id = self._receipt(
            principal,
            resolved,
            entry,
            arguments,
            ctx,
            started,
            "error" if result.get("isError") else "ok",
            None,
            result,
            upstream_ms,
        )
        return {"result": result, "receipt_id": receipt_id}

    @staticmethod
    def rate_limits(principal: Principal, resolved: Resolved, entry: Entry) -> list[Limit]:
        """The limits one call must pass, most specific first: the tool's, the server's, the principal's."""
        limits = []
        server = entry.server
        configured = (server or {}).get("rate_limits") or {}
        if server is not None:
            per_tool = (configured.get("tools") or {}).get(entry.tool["name"])
            if per_tool:
                key = f"T#{server['id']}#{entry.tool['name']}"
                limits.append(Limit("tool", key, int(per_tool["limit"]), int(per_tool["interval"])))
            if configured.get("limit"):
                limits.append(
                    Limit("server", f"S#{server['id']}", int(configured["limit"]), int(configured["interval"]))
                )
        limit, interval = org_settings.principal_limit(resolved.settings, principal.tier)
        limits.append(Limit("principal", f"P#{resolved.org_id}#{principal.principal_id}", limit, interval))
        return limits

    def _execute(self, entry: Entry, arguments: dict[str, Any]) -> dict[str, Any]:
        if entry.server is None:
            from portico.gateway.http_tools import execute_http_tool

            return execute_http_tool(entry.tool, arguments)
        result = self._request(entry.server, "tools/call", {"name": entry.tool["name"], "arguments": arguments})
        if not isinstance(result, dict) or not isinstance(result.get("content", []), list):
            raise UpstreamError(
                f"server {entry.server['name']} answered a malformed tool result", server_id=entry.server["id"]
            )
        return result

    def _receipt(
        self,
        principal: Principal,
        resolved: Resolved,
        entry: Entry,
        arguments: dict[str, Any],
        ctx: CallContext,
        started: float,
        status: ReceiptStatus,
        error_code: str | None,
        result: dict[str, Any] | None,
        upstream_ms: float | None,
    ) -> str | None:
        if self.receipts is None:
            return None
        receipt_id = new_receipt_id()
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        created = time.time()
        token = caller_token()
        # What the receipt needs is captured now; digests, preview and the event itself are built on
        # the publishing thread, after the caller has its answer. The answer's top level and `_meta`
        # are copied: the protocol adds its receipt id there while the receipt may be being built.
        if result is not None:
            result = dict(result)
            if isinstance(result.get("_meta"), dict):
                result["_meta"] = dict(result["_meta"])

        def build() -> ToolExecuted:
            encoded = dumps(result) if result is not None else None  # one serialization for digest and size
            return ToolExecuted(
                receipt_id=receipt_id,
                org_id=resolved.org_id,
                principal_id=principal.principal_id,
                principal_kind=principal.kind.value,
                key_id=principal.key_id,
                client_name=ctx.client_name,
                client_version=ctx.client_version,
                source=ctx.source,
                toolset_id=resolved.scope_id if resolved.kind == "toolset" else None,
                server_id=entry.server["id"] if entry.server else None,
                tool_name=entry.tool["name"],
                tool_id=entry.tool["id"],
                exposed_name=entry.exposed,
                definition_hash=entry.tool.get("definition_hash"),
                policy_decision="deny" if status in ("denied", "rate_limited") else "allow",
                status=status,
                error_code=error_code,
                latency_ms=latency_ms,
                upstream_latency_ms=round(upstream_ms, 2) if upstream_ms is not None else None,
                arguments_digest=digest(arguments),
                arguments_preview=self._scrubbed(resolved.org_id, preview(arguments), token),
                result_digest=digest_text(encoded) if encoded is not None else None,
                result_size=len(encoded) if encoded is not None else 0,
                request_id=ctx.request_id,
                session_id=ctx.session_id,
                created_at=iso(datetime.fromtimestamp(created, UTC)),
                retention_days=org_settings.retention_days(resolved.settings),
            )

        self.receipts.publish(build)
        return receipt_id

    def _scrubbed(self, org_id: str, text: str, token: str | None) -> str:
        """A receipt's argument preview without any secret value this process knows, nor the caller's token."""
        known = self.secrets.known_values(org_id) if self.secrets is not None else []
        for value in [*known, *([token] if token else [])]:
            # The preview is JSON: look for the value as it appears there (quotes, newlines escaped) too.
            for form in {value, json.dumps(value, ensure_ascii=False)[1:-1]}:
                if len(form) >= 4 and form in text:
                    text = text.replace(form, "[secret]")
        return text

    # ------------------------------------------------------------- resources and prompts
    def aggregate(self, resolved: Resolved, method: str, key: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``resources/list``, ``resources/templates/list`` or ``prompts/list`` across the scope's servers."""
        servers = [s for s in resolved.servers.values() if s.get("status") == "running"]
        capability = "prompts" if method.startswith("prompts") else "resources"

        def one(server: dict[str, Any]) -> list[dict[str, Any]]:
            try:
                return list(self._request(server, method, {}).get(key, []))
            except UpstreamError as exc:
                # A server without the capability answers -32601: that is an empty list, not an error.
                if getattr(exc, "rpc_code", None) == -32601:
                    return []
                raise

        results, errors = self.fan_out(resolved, one, servers)
        items: list[dict[str, Any]] = []
        for server_id, listed in results.items():
            server = resolved.servers[server_id]
            for item in listed:
                if capability == "prompts" and resolved.kind != "server":
                    item = {**item, "name": f"{server['name']}__{item.get('name')}"}
                items.append(item)
        return items, errors

    def get_prompt(self, resolved: Resolved, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        server, prompt = self._split(resolved, name)
        return dict(self._request(server, "prompts/get", {"name": prompt, "arguments": arguments}))

    def read_resource(self, resolved: Resolved, uri: str) -> dict[str, Any]:
        """Read a resource from whichever server in the scope has it (asked in parallel)."""
        servers = [s for s in resolved.servers.values() if s.get("status") == "running"]
        results, errors = self.fan_out(resolved, lambda s: self._request(s, "resources/read", {"uri": uri}), servers)
        for result in results.values():
            if result.get("contents"):
                return dict(result)
        if errors and not results:
            first = errors[0]
            raise UpstreamError(first["message"], server_id=first["server_id"])
        raise NotFoundError("resource", uri)

    def _split(self, resolved: Resolved, name: str) -> tuple[dict[str, Any], str]:
        if resolved.kind == "server":
            return next(iter(resolved.servers.values())), name
        prefix, sep, rest = name.partition("__")
        for server in resolved.servers.values():
            if sep and server["name"] == prefix:
                return server, rest
        raise NotFoundError("prompt", name)


def _sdk_request(target: Target, method: str, params: dict[str, Any]) -> Any:
    """Legacy SSE downstreams: one request through the `mcp` SDK client (imported only for them)."""
    from portico.gateway import downstream

    async def operation(client: Any) -> Any:
        session = client.session
        if method == "tools/list":
            result = await session.list_tools()
        elif method == "tools/call":
            result = await session.call_tool(params["name"], params.get("arguments") or {})
        elif method == "resources/list":
            result = await session.list_resources()
        elif method == "resources/templates/list":
            result = await session.list_resource_templates()
        elif method == "resources/read":
            result = await session.read_resource(params["uri"])
        elif method == "prompts/list":
            result = await session.list_prompts()
        elif method == "prompts/get":
            result = await session.get_prompt(params["name"], params.get("arguments") or {})
        else:
            raise UpstreamError(f"{method} is not proxied to SSE servers", server_id=target.server_id)
        return result.model_dump(mode="json", by_alias=True, exclude_none=True)

    return downstream.run(target, operation)
