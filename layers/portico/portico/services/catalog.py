"""Tools and toolsets (seed 001): curation, HTTP-backed tools, direct execution, bundles with an MCP URL."""

from __future__ import annotations

import contextvars
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from portico import auth
from portico.errors import ConflictError, NotFoundError, ValidationError
from portico.gateway import policy
from portico.gateway.service import CallContext, Gateway, tool_state, tool_verdict
from portico.ids import new_id, now_iso
from portico.models.common import ListQuery, Page, Role
from portico.models.identity import Principal
from portico.models.servers import ServerCreate
from portico.models.toolsets import (
    ExecuteRequest,
    ExecuteResult,
    ExposedTool,
    FromServers,
    GatewayRegister,
    GatewaySync,
    HttpToolCreate,
    ToolPatch,
    Toolset,
    ToolsetCreate,
    ToolsetPatch,
    ToolsetTools,
)
from portico.repositories.main import MainRepository
from portico.services import org_settings
from portico.services.access import owned
from portico.services.servers import ServerService, definition_hash, public_base_url

MAX_TOOLS = 500


def _matches(item: dict[str, Any], query: ListQuery) -> bool:
    if query.status and item.get("status") != query.status:
        return False
    if query.search and query.search.lower() not in f"{item.get('name')} {item.get('description') or ''}".lower():
        return False
    if any(tag not in (item.get("tags") or []) for tag in query.tags):
        return False
    created = item.get("created_at", "")
    if query.created_after and created < query.created_after.isoformat()[:19]:
        return False
    return not (query.created_before and created >= query.created_before.isoformat()[:19])


def _joins(tool: dict[str, Any], server: dict[str, Any]) -> bool:
    enabled, _, code = tool_verdict(tool, server)
    return enabled or code == "APPROVAL_REQUIRED"


