"""The registry of MCP servers (remote for now) and the tools discovered from them."""

from __future__ import annotations

import contextlib
import hashlib
import time
from typing import Any

from portico import auth
from portico.context import public_base_url
from portico.errors import (
    ConflictError,
    QuotaExceededError,
    UpstreamError,
    ValidationError,
)
from portico.gateway import downstream
from portico.gateway.service import CallContext, Gateway
from portico.ids import new_id, now_iso
from portico.models.common import ListQuery, Role
from portico.models.identity import Principal
from portico.models.servers import (
    AccessInfo,
    DisabledToolsUpdate,
    InvokeRequest,
    InvokeResult,
    Server,
    ServerCreate,
    ServerList,
    ServerPatch,
    ServerStatus,
    ServerTools,
    SyncResult,
    TestResult,
    Tool,
    ToolSummary,
)
from portico.repositories.dynamo import dumps
from portico.repositories.main import MainRepository
from portico.services.access import owned
from portico.services.limits import remote_server_limit

MASK = "********"
QUOTA_COUNTER = "remote_servers"


def definition_hash(tool: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of what a model sees of a tool (name, texts, schemas, annotations)."""
    subject = {k: tool.get(k) for k in ("name", "title", "description", "input_schema", "output_schema", "annotations")}
    return hashlib.sha256(dumps(subject).encode()).hexdigest()


def tool_id(server_id: str, name: str) -> str:
    """Stable per (server, tool name), so a re-sync updates rather than duplicates."""
    return "tool_" + hashlib.sha256(f"{server_id}\x00{name}".encode()).hexdigest()[:24]


def masked_env(env: dict[str, str]) -> dict[str, str]:
    """Environment as shown: secret references as written, plain values masked (they may be credentials)."""
    from portico.models.hosting import SECRET_REFERENCE

    return {k: v if SECRET_REFERENCE.match(v) else MASK for k, v in env.items()}


def endpoint_url(server_id: str) -> str | None:
    base = public_base_url()
    return f"{base}/mcp/servers/{server_id}" if base else None


class ServerService:
    def __init__(self, repo: MainRepository, gateway: Gateway) -> None:
        self.repo = repo
        self.gateway = gateway

    # ------------------------------------------------------------- views
    def _view(self, principal: Principal, server: dict[str, Any]) -> Server:
        is_creator = bool(principal.user_id) and server.get("created_by") == principal.user_id
        role = principal.role.value if principal.role else None
        hosted = server.get("source_type", "remote") != "remote"
        return Server.model_validate(
            {
                **server,
                # A hosted server's own address is internal: callers reach it at endpoint_url.
                "url": None if hosted else server.get("url"),
                "env": masked_env(server["env"]) if hosted and server.get("env") is not None else None,
                "headers": {name: MASK for name in server.get("headers", {})},
                "is_creator": is_creator,
                "role": role,
                "access_info": AccessInfo(role=role, is_creator=is_creator, creator_id=server.get("created_by")),
            }
        )

    def _load(self, principal: Principal, server_id: str, role: Role = Role.VIEWER) -> tuple[dict[str, Any], int]:
        return owned(self.repo, principal, "server", server_id, role)

    @staticmethod
    def target(server: dict[str, Any]) -> downstream.Target:
        """Raises:
        ConflictError: a hosted server that is not running has no address.
        """
        if not server.get("url"):
            raise ConflictError(f"server {server['name']} is {server.get('status')}: it has no address yet")
        return downstream.Target(
            server_id=server["id"],
            name=server["name"],
            url=server["url"],
            transport=server.get("transport") or "streamable-http",
            headers=dict(server.get("headers") or {}),
            hosted=server.get("source_type", "remote") != "remote",
        )

    # ------------------------------------------------------------- CRUD
    def create(self, principal: Principal, body: ServerCreate) -> Server:
        """Register a remote MCP server.

        Raises:
            ForbiddenError: not an admin.  ConflictError: the name is taken.
            QuotaExceededError: the tier's server quota is used up.
        """
        org_id = auth.require_member(principal, Role.ADMIN)
        limit = remote_server_limit(principal.tier)
        stamp = now_iso()
        server_id = new_id("mcp")
        server = {
            **body.model_dump(mode="json"),
            "id": server_id,
            "org_id": org_id,
            "status": ServerStatus.RUNNING.value,
            "endpoint_url": endpoint_url(server_id),
            "disabled_tools": [],
            "tool_approval_hashes": [],
            "tools_count": 0,
            "created_by": principal.user_id or principal.principal_id,
            "created_at": stamp,
            "updated_at": stamp,
        }
        for attempt in range(3):
            try:
                self.repo.create_server(server, self.repo.quota_claim(org_id, QUOTA_COUNTER, limit))
                break
            except ConflictError as exc:
                # Decide by the state after the failure, not by the position of a cancellation reason.
                if self.repo.server_name_taken(org_id, body.name):
                    raise ConflictError(f"a server named {body.name!r} already exists", field="name") from exc
                if self.repo.quota_used(org_id, QUOTA_COUNTER) >= limit:
                    raise QuotaExceededError(
                        f"the {principal.tier} tier allows {limit} servers", limit=limit, tier=str(principal.tier)
                    ) from exc
                if attempt == 2:
                    raise  # still contended: 409, safe to retry
        return self._view(principal, server)

    def list(self, principal: Principal, query: ListQuery) -> ServerList:
        org_id = auth.require_member(principal)
        items, total = self.repo.page(f"ORG#{org_id}#SERVER", query)
        return ServerList(
            servers=[self._view(principal, s) for s in items], total=total, limit=query.limit, offset=query.offset
        )

    def get(self, principal: Principal, server_id: str) -> Server:
        return self._view(principal, self._load(principal, server_id)[0])

    def update(self, principal: Principal, server_id: str, body: ServerPatch) -> Server:
        """Raises:
        NotFoundError, ForbiddenError, ConflictError (name taken or a concurrent change).
        """
        server, version = self._load(principal, server_id, Role.ADMIN)
        old_name = server["name"]
        changes = body.model_dump(exclude_unset=True, mode="json")
        hosted_only = sorted(set(changes) & {"url", "transport", "status"})
        if server.get("source_type", "remote") != "remote" and hosted_only:
            raise ValidationError(
                "a hosted server's address and status come from its platform: use /start, /stop, /restart",
                field=hosted_only[0],
            )
        if any(v is None for k, v in changes.items() if k not in ("description",)):
            raise ValidationError("fields other than description cannot be null", fields=sorted(changes))
        server.update(changes, updated_at=now_iso())
        try:
            self.repo.put_server(server, version, old_name=old_name)
        except ConflictError as exc:
            if (
                body.name
                and body.name.lower() != old_name.lower()
                and self.repo.server_name_taken(server["org_id"], body.name)
            ):
                raise ConflictError(f"a server named {body.name!r} already exists", field="name") from exc
            raise
        self.gateway.invalidate(server["org_id"])
        self.gateway.connections.forget(server_id)
        return self._view(principal, server)

    def delete(self, principal: Principal, server_id: str) -> None:
        server, version = self._load(principal, server_id, Role.ADMIN)
        self.repo.delete_server(server, version, self.repo.quota_release(server["org_id"], QUOTA_COUNTER))
        self.gateway.invalidate(server["org_id"])
        self.gateway.connections.forget(server_id)

    # ------------------------------------------------------------- talking to the server
    def test(self, principal: Principal, server_id: str) -> TestResult:
        """Connect (initialize + tools/list) and report; an unreachable server is a result, not an error."""
        server, version = self._load(principal, server_id, Role.MEMBER)
        started = time.perf_counter()

        async def probe(client: Any) -> TestResult:
            tools = (await client.list_tools()).tools
            info = client.server_info
            return TestResult(
                status="ok",
                connected=True,
                elapsed_ms=0,
                tools_count=len(tools),
                tools=[ToolSummary(name=t.name, title=t.title, description=t.description) for t in tools],
                server_info=info.model_dump(mode="json", exclude_none=True) if info else None,
                protocol_version=client.protocol_version,
            )

        try:
            result = downstream.run(self.target(server), probe)
        except UpstreamError as exc:  # includes UpstreamTimeoutError
            result = TestResult(
                status="error",
                connected=False,
                elapsed_ms=0,
                tools_count=0,
                tools=[],
                error_code=exc.code,
                error=exc.message,
            )
        result.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        self._record_check(server, version, result.error)
        return result

    def _record_check(self, server: dict[str, Any], version: int, error: str | None) -> None:
        server.update(last_checked_at=now_iso(), last_error=error)
        with contextlib.suppress(ConflictError):  # a concurrent edit wins; the check result is advisory
            self.repo.put_server(server, version)

    def sync(self, principal: Principal, server_id: str) -> SyncResult:
        """Fetch the server's tools and store them, reporting what was added, changed and removed.

        Raises:
            UpstreamError / UpstreamTimeoutError: the server could not be listed (nothing is changed).
        """
        server, version = self._load(principal, server_id, Role.ADMIN)
        return self.sync_record(server, version)

    def sync_record(self, server: dict[str, Any], version: int) -> SyncResult:
        """Sync one loaded server (also the hosting workflow's health check: initialize + tools/list).

        Raises:
            UpstreamError / UpstreamTimeoutError: the server could not be listed (nothing is changed).
            ConflictError: the server has no address (a hosted server that is not running).
        """
        server_id = server["id"]

        async def list_all(client: Any) -> list[Any]:
            tools, cursor = [], None
            for _ in range(100):  # bounded pagination
                page = await client.list_tools(cursor=cursor) if cursor else await client.list_tools()
                tools.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
            return tools

        try:
            listed = downstream.run(self.target(server), list_all)
        except UpstreamError as exc:
            self._record_check(server, version, exc.message)
            raise
        stamp = now_iso()
        existing = {t["name"]: t for t in self.repo.server_tools(server_id)}
        upserts, added, changed, unchanged = [], [], [], 0
        for t in listed:
            dumped = t.model_dump(mode="json", exclude_none=True)
            tool = {
                "id": tool_id(server_id, t.name),
                "org_id": server["org_id"],
                "server_id": server_id,
                "name": t.name,
                "title": t.title,
                "description": t.description,
                "input_schema": dumped.get("input_schema") or {},
                "output_schema": dumped.get("output_schema"),
                "annotations": dumped.get("annotations"),
                "origin": "mcp",
            }
            tool["definition_hash"] = definition_hash(tool)
            previous = existing.get(t.name)
            for curated in ("tags", "alias", "description_override"):
                if previous and previous.get(curated) is not None:
                    tool[curated] = previous[curated]
            tool["created_at"] = previous["created_at"] if previous else stamp
            tool["updated_at"] = stamp
            if previous is None:
                added.append(t.name)
            elif previous["definition_hash"] != tool["definition_hash"]:
                changed.append(t.name)
            else:
                unchanged += 1
                continue
            upserts.append(tool)
        names = {t.name for t in listed}
        removals = [t for n, t in existing.items() if n not in names]
        self.repo.replace_server_tools(upserts, removals)
        server.update(tools_count=len(names), last_synced_at=stamp, last_checked_at=stamp, last_error=None)
        try:
            self.repo.put_server(server, version)
        except ConflictError:
            found = self.repo.get_server(server["org_id"], server_id)
            if found is None:
                raise
            fresh, fresh_version = found
            fresh.update(tools_count=len(names), last_synced_at=stamp, last_checked_at=stamp, last_error=None)
            self.repo.put_server(fresh, fresh_version)
        self.gateway.invalidate(server["org_id"])
        return SyncResult(
            server_id=server_id,
            tools_count=len(names),
            added=sorted(added),
            changed=sorted(changed),
            removed=sorted(t["name"] for t in removals),
            unchanged=unchanged,
            synced_at=stamp,
        )

    def tools(self, principal: Principal, server_id: str) -> ServerTools:
        server, _ = self._load(principal, server_id)
        disabled = set(server.get("disabled_tools", []))
        tools = [
            Tool.model_validate({**t, "disabled": t["name"] in disabled}) for t in self.repo.server_tools(server_id)
        ]
        tools.sort(key=lambda t: t.name)
        return ServerTools(server_id=server_id, tools=tools, disabled_tools=sorted(disabled), total=len(tools))

    def set_disabled(self, principal: Principal, server_id: str, body: DisabledToolsUpdate) -> ServerTools:
        """Replace the disabled list; every name must be a known tool of this server.

        Raises:
            ValidationError: unknown tool names (listed in ``details.unknown_tools``).
        """
        server, version = self._load(principal, server_id, Role.ADMIN)
        known = {t["name"] for t in self.repo.server_tools(server_id)}
        unknown = sorted(set(body.disabled_tools) - known)
        if unknown:
            raise ValidationError(
                "unknown tool names (sync the server first?)", field="disabled_tools", unknown_tools=unknown
            )
        server.update(disabled_tools=sorted(set(body.disabled_tools)), updated_at=now_iso())
        self.repo.put_server(server, version)
        self.gateway.invalidate(server["org_id"])
        return self.tools(principal, server_id)

    def toggle_tool(self, principal: Principal, server_id: str, name: str, disabled: bool) -> None:
        """Add a tool to, or take it off, the server's disabled list (the one source of that state)."""
        server, version = self._load(principal, server_id, Role.ADMIN)
        names = set(server.get("disabled_tools") or [])
        names = names | {name} if disabled else names - {name}
        server.update(disabled_tools=sorted(names), updated_at=now_iso())
        self.repo.put_server(server, version)
        self.gateway.invalidate(server["org_id"])

    def invoke(self, principal: Principal, server_id: str, body: InvokeRequest) -> InvokeResult:
        """Call one tool for real, through the gateway's policy; every outcome leaves a receipt.

        Raises:
            NotFoundError: no such server, or a tool it does not have (sync first).
            ForbiddenError: a viewer, a disabled tool, or a stopped server.
            UpstreamError / UpstreamTimeoutError: the downstream failed.
        """
        self._load(principal, server_id, Role.MEMBER)
        started = time.perf_counter()
        resolved = self.gateway.resolve(principal, "server", server_id)
        outcome = self.gateway.call(principal, resolved, body.tool_name, body.arguments, CallContext("rest_invoke"))
        result = outcome["result"]
        return InvokeResult(
            status="error" if result.get("isError") else "ok",
            elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
            tool_name=body.tool_name,
            is_error=bool(result.get("isError")),
            result=result.get("content", []),
            structured_content=result.get("structuredContent"),
            receipt_id=outcome["receipt_id"],
        )
