"""The registry of MCP servers (remote for now) and the tools discovered from them."""

from __future__ import annotations

import contextlib
import hashlib
import time
from typing import TYPE_CHECKING, Any

from portico import auth
from portico.context import public_base_url
from portico.errors import (
    ConflictError,
    QuotaExceededError,
    UpstreamError,
    ValidationError,
)
from portico.gateway import credentials, downstream, policy
from portico.gateway.service import CallContext, Gateway
from portico.ids import new_id, now_iso
from portico.models.common import ListQuery, Role
from portico.models.identity import Principal
from portico.models.policy import ApproveResult, ApproveTools, ToolFlag
from portico.models.servers import (
    AccessInfo,
    ApprovalPolicy,
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

# (``ServerService.list`` shadows the builtin in the class body's annotations)
ToolRecords = list[dict[str, Any]]
Flags = list[ToolFlag]

if TYPE_CHECKING:
    from portico.services.secrets import SecretService

MASK = credentials.MASK
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
    def __init__(self, repo: MainRepository, gateway: Gateway, secrets: SecretService | None = None) -> None:
        self.repo = repo
        self.gateway = gateway
        self.secrets = secrets

    # ------------------------------------------------------------- views
    def _view(self, principal: Principal, server: dict[str, Any]) -> Server:
        is_creator = bool(principal.user_id) and server.get("created_by") == principal.user_id
        role = principal.role.value if principal.role else None
        hosted = server.get("source_type", "remote") != "remote"
        return Server.model_validate(
            {
                **server,
                **credentials.public_config(server),
                # A hosted server's own address is internal: callers reach it at endpoint_url.
                "url": None if hosted else server.get("url"),
                "env": masked_env(server["env"]) if hosted and server.get("env") is not None else None,
                "is_creator": is_creator,
                "role": role,
                "access_info": AccessInfo(role=role, is_creator=is_creator, creator_id=server.get("created_by")),
            }
        )

    def _load(self, principal: Principal, server_id: str, role: Role = Role.VIEWER) -> tuple[dict[str, Any], int]:
        return owned(self.repo, principal, "server", server_id, role)

    def target(self, server: dict[str, Any]) -> downstream.Target:
        """The downstream target, secret references resolved now.

        Raises:
            UpstreamError: a referenced secret is missing.
            ConflictError: a hosted server that is not running has no address.
        """
        if not server.get("url"):
            raise ConflictError(f"server {server['name']} is {server.get('status')}: it has no address yet")
        return self.gateway.target(server)

    def _check_references(self, org_id: str, server: dict[str, Any]) -> None:
        """Every secret a server config refers to must exist when the config is written.

        Raises:
            ValidationError: 400 naming the field and the secret.
        """
        for field, value in credentials.configured_values(server):
            if value == MASK:
                raise ValidationError(
                    f"{field}: the value is masked; send the real value or a secret reference", field=field
                )
        refs = credentials.references(server)
        if not refs:
            return
        if self.secrets is None:
            raise ValidationError("secrets are not available on this deployment", field=refs[0][0])
        missing = self.secrets.missing(org_id, server)
        if missing:
            field, name = missing[0]
            raise ValidationError(
                f"{field}: secret {name} does not exist", field=field, secret=name, missing=[n for _, n in missing]
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
        self._check_references(org_id, body.model_dump(mode="json"))
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
        self.insert_claiming(
            principal, server, QUOTA_COUNTER, limit, f"the {principal.tier} tier allows {limit} servers"
        )
        return self._view(principal, server)

    def insert_claiming(
        self, principal: Principal, server: dict[str, Any], counter: str, limit: int, over_quota: str
    ) -> None:
        """Write a new server and claim one unit of ``counter`` (at most ``limit``) in one transaction.

        Raises:
            ConflictError: the name is taken (``field: name``), or the write stayed contended (retryable).
            QuotaExceededError: ``counter`` is at ``limit`` (``over_quota`` is the message).
        """
        org_id, name = server["org_id"], server["name"]
        for attempt in range(3):
            try:
                self.repo.create_server(server, self.repo.quota_claim(org_id, counter, limit))
                return
            except ConflictError as exc:
                # Decide by the state after the failure, not by the position of a cancellation reason.
                if self.repo.server_name_taken(org_id, name):
                    raise ConflictError(f"a server named {name!r} already exists", field="name") from exc
                if self.repo.quota_used(org_id, counter) >= limit:
                    raise QuotaExceededError(over_quota, limit=limit, tier=str(principal.tier)) from exc
                if attempt == 2:
                    raise  # still contended: 409, safe to retry

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
        if any(v is None for k, v in changes.items() if k not in ("description", "rate_limits", "auth", "tls")):
            raise ValidationError("fields other than description cannot be null", fields=sorted(changes))
        baseline = self._policy_baseline(server, changes.get("approval_policy"))
        server.update(changes, updated_at=now_iso())
        if baseline is not None:
            server["tool_approval_hashes"] = policy.approved_hashes(baseline)
        self._check_references(server["org_id"], server)
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
        if baseline is not None:
            self.repo.replace_server_tools(baseline, [])
        self.gateway.invalidate(server["org_id"])
        self.gateway.connections.forget(server_id)
        return self._view(principal, server)

    def _policy_baseline(self, server: dict[str, Any], new_policy: str | None) -> ToolRecords | None:
        """Switching a synced server from ``auto_approve`` to ``require_approval_on_change`` approves what
        it has now, as a first sync would (later changes are then quarantined). From
        ``require_approval_all`` nothing is approved implicitly. Returns the tools to rewrite, if any."""
        old_policy = server.get("approval_policy", "auto_approve")
        if new_policy != "require_approval_on_change" or old_policy != "auto_approve":
            return None
        if not server.get("last_synced_at"):
            return None  # the first sync will approve
        tools = self.repo.server_tools(server["id"])
        for tool in tools:
            policy.approve(tool)
        return tools

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
        current: list[dict[str, Any]] = []
        first_on_change = server.get("approval_policy") == "require_approval_on_change" and not server.get(
            "last_synced_at"
        )
        for t in listed:
            # The wire form (camelCase, as clients and a live tools/list see it): stored, hashed and served as is.
            dumped = t.model_dump(mode="json", exclude_none=True, by_alias=True)
            tool = {
                "id": tool_id(server_id, t.name),
                "org_id": server["org_id"],
                "server_id": server_id,
                "name": t.name,
                "title": t.title,
                "description": t.description,
                "input_schema": dumped.get("inputSchema") or {},
                "output_schema": dumped.get("outputSchema"),
                "annotations": dumped.get("annotations"),
                "origin": "mcp",
            }
            tool["definition_hash"] = definition_hash(tool)
            previous = existing.get(t.name)
            for curated in ("tags", "alias", "description_override", "approved_hash", "approved_definition"):
                if previous and previous.get(curated) is not None:
                    tool[curated] = previous[curated]
            tool["created_at"] = previous["created_at"] if previous else stamp
            tool["updated_at"] = stamp
            current.append(tool)
            if first_on_change:
                policy.approve(tool)  # under require_approval_on_change, the first sync approves
            if previous is None:
                added.append(t.name)
            elif previous["definition_hash"] != tool["definition_hash"]:
                changed.append(t.name)
            else:
                unchanged += 1
                if not first_on_change:
                    continue
            upserts.append(tool)
        names = {t.name for t in listed}
        removals = [t for n, t in existing.items() if n not in names]
        self.repo.replace_server_tools(upserts, removals)
        # The approved hashes follow the tools: a removed tool's approval goes with it.
        done = {
            "tools_count": len(names),
            "last_synced_at": stamp,
            "last_checked_at": stamp,
            "last_error": None,
            "tool_approval_hashes": policy.approved_hashes(current),
            # A server that keeps no sessions: later connections adopt this instead of initializing.
            "negotiated": self.gateway.negotiation(server),
        }
        server.update(done)
        try:
            self.repo.put_server(server, version)
        except ConflictError:
            found = self.repo.get_server(server["org_id"], server_id)
            if found is None:
                raise
            fresh, fresh_version = found
            fresh.update(done)
            self.repo.put_server(fresh, fresh_version)
            server = fresh
        self.gateway.invalidate(server["org_id"])
        status = {t["name"]: policy.approval_status(t, server) for t in current}
        return SyncResult(
            server_id=server_id,
            tools_count=len(names),
            added=sorted(added),
            changed=sorted(changed),
            removed=sorted(t["name"] for t in removals),
            unchanged=unchanged,
            synced_at=stamp,
            approval_policy=ApprovalPolicy(server.get("approval_policy") or "auto_approve"),
            approved=sorted(t["name"] for t in current) if first_on_change else [],
            pending_approval=sorted(n for n, s in status.items() if s in ("pending", "quarantined")),
            quarantined=[policy.quarantine_view(t) for t in current if status[t["name"]] == "quarantined"],
            flags=self._flags(server, current),
        )

    def _flags(self, server: dict[str, Any], tools: ToolRecords) -> Flags:
        org_id = server["org_id"]
        names = {s["id"]: s["name"] for s in self.repo.org_servers(org_id)}
        return policy.flags_for(tools, server["id"], self.repo.org_tools(org_id), names)

    def tools(self, principal: Principal, server_id: str) -> ServerTools:
        """The server's tools with their disabled and approval state; a quarantined tool shows its approved
        and its new definition; flags name hidden characters and names shared with other servers' tools."""
        server, _ = self._load(principal, server_id)
        disabled = set(server.get("disabled_tools", []))
        stored = sorted(self.repo.server_tools(server_id), key=lambda t: t["name"])
        flags = self._flags(server, stored)
        status = {t["name"]: policy.approval_status(t, server) for t in stored}
        tools = [
            Tool.model_validate(
                {
                    **t,
                    "disabled": t["name"] in disabled,
                    "approval_status": status[t["name"]],
                    "approved_definition": t.get("approved_definition") if status[t["name"]] == "quarantined" else None,
                    "flags": [f for f in flags if f.tool == t["name"]],
                }
            )
            for t in stored
        ]
        return ServerTools(
            server_id=server_id,
            approval_policy=ApprovalPolicy(server.get("approval_policy") or "auto_approve"),
            tools=tools,
            disabled_tools=sorted(disabled),
            pending_approval=[n for n, s in status.items() if s in ("pending", "quarantined")],
            quarantined=[policy.quarantine_view(t) for t in stored if status[t["name"]] == "quarantined"],
            flags=flags,
            total=len(tools),
        )

    def approve(self, principal: Principal, server_id: str, body: ApproveTools) -> ApproveResult:
        """Pin the current definition hashes of the named tools (or all of them): they are exposed under
        an approval policy until their definition changes again.

        Raises:
            ForbiddenError: not an admin.  ValidationError: unknown tool names (``details.unknown_tools``).
            ConflictError: the server changed concurrently (retry).
        """
        server, version = self._load(principal, server_id, Role.ADMIN)
        tools = self.repo.server_tools(server_id)
        by_name = {t["name"]: t for t in tools}
        names = sorted(by_name) if body.all else sorted(set(body.tools or []))
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ValidationError("unknown tool names (sync the server first?)", field="tools", unknown_tools=unknown)
        for name in names:
            policy.approve(by_name[name])
        # The server record is what the gateway enforces: write it first, guarded by its version.
        server.update(tool_approval_hashes=policy.approved_hashes(tools), updated_at=now_iso())
        self.repo.put_server(server, version)
        self.repo.replace_server_tools([by_name[n] for n in names], [])
        self.gateway.invalidate(server["org_id"])
        status = {t["name"]: policy.approval_status(t, server) for t in tools}
        return ApproveResult(
            server_id=server_id,
            approved=names,
            tool_approval_hashes=server["tool_approval_hashes"],
            pending_approval=sorted(n for n, s in status.items() if s in ("pending", "quarantined")),
        )

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