class ToolService:
    def __init__(self, repo: MainRepository, gateway: Gateway, servers: ServerService) -> None:
        self.repo = repo
        self.gateway = gateway
        self.servers = servers

    def _view(self, tool: dict[str, Any], server: dict[str, Any] | None) -> dict[str, Any]:
        enabled, reason = tool_state(tool, server)
        view = {k: v for k, v in tool.items() if k != "http"}
        if tool.get("origin") == "http":
            view["http"] = {**tool["http"], "headers": {k: "********" for k in tool["http"].get("headers", {})}}
        view.update(
            status="active" if enabled else "disabled",
            disabled=not enabled,
            disabled_reason=reason,
            server_name=server["name"] if server else None,
            approval_status=policy.approval_status(tool, server),
        )
        return view

    def _load(self, principal: Principal, tool_id: str, role: Role = Role.VIEWER) -> tuple[dict[str, Any], int]:
        return owned(self.repo, principal, "tool", tool_id, role)

    def _server(self, tool: dict[str, Any]) -> dict[str, Any] | None:
        if not tool.get("server_id"):
            return None
        found = self.repo.get_server(tool["org_id"], tool["server_id"])
        return found[0] if found else None

    def list_tools(
        self, principal: Principal, query: ListQuery, server_id: str | None, toolset_id: str | None
    ) -> Page[Any]:
        """Every tool of the org (Query on the org's tool index), with derived status; newest first."""
        org_id = auth.require_member(principal)
        servers = {s["id"]: s for s in self.repo.org_servers(org_id)}
        if server_id:
            tools = self.repo.server_tools(server_id) if server_id in servers else []
        else:
            tools = self.repo.org_tools(org_id)
        if toolset_id:
            found = self.repo.get_toolset(org_id, toolset_id) if toolset_id.startswith("ts_") else None
            members = set(found[0].get("tool_ids", [])) if found else set()
            tools = [t for t in tools if t["id"] in members]
        views = [self._view(t, servers.get(t.get("server_id") or "")) for t in tools]
        views = [v for v in views if _matches(v, query)]
        views.sort(key=lambda v: (v["created_at"], v["id"]), reverse=True)
        return Page.of(views, query)

    def get(self, principal: Principal, tool_id: str) -> dict[str, Any]:
        tool, _ = self._load(principal, tool_id)
        return self._view(tool, self._server(tool))

    def update(self, principal: Principal, tool_id: str, body: ToolPatch) -> dict[str, Any]:
        """Tags, alias, description override, and status (for MCP tools: the server's disabled list).

        Raises:
            ConflictError: the alias collides with another exposed name in a toolset holding this tool.
        """
        tool, version = self._load(principal, tool_id, Role.ADMIN)
        changes = body.model_dump(exclude_unset=True, mode="json")
        if "alias" in changes:
            for toolset in self.repo.org_toolsets(tool["org_id"]):
                if tool_id in toolset.get("tool_ids", []):
                    probe = {**tool, "alias": changes["alias"]}
                    self._exposed_names(toolset, replace={tool_id: probe})
        status = changes.pop("status", None)
        tool.update(changes, updated_at=now_iso())
        if status is not None and tool.get("origin") == "http":
            tool["status"] = status
        self.repo.put_tool(tool, version)
        server = self._server(tool)
        if status is not None and server is not None:
            self.servers.toggle_tool(principal, server["id"], tool["name"], status == "disabled")
            server = self._server(tool)
        self.gateway.invalidate(tool["org_id"])
        return self._view(tool, server)

    def delete(self, principal: Principal, tool_id: str) -> None:
        """HTTP tools are deleted; a server's tools come back on sync, so disable them instead.

        Raises:
            ConflictError: an MCP tool (disable it, or remove its server).
        """
        tool, version = self._load(principal, tool_id, Role.ADMIN)
        if tool.get("origin") != "http":
            raise ConflictError(
                "tools discovered from a server come back on sync: disable it instead",
                tool_id=tool_id,
                server_id=tool.get("server_id"),
            )
        for toolset in self.repo.org_toolsets(tool["org_id"]):
            if tool_id in toolset.get("tool_ids", []):
                raise ConflictError("the tool is in a toolset: remove it there first", toolset_id=toolset["id"])
        self.repo.delete_tool(tool["org_id"], tool_id, version)
        self.gateway.invalidate(tool["org_id"])

    def create_http(self, principal: Principal, body: HttpToolCreate) -> dict[str, Any]:
        """Define a tool backed by an HTTP call.

        Raises:
            ValidationError: a URL placeholder the input schema does not declare.
            ConflictError: an HTTP tool of that name exists.
        """
        org_id = auth.require_member(principal, Role.ADMIN)
        declared = set((body.input_schema.get("properties") or {}).keys())
        undeclared = [p for p in body.placeholders() if p not in declared]
        if undeclared:
            raise ValidationError(
                f"URL placeholders not in input_schema.properties: {', '.join(undeclared)}",
                field="url",
                undeclared=undeclared,
            )
        if any(t["name"] == body.name and t.get("origin") == "http" for t in self.repo.org_tools(org_id)):
            raise ConflictError(f"an HTTP tool named {body.name!r} exists", field="name")
        stamp = now_iso()
        tool = {
            "id": new_id("tool"),
            "org_id": org_id,
            "server_id": None,
            "name": body.name,
            "title": None,
            "description": body.description,
            "input_schema": body.input_schema,
            "output_schema": None,
            "annotations": None,
            "origin": "http",
            "tags": body.tags,
            "status": "active",
            "http": {
                "method": body.method,
                "url": body.url,
                "headers": body.headers,
                "body_mapping": body.body_mapping,
            },
            "created_by": principal.user_id or principal.principal_id,
            "created_at": stamp,
            "updated_at": stamp,
        }
        tool["definition_hash"] = definition_hash(tool)
        self.repo.put_tool(tool)
        self.gateway.invalidate(org_id)
        return self._view(tool, None)

    def execute(self, principal: Principal, tool_id: str, body: ExecuteRequest) -> ExecuteResult:
        """Run a tool directly (REST), with the gateway's policy and a receipt.

        Raises:
            NotFoundError, ForbiddenError, UpstreamError, UpstreamTimeoutError.
        """
        tool, _ = self._load(principal, tool_id)
        started = time.perf_counter()
        resolved = self.gateway.resolve(principal, "org")
        exposed = next((name for name, e in resolved.entries.items() if e.tool["id"] == tool_id), None)
        if exposed is None:
            raise NotFoundError("tool", tool_id)
        outcome = self.gateway.call(principal, resolved, exposed, body.arguments, CallContext("rest_execute"))
        result = outcome["result"]
        return ExecuteResult(
            status="error" if result.get("isError") else "ok",
            tool_id=tool_id,
            tool_name=tool["name"],
            elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
            is_error=bool(result.get("isError")),
            content=result.get("content", []),
            structured_content=result.get("structuredContent"),
            receipt_id=outcome["receipt_id"],
        )

    # ------------------------------------------------------------- exposure names
    def _exposed_names(
        self,
        toolset: dict[str, Any],
        replace: dict[str, dict[str, Any]] | None = None,
        add: list[dict[str, Any]] | None = None,
        aliases: dict[str, str] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Exposed name → tool for a toolset; raises on a collision, naming both tools and an alias to use.

        Raises:
            ConflictError: two tools would be exposed under one name.
        """
        catalog = {t["id"]: t for t in self.repo.org_tools(toolset["org_id"])}
        servers = {s["id"]: s["name"] for s in self.repo.org_servers(toolset["org_id"])}
        catalog.update(replace or {})
        for added in add or []:
            catalog[added["id"]] = added
        merged_aliases = {**(toolset.get("aliases") or {}), **(aliases or {})}
        ids = list(dict.fromkeys([*toolset.get("tool_ids", []), *[t["id"] for t in add or []]]))
        names: dict[str, dict[str, Any]] = {}
        for tool_id in ids:
            tool = catalog.get(tool_id)
            if tool is None:
                continue
            name = merged_aliases.get(tool_id) or tool.get("alias") or tool["name"]
            other = names.get(name)
            if other is not None:
                prefix = servers.get(tool.get("server_id") or "", "http")
                raise ConflictError(
                    f"tools {other['id']} and {tool['id']} would both be exposed as {name!r}",
                    exposed_name=name,
                    tools=[other["id"], tool["id"]],
                    suggestion={"tool_id": tool["id"], "alias": f"{prefix}__{tool['name']}"},
                )
            names[name] = tool
        return names


class ToolsetService:
    def __init__(self, repo: MainRepository, gateway: Gateway, tools: ToolService, servers: ServerService) -> None:
        self.repo = repo
        self.gateway = gateway
        self.tools = tools
        self.servers = servers

    def _view(self, toolset: dict[str, Any], detail: bool = False) -> Toolset:
        base = public_base_url()
        view = {
            **toolset,
            "tools_count": len(toolset.get("tool_ids", [])),
            "mcp_url": f"{base}/mcp/toolsets/{toolset['id']}" if base else None,
        }
        if detail:
            catalog = {t["id"]: t for t in self.repo.org_tools(toolset["org_id"])}
            servers = {s["id"]: s for s in self.repo.org_servers(toolset["org_id"])}
            aliases = toolset.get("aliases") or {}
            exposed = []
            for tool_id in toolset.get("tool_ids", []):
                tool = catalog.get(tool_id)
                if tool is None:
                    continue
                server = servers.get(tool.get("server_id") or "")
                enabled, _ = tool_state(tool, server)
                exposed.append(
                    ExposedTool(
                        tool_id=tool_id,
                        exposed_name=aliases.get(tool_id) or tool.get("alias") or tool["name"],
                        name=tool["name"],
                        server_id=tool.get("server_id"),
                        server_name=server["name"] if server else None,
                        description=tool.get("description_override") or tool.get("description"),
                        status="active" if enabled else "disabled",
                    )
                )
            view["tools"] = exposed
        return Toolset.model_validate(view)

    def _load(self, principal: Principal, toolset_id: str, role: Role = Role.VIEWER) -> tuple[dict[str, Any], int]:
        return owned(self.repo, principal, "toolset", toolset_id, role)

    def _tools_of_org(self, org_id: str, tool_ids: list[str]) -> list[dict[str, Any]]:
        catalog = {t["id"]: t for t in self.repo.org_tools(org_id)}
        unknown = [t for t in tool_ids if t not in catalog]
        if unknown:
            raise ValidationError("unknown tool ids", field="tool_ids", unknown_tools=unknown)
        return [catalog[t] for t in tool_ids]

    def create(self, principal: Principal, body: ToolsetCreate) -> Toolset:
        """Raises: ValidationError (unknown tools), ConflictError (exposed-name collision)."""
        org_id = auth.require_member(principal, Role.ADMIN)
        stamp = now_iso()
        exposure = (
            body.exposure_mode.value
            if "exposure_mode" in body.model_fields_set
            else org_settings.exposure_mode(self.gateway.org_settings(org_id))  # the org's default_exposure_mode
        )
        toolset: dict[str, Any] = {
            "id": new_id("ts"),
            "org_id": org_id,
            "name": body.name,
            "description": body.description,
            "tags": body.tags,
            "exposure_mode": exposure,
            "status": "active",
            "tool_ids": [],
            "aliases": {},
            "gateway_server_ids": [],
            "created_by": principal.user_id or principal.principal_id,
            "created_at": stamp,
            "updated_at": stamp,
        }
        tools = self._tools_of_org(org_id, list(dict.fromkeys(body.tool_ids)))
        self.tools._exposed_names(toolset, add=tools, aliases=body.aliases)
        member_ids = [t["id"] for t in tools]
        toolset["tool_ids"] = member_ids
        toolset["aliases"] = {k: v for k, v in body.aliases.items() if k in member_ids}
        self.repo.put_toolset(toolset)
        return self._view(toolset, detail=True)

    def list_toolsets(self, principal: Principal, query: ListQuery) -> Page[Toolset]:
        org_id = auth.require_member(principal)
        items, total = self.repo.page(f"ORG#{org_id}#TOOLSET", query)
        return Page(items=[self._view(t) for t in items], total=total, limit=query.limit, offset=query.offset)

    def get(self, principal: Principal, toolset_id: str) -> Toolset:
        return self._view(self._load(principal, toolset_id)[0], detail=True)

    def update(self, principal: Principal, toolset_id: str, body: ToolsetPatch) -> Toolset:
        toolset, version = self._load(principal, toolset_id, Role.ADMIN)
        changes = body.model_dump(exclude_unset=True, mode="json")
        if any(v is None for k, v in changes.items() if k != "description"):
            raise ValidationError("fields other than description cannot be null", fields=sorted(changes))
        toolset.update(changes, updated_at=now_iso())
        self.repo.put_toolset(toolset, version)
        self.gateway.invalidate(toolset["org_id"])
        return self._view(toolset, detail=True)

    def delete(self, principal: Principal, toolset_id: str) -> None:
        toolset, version = self._load(principal, toolset_id, Role.ADMIN)
        self.repo.delete_toolset(toolset["org_id"], toolset_id, version)
        self.gateway.invalidate(toolset["org_id"])

    def add_tools(self, principal: Principal, toolset_id: str, body: ToolsetTools) -> Toolset:
        """Raises: ValidationError (unknown tools, too many), ConflictError (collision or concurrent change)."""
        toolset, version = self._load(principal, toolset_id, Role.ADMIN)
        return self._add(toolset, version, self._tools_of_org(toolset["org_id"], body.tool_ids), body.aliases)

    def _add(
        self, toolset: dict[str, Any], version: int, tools: list[dict[str, Any]], aliases: dict[str, str]
    ) -> Toolset:
        self.tools._exposed_names(toolset, add=tools, aliases=aliases)
        ids = list(dict.fromkeys([*toolset.get("tool_ids", []), *[t["id"] for t in tools]]))
        if len(ids) > MAX_TOOLS:
            raise ValidationError(f"a toolset holds at most {MAX_TOOLS} tools", field="tool_ids")
        toolset.update(tool_ids=ids, aliases={**toolset.get("aliases", {}), **aliases}, updated_at=now_iso())
        self.repo.put_toolset(toolset, version)
        self.gateway.invalidate(toolset["org_id"])
        return self._view(toolset, detail=True)

    def remove_tool(self, principal: Principal, toolset_id: str, tool_id: str) -> Toolset:
        toolset, version = self._load(principal, toolset_id, Role.ADMIN)
        if tool_id not in toolset.get("tool_ids", []):
            raise NotFoundError("tool", tool_id)
        toolset["tool_ids"] = [t for t in toolset["tool_ids"] if t != tool_id]
        toolset.get("aliases", {}).pop(tool_id, None)
        toolset["updated_at"] = now_iso()
        self.repo.put_toolset(toolset, version)
        self.gateway.invalidate(toolset["org_id"])
        return self._view(toolset, detail=True)

    def from_servers(self, principal: Principal, body: FromServers) -> Toolset:
        """One request: a toolset with every enabled tool of these servers (synced first if never synced).

        Raises:
            NotFoundError: a server is not in this org.  ConflictError: a collision (with on_conflict=error).
        """
        org_id = auth.require_member(principal, Role.ADMIN)
        servers = []
        for server_id in dict.fromkeys(body.server_ids):
            found = self.repo.get_server(org_id, server_id)
            if found is None:
                raise NotFoundError("server", server_id)
            servers.append(found[0])
        unsynced = [s["id"] for s in servers if not s.get("last_synced_at")]
        if unsynced:
            # Each sync is a few round trips to its server: run them side by side. Every sync stands on
            # its own (written whole or not at all); the first failure, in request order, is the answer.
            context = contextvars.copy_context()
            with ThreadPoolExecutor(max_workers=min(8, len(unsynced)), thread_name_prefix="sync") as pool:
                list(pool.map(lambda sid: context.copy().run(self.servers.sync, principal, sid), unsynced))
        tools: list[dict[str, Any]] = []
        for server in servers:
            if server["id"] in unsynced:
                found = self.repo.get_server(org_id, server["id"])
                if found is None:
                    raise NotFoundError("server", server["id"])  # deleted meanwhile
                server = found[0]
            # Tools awaiting approval join too: they are exposed once approved, refused until then.
            tools += [t for t in self.repo.server_tools(server["id"]) if _joins(t, server)]
        aliases = self._prefix_collisions(tools) if body.on_conflict == "prefix" else {}
        fields: dict[str, Any] = {
            "name": body.name,
            "description": body.description,
            "tool_ids": [t["id"] for t in tools][:MAX_TOOLS],
            "aliases": aliases,
        }
        if "exposure_mode" in body.model_fields_set:
            fields["exposure_mode"] = body.exposure_mode
        return self.create(principal, ToolsetCreate(**fields))

    def _prefix_collisions(self, tools: list[dict[str, Any]]) -> dict[str, str]:
        counts: dict[str, int] = {}
        for tool in tools:
            counts[tool.get("alias") or tool["name"]] = counts.get(tool.get("alias") or tool["name"], 0) + 1
        names = {s["id"]: s["name"] for t in tools[:1] for s in self.repo.org_servers(t["org_id"])}
        return {
            t["id"]: f"{names.get(t.get('server_id') or '', 'http')}__{t['name']}"
            for t in tools
            if counts[t.get("alias") or t["name"]] > 1
        }

    # ------------------------------------------------------------- gateway (seed 001)
    def gateway_register(self, principal: Principal, toolset_id: str, body: GatewayRegister) -> GatewaySync:
        """Register an external server, sync it and add its tools to the toolset in one request.

        A collision (with ``on_conflict: error``) removes the just-registered server again: nothing is left half-done.
        """
        toolset, _ = self._load(principal, toolset_id, Role.ADMIN)
        server = self.servers.create(
            principal,
            ServerCreate.model_validate(body.model_dump(exclude={"on_conflict"})),
        )
        try:
            synced = self.servers.sync(principal, server.id)
            toolset, version = self._load(principal, toolset_id, Role.ADMIN)
            tools = [t for t in self.repo.server_tools(server.id)]
            aliases = self._prefix_collisions_against(toolset, tools) if body.on_conflict == "prefix" else {}
            toolset["gateway_server_ids"] = list(dict.fromkeys([*toolset.get("gateway_server_ids", []), server.id]))
            view = self._add(toolset, version, tools, aliases)
        except Exception:
            self.servers.delete(principal, server.id)
            raise
        return GatewaySync(
            server_id=server.id,
            added=synced.added,
            changed=[],
            removed=[],
            pending_approval=synced.pending_approval,
            quarantined=synced.quarantined,
            flags=synced.flags,
            toolset=view,
        )

    def _prefix_collisions_against(self, toolset: dict[str, Any], tools: list[dict[str, Any]]) -> dict[str, str]:
        taken = set(self.tools._exposed_names(toolset).keys())
        names = {s["id"]: s["name"] for s in self.repo.org_servers(toolset["org_id"])}
        return {
            t["id"]: f"{names.get(t['server_id'], 'http')}__{t['name']}"
            for t in tools
            if (t.get("alias") or t["name"]) in taken
        }

    def gateway_list(self, principal: Principal, toolset_id: str) -> list[Any]:
        toolset, _ = self._load(principal, toolset_id)
        return [
            self.servers.get(principal, s)
            for s in toolset.get("gateway_server_ids", [])
            if self.repo.get_server(toolset["org_id"], s)
        ]

    def gateway_sync(self, principal: Principal, toolset_id: str, server_id: str) -> GatewaySync:
        """Re-sync a gateway server: new tools join the toolset, vanished ones leave it."""
        toolset, _ = self._load(principal, toolset_id, Role.ADMIN)
        if server_id not in toolset.get("gateway_server_ids", []):
            raise NotFoundError("gateway server", server_id)
        synced = self.servers.sync(principal, server_id)
        toolset, version = self._load(principal, toolset_id, Role.ADMIN)
        catalog_ids = {t["id"] for t in self.repo.org_tools(toolset["org_id"])}
        toolset["tool_ids"] = [t for t in toolset["tool_ids"] if t in catalog_ids]  # vanished tools leave
        new = [t for t in self.repo.server_tools(server_id) if t["id"] not in toolset["tool_ids"]]
        view = self._add(toolset, version, new, {}) if new else self._save(toolset, version)
        return GatewaySync(
            server_id=server_id,
            added=synced.added,
            changed=synced.changed,
            removed=synced.removed,
            pending_approval=synced.pending_approval,
            quarantined=synced.quarantined,
            flags=synced.flags,
            toolset=view,
        )

    def _save(self, toolset: dict[str, Any], version: int) -> Toolset:
        toolset["updated_at"] = now_iso()
        self.repo.put_toolset(toolset, version)
        self.gateway.invalidate(toolset["org_id"])
        return self._view(toolset, detail=True)

    def gateway_detach(self, principal: Principal, toolset_id: str, server_id: str) -> Toolset:
        """Take a gateway server's tools out of the toolset (the server itself stays registered)."""
        toolset, version = self._load(principal, toolset_id, Role.ADMIN)
        if server_id not in toolset.get("gateway_server_ids", []):
            raise NotFoundError("gateway server", server_id)
        owned = {t["id"] for t in self.repo.server_tools(server_id)}
        toolset["tool_ids"] = [t for t in toolset["tool_ids"] if t not in owned]
        toolset["aliases"] = {k: v for k, v in toolset.get("aliases", {}).items() if k not in owned}
        toolset["gateway_server_ids"] = [s for s in toolset["gateway_server_ids"] if s != server_id]
        return self._save(toolset, version)

    def client_config(self, principal: Principal, toolset_id: str, client: str) -> dict[str, Any]:
        """A ready-to-paste MCP client configuration (the API key stays a placeholder)."""
        toolset, _ = self._load(principal, toolset_id)
        url = f"{public_base_url()}/mcp/toolsets/{toolset_id}"
        name = "portico-" + "".join(c if c.isalnum() else "-" for c in toolset["name"].lower()).strip("-")
        header = "Bearer ${PORTICO_API_KEY}"
        if client == "vscode":
            config: dict[str, Any] = {
                "inputs": [
                    {
                        "type": "promptString",
                        "id": "portico-api-key",
                        "description": "Portico API key",
                        "password": True,
                    }
                ],
                "servers": {
                    name: {"type": "http", "url": url, "headers": {"Authorization": "Bearer ${input:portico-api-key}"}}
                },
            }
            where = ".vscode/mcp.json"
        elif client == "cursor":
            config = {"mcpServers": {name: {"url": url, "headers": {"Authorization": header}}}}
            where = "~/.cursor/mcp.json"
        elif client == "claude":
            config = {
                "mcpServers": {
                    name: {
                        "command": "npx",
                        "args": ["-y", "mcp-remote", url, "--header", "Authorization:${AUTH_HEADER}"],
                        "env": {"AUTH_HEADER": header},
                    }
                }
            }
            where = "claude_desktop_config.json"
        else:
            raise ValidationError("client must be claude, vscode or cursor", field="client")
        return {
            "client": client,
            "file": where,
            "mcp_url": url,
            "config": config,
            "note": "Replace ${PORTICO_API_KEY} with an API key (POST /v1/api-keys); never commit it.",
        }
