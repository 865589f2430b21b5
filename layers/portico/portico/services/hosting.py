"""Hosted MCP servers (seed 000, SPEC §5): the API's side and every step of the provisioning workflows.

The API records intent (a server in ``provisioning``, ``deprovisioning``…) and starts a Step Functions
execution; the state machines call ``step`` for each piece of work, over the container-platform port
(ECS in AWS, local processes locally). Statuses: provisioning → running ⇄ stopped; any failure → error
(cause in the server's logs, what was created removed, the quota slot released); DELETE →
deprovisioning → gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from typing import Any

from portico import auth
from portico.context import public_base_url
from portico.errors import ConflictError, NotFoundError, PorticoError, QuotaExceededError, ValidationError
from portico.hosting.env import resolve_env
from portico.hosting.platform import Platform, Progress, Workload
from portico.ids import new_id, now_iso
from portico.models.common import ListQuery, Role, Tier
from portico.models.hosting import (
    ConnectResult,
    HostedServerCreate,
    LogPage,
    LogQuery,
    WorkflowInput,
    parse_create,
)
from portico.models.identity import Principal
from portico.models.servers import Server, ServerCreate, ServerList, ServerStatus
from portico.observability import logger
from portico.repositories.logs import LogStore
from portico.repositories.main import MainRepository
from portico.repositories.workflows import Workflows
from portico.services.access import owned
from portico.services.limits import hosted_server_limit
from portico.services.servers import ServerService
from portico.settings import get_settings

QUOTA_COUNTER = "hosted_servers"
LATEST_LOGS = 20


def is_hosted(server: dict[str, Any]) -> bool:
    return server.get("source_type", "remote") != "remote"


def cause_of(error: dict[str, Any] | None) -> str:
    """The human-readable cause of a state-machine error (a Lambda error's message, or the Cause text)."""
    import json

    if not error:
        return "unknown failure"
    cause = str(error.get("Cause") or error.get("Error") or "unknown failure")
    with contextlib.suppress(ValueError, AttributeError):
        parsed = json.loads(cause)
        if isinstance(parsed, dict) and parsed.get("errorMessage"):
            return str(parsed["errorMessage"])
    return cause[:2000]


class HostingService:
    def __init__(
        self,
        repo: MainRepository,
        servers: ServerService,
        workflows: Workflows,
        logs: Callable[[], LogStore],
        platform: Callable[[], Platform],
    ) -> None:
        self.repo = repo
        self.servers = servers
        self.workflows = workflows
        self._logs = logs
        self._platform = platform

    @property
    def logs(self) -> LogStore:
        return self._logs()

    @property
    def platform(self) -> Platform:
        return self._platform()

    # ================================================================ API
    def create_from(self, principal: Principal, raw: dict[str, Any], idempotency_key: str | None) -> dict[str, Any]:
        """POST /v1/mcp/servers: dispatch on ``source_type``; with an ``Idempotency-Key``, once per key.

        Raises:
            pydantic.ValidationError: a bad body (400 naming the field), and what ``create`` raises.
        """
        body = parse_create(raw)
        if idempotency_key is None:
            return self.create(principal, body).model_dump(mode="json")
        from portico.services.idempotency import once

        scope = f"{principal.org_id}:{principal.principal_id}"
        return once(scope, idempotency_key, raw, lambda: self.create(principal, body).model_dump(mode="json"))

    def create(self, principal: Principal, body: HostedServerCreate | ServerCreate) -> Server:
        """Register a remote server, or provision a hosted one (201 ``provisioning``; a workflow runs it).

        Raises:
            TierRequiredError: hosting needs the studio tier.  ForbiddenError: not an admin.
            QuotaExceededError: the organization hosts 5 servers already.  ConflictError: the name is taken.
            ValidationError: an env reference that cannot be resolved.
        """
        if isinstance(body, ServerCreate):
            return self.servers.create(principal, body)
        auth.require_tier(principal, Tier.STUDIO)
        org_id = auth.require_member(principal, Role.ADMIN)
        resolve_env(org_id, body.env)  # a reference that cannot resolve is a 400 now, not an error later
        limit = hosted_server_limit(principal.tier)
        stamp = now_iso()
        server_id = new_id("mcp")
        public = f"{public_base_url()}/mcp/servers/{server_id}" if public_base_url() else None
        server = {
            **body.model_dump(mode="json"),
            "id": server_id,
            "org_id": org_id,
            "transport": "streamable-http",
            "status": ServerStatus.PROVISIONING.value,
            "url": None,
            "endpoint_url": None,
            "public_url": public,
            "container_id": None,
            "quota_held": True,
            "headers": {},
            "disabled_tools": [],
            "tool_approval_hashes": [],
            "tools_count": 0,
            "created_by": principal.user_id or principal.principal_id,
            "created_at": stamp,
            "updated_at": stamp,
        }
        over_quota = f"the {principal.tier} tier hosts at most {limit} servers"
        self.servers.insert_claiming(principal, server, QUOTA_COUNTER, limit, over_quota)
        self._note(server_id, "info", f"provisioning {body.source_type} server {body.name}")
        self._launch("provision", server)
        return self.servers._view(principal, server)

    def _launch(self, action: str, server: dict[str, Any]) -> None:
        """Start a workflow; if it cannot start, the server ends in ``error`` (never stuck in a transition)."""
        try:
            self.workflows.start(action, server["org_id"], server["id"])
        except Exception as exc:  # boto3/botocore errors of any kind: the edge of this request
            logger.exception("workflow did not start", server_id=server["id"], action=action)
            self._fail(server["org_id"], server["id"], f"the {action} workflow did not start: {type(exc).__name__}")
            raise

    def list(self, principal: Principal, query: ListQuery) -> ServerList:
        listed = self.servers.list(principal, query)
        org_id = auth.require_member(principal)
        listed.used = self.repo.quota_used(org_id, QUOTA_COUNTER)
        listed.quota_limit = hosted_server_limit(principal.tier)
        return listed

    def get(self, principal: Principal, server_id: str) -> Server:
        view = self.servers.get(principal, server_id)
        if view.source_type != "remote":
            view.logs = self.logs.latest(server_id, LATEST_LOGS)
        return view

    def _hosted(self, principal: Principal, server_id: str, role: Role) -> tuple[dict[str, Any], int]:
        server, version = owned(self.repo, principal, "server", server_id, role)
        if not is_hosted(server):
            raise ValidationError("this is a remote server: it is not hosted by Portico", field="server_id")
        return server, version

    def log_page(self, principal: Principal, server_id: str, query: LogQuery) -> LogPage:
        self._hosted(principal, server_id, Role.VIEWER)
        entries, token = self.logs.page(server_id, query.limit, query.next_token)
        return LogPage(server_id=server_id, logs=entries, next_token=token)  # type: ignore[arg-type]

    def stop(self, principal: Principal, server_id: str) -> Server:
        """Take a running server out of service (tools stop at once; the platform scales to zero).

        Raises:
            ConflictError: not running.
        """
        return self._transition(principal, server_id, "stop", {"running"}, ServerStatus.STOPPED)

    def start(self, principal: Principal, server_id: str) -> Server:
        """Start a stopped server, or provision an errored one again (it claims a quota slot again).

        Raises:
            ConflictError: already running or in a transition.  QuotaExceededError: no slot for an errored one.
        """
        return self._transition(principal, server_id, "start", {"stopped", "error"}, ServerStatus.PROVISIONING)

    def restart(self, principal: Principal, server_id: str) -> Server:
        return self._transition(
            principal, server_id, "restart", {"running", "stopped", "error"}, ServerStatus.PROVISIONING
        )

    def _transition(
        self, principal: Principal, server_id: str, action: str, allowed: set[str], status: ServerStatus
    ) -> Server:
        auth.require_tier(principal, Tier.STUDIO)
        server, version = self._hosted(principal, server_id, Role.ADMIN)
        if server["status"] not in allowed:
            raise ConflictError(
                f"cannot {action} a server that is {server['status']}", status=server["status"], field="status"
            )
        errored = server["status"] == ServerStatus.ERROR.value
        server.update(status=status.value, updated_at=now_iso(), last_error=None)
        if errored:
            # An errored server gave its slot back: provisioning it again takes one.
            action = "provision"
            server["quota_held"] = True
            limit = hosted_server_limit(principal.tier)
            try:
                self.repo.put_server_with(
                    server, version, self.repo.quota_claim(server["org_id"], QUOTA_COUNTER, limit)
                )
            except ConflictError as exc:
                if self.repo.quota_used(server["org_id"], QUOTA_COUNTER) >= limit:
                    raise QuotaExceededError(f"the organization hosts {limit} servers already", limit=limit) from exc
                raise
        else:
            self.repo.put_server(server, version)
        self.servers.gateway.invalidate(server["org_id"])
        self._note(server_id, "info", f"{action} requested")
        self._launch(action, server)
        return self.servers._view(principal, server)

    def delete(self, principal: Principal, server_id: str) -> None:
        """DELETE: a remote server goes at once; a hosted one is drained and removed by a workflow.

        Raises:
            ConflictError: a concurrent change.
        """
        server, version = owned(self.repo, principal, "server", server_id, Role.ADMIN)
        if not is_hosted(server):
            self.servers.delete(principal, server_id)
            return
        if server["status"] == ServerStatus.DEPROVISIONING.value:
            return  # already going
        server.update(status=ServerStatus.DEPROVISIONING.value, updated_at=now_iso())
        self.repo.put_server(server, version)
        self.servers.gateway.invalidate(server["org_id"])
        self._note(server_id, "info", "deprovisioning requested")
        self._launch("deprovision", server)

    def connect(self, principal: Principal, server_id: str) -> ConnectResult:
        """A 1-hour token for this user and this server's MCP endpoint (checked again on every use).

        Raises:
            ConflictError: the server is not running.
        """
        from portico.hosting import tokens

        server, _ = owned(self.repo, principal, "server", server_id, Role.VIEWER)
        if server["status"] != ServerStatus.RUNNING.value:
            raise ConflictError(f"server {server['name']} is {server['status']}", status=server["status"])
        url = server.get("endpoint_url") or (
            f"{public_base_url()}/mcp/servers/{server_id}" if public_base_url() else None
        )
        return ConnectResult(endpoint_url=url, token=tokens.issue(principal, server_id), expires_in=tokens.LIFETIME)

    # ================================================================ workflow steps
    def step(self, request: WorkflowInput) -> dict[str, Any]:
        """Run one state-machine step; returns what the state machine merges into its state.

        Raises:
            PorticoError: the step failed (the state machine's Catch marks the server ``error``).
        """
        handler = getattr(self, f"_step_{request.step}", None)
        if handler is None:
            raise ValidationError(f"unknown workflow step {request.step!r}", field="step")
        result: dict[str, Any] = handler(request)
        return result

    def _record(self, request: WorkflowInput) -> tuple[dict[str, Any], int]:
        found = self.repo.get_server(request.org_id, request.server_id)
        if found is None:
            raise NotFoundError("server", request.server_id)
        return found

    def _workload(self, server: dict[str, Any], resolve: bool = False) -> Workload:
        settings = get_settings()
        source = server["source_type"]
        return Workload(
            server_id=server["id"],
            org_id=server["org_id"],
            name=server["name"],
            source_type=source,
            repository=server.get("source_url") if source == "git" else None,
            ref=server.get("ref"),
            subdirectory=server.get("subdirectory"),
            image=server.get("source_url") if source == "image" else server.get("built_image"),
            command=server.get("command"),
            args=tuple(server.get("args") or ()),
            env=resolve_env(server["org_id"], server.get("env") or {}) if resolve else {},
            log_group=settings.hosted_log_group or "",
            log_stream=server["id"],
        )

    def _update(self, request: WorkflowInput, **changes: Any) -> dict[str, Any]:
        """Apply ``changes`` to the record (retrying a concurrent edit once)."""
        for attempt in range(3):
            server, version = self._record(request)
            server.update(changes, updated_at=now_iso())
            try:
                self.repo.put_server(server, version)
                self.servers.gateway.invalidate(server["org_id"])
                return server
            except ConflictError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _step_begin(self, request: WorkflowInput) -> dict[str, Any]:
        server, _ = self._record(request)
        self._note(request.server_id, "info", f"workflow {request.action} started")
        return {"source_type": server["source_type"], "started_at": time.time()}

    def _step_start_build(self, request: WorkflowInput) -> dict[str, Any]:
        server, _ = self._record(request)
        build_id = self.platform.start_build(self._workload(server))
        self._note(request.server_id, "info", f"build started ({build_id})")
        return {"build_id": build_id, "started_at": time.time()}

    def _step_build_status(self, request: WorkflowInput) -> dict[str, Any]:
        progress = self.platform.build_status(request.build_id or "")
        if progress.phase == "succeeded":
            self._update(request, built_image=progress.image)
            self._note(request.server_id, "info", f"build succeeded: {progress.image}")
        progress = self._bounded(request, progress, get_settings().hosting_build_timeout, "build")
        return {"progress": _progress(progress)}

    def _expect(self, request: WorkflowInput, status: ServerStatus) -> tuple[dict[str, Any], int]:
        """The record, if it is still in ``status`` (a DELETE meanwhile wins over a provisioning).

        Raises:
            ConflictError: the server moved on (the workflow's Catch cleans up what it created).
        """
        server, version = self._record(request)
        if server["status"] != status.value:
            raise ConflictError(f"server is {server['status']}, no longer {status.value}", status=server["status"])
        return server, version

    def _step_deploy(self, request: WorkflowInput) -> dict[str, Any]:
        server, _ = self._expect(request, ServerStatus.PROVISIONING)
        workload = self._workload(server, resolve=True)
        self.platform.deploy(workload)
        container = "ctr_" + hashlib.sha256(f"{server['id']}:{time.time_ns()}".encode()).hexdigest()[:12]
        self._update(request, container_id=container)
        self._note(request.server_id, "info", f"deployment {container} started on the {self.platform.name} platform")
        return {"started_at": time.time()}

    def _step_scale_up(self, request: WorkflowInput) -> dict[str, Any]:
        server, _ = self._expect(request, ServerStatus.PROVISIONING)
        self.platform.scale(self._workload(server, resolve=True), 1)
        return {"started_at": time.time()}

    def _step_deployment_status(self, request: WorkflowInput) -> dict[str, Any]:
        server, _ = self._record(request)
        progress = self.platform.deployment_status(self._workload(server))
        if progress.phase == "running" and progress.endpoint_url:
            self._update(request, url=progress.endpoint_url)
        progress = self._bounded(request, progress, get_settings().hosting_deploy_timeout, "deployment")
        return {"progress": _progress(progress)}

    def _bounded(self, request: WorkflowInput, progress: Progress, limit: float, what: str) -> Progress:
        if progress.phase == "pending" and request.started_at and time.time() - request.started_at > limit:
            return Progress("failed", f"the {what} did not finish within {limit:g}s")
        return progress

    def _step_health_check(self, request: WorkflowInput) -> dict[str, Any]:
        """MCP ``initialize`` + ``tools/list`` through the gateway's downstream client, storing the tools."""
        server, version = self._expect(request, ServerStatus.PROVISIONING)
        result = self.servers.sync_record(server, version)
        self._expect(request, ServerStatus.PROVISIONING)
        self._update(
            request,
            status=ServerStatus.RUNNING.value,
            endpoint_url=server.get("public_url"),
            last_error=None,
        )
        self._note(
            request.server_id, "info", f"running: initialize and tools/list answered ({result.tools_count} tools)"
        )
        return {"tools_count": result.tools_count}

    def _step_scale_down(self, request: WorkflowInput) -> dict[str, Any]:
        server, _ = self._record(request)
        self.platform.scale(self._workload(server), 0)
        if request.action == "stop":
            # The API marked the server stopped when asked. Writing that again here would undo a start
            # that came in since (its "provisioning" turned back into "stopped", its workflow failing).
            self._note(request.server_id, "info", "stopped: scaled to zero")
        return {}

    def _step_fail(self, request: WorkflowInput) -> dict[str, Any]:
        self._fail(request.org_id, request.server_id, cause_of(request.error))
        return {}

    def _fail(self, org_id: str, server_id: str, cause: str) -> None:
        """``error`` with the cause in the logs; what the platform created is removed; the slot released."""
        found = self.repo.get_server(org_id, server_id)
        gone = Workload(server_id=server_id, org_id=org_id, name="", source_type="package")
        with contextlib.suppress(PorticoError, OSError):
            self.platform.remove(self._workload(found[0]) if found else gone)
        if found is None or found[0]["status"] == ServerStatus.DEPROVISIONING.value:
            return  # deleted meanwhile: the deprovision workflow owns the record now
        self._note(server_id, "error", cause)
        for attempt in range(3):
            found = self.repo.get_server(org_id, server_id)
            if found is None:
                return
            server, version = found
            held = bool(server.get("quota_held"))
            server.update(status=ServerStatus.ERROR.value, url=None, endpoint_url=None, quota_held=False)
            server.update(last_error=cause[:2000], updated_at=now_iso())
            try:
                if held:
                    self.repo.put_server_with(server, version, self.repo.quota_release(org_id, QUOTA_COUNTER))
                else:
                    self.repo.put_server(server, version)
                break
            except ConflictError:
                if attempt == 2:
                    raise
        self.servers.gateway.invalidate(org_id)

    def _step_remove(self, request: WorkflowInput) -> dict[str, Any]:
        server, _ = self._record(request)
        self.platform.remove(self._workload(server))
        self._note(request.server_id, "info", "container and build resources removed")
        return {}

    def _step_purge(self, request: WorkflowInput) -> dict[str, Any]:
        """The last step of DELETE: the record, its name, its tools, its quota slot and its logs."""
        found = self.repo.get_server(request.org_id, request.server_id)
        if found is None:
            return {}
        server, version = found
        release = self.repo.quota_release(request.org_id, QUOTA_COUNTER) if server.get("quota_held") else None
        self.repo.delete_server(server, version, release)
        self.servers.gateway.invalidate(request.org_id)
        self.servers.gateway.connections.forget(request.server_id)
        self.logs.delete(request.server_id)
        return {}

    # ================================================================ logs
    def _note(self, server_id: str, level: str, message: str) -> None:
        """One of Portico's own lines in the server's log (best effort: the log is not the record)."""
        try:
            self.logs.event(server_id, level, message)
        except Exception:  # CloudWatch trouble must not fail the lifecycle step it describes
            logger.warning("could not write a hosted server log line", server_id=server_id)


def _progress(progress: Progress) -> dict[str, Any]:
    return {"phase": progress.phase, "message": progress.message[:4000], "image": progress.image}
