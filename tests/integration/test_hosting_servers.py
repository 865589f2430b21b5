"""Hosted servers for real: provisioned by the state machines (moto executing them, Lambda tasks run by
the local runtime), run as local processes behind the stdio bridge, reached through /mcp/servers/{id}
with a connect token, stopped, started and deleted; failures end in ``error`` with a useful log line."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from portico.local.runtime import LocalRuntime
from tests.factories.api import Api, http
from tests.factories.hosting import (
    EVERYTHING,
    git_repo,
    processes_with,
    python_server_repo,
    wait_for,
    wait_gone,
    wait_no_processes,
)
from tests.factories.mcp import with_client
from tests.factories.orgs import OrgCtx

pytestmark = pytest.mark.xdist_group("hosting-processes")


def _tools(url: str, token: str) -> list[str]:
    async def work(client: Any) -> list[str]:
        return sorted(t.name for t in (await client.list_tools()).tools)

    return with_client(url, token, "legacy", work)


def _call(url: str, token: str, name: str, arguments: dict[str, Any]) -> Any:
    async def work(client: Any) -> Any:
        return await client.call_tool(name, arguments)

    return with_client(url, token, "legacy", work)


def _connect(api: Api, key: str, server_id: str) -> dict[str, Any]:
    reply = api.post(f"/v1/mcp/servers/{server_id}/connect", key)
    assert reply.status == 200, reply.body
    return dict(reply.data)


def _bridge_pid(runtime: LocalRuntime, server_id: str) -> int:
    assert runtime.processes is not None
    managed = runtime.processes.get(server_id)
    assert managed is not None and managed.exited() is None
    return managed.pid


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_package_server_runs_is_reached_with_a_connect_token_and_is_stopped_started_and_deleted(
    runtime: LocalRuntime, api: Api, org: OrgCtx
) -> None:
    assert api.put("/v1/secrets/HOSTED_TOKEN", org.admin_key, {"value": "s3cret-Hosted-77"}).status == 201
    env = {"GREETING": "hello", "UPSTREAM_TOKEN": "{{ secrets.HOSTED_TOKEN }}"}
    body = {"name": "everything", **EVERYTHING, "env": env}
    created = api.post("/v1/mcp/servers", org.admin_key, body)
    assert created.status == 201 and created.data["status"] == "provisioning", created.body
    server_id = created.data["id"]
    running = wait_for(api, org.admin_key, server_id, {"running", "error"})
    assert running["status"] == "running", running["logs"]
    assert running["endpoint_url"] == f"{runtime.api_url}/mcp/servers/{server_id}"
    assert running["container_id"].startswith("ctr_") and running["tools_count"] >= 10
    # Literal values are masked, references shown as written; the secret's value never leaves.
    assert running["url"] is None
    assert running["env"] == {"GREETING": "********", "UPSTREAM_TOKEN": "{{ secrets.HOSTED_TOKEN }}"}
    assert any("Starting" in e["message"] or "ready" in e["message"] for e in running["logs"]), running["logs"]

    # A member connects and reaches the hosted server through the gateway with the token.
    member_key = org.member_key("member")
    connected = _connect(api, member_key, server_id)
    assert connected["expires_in"] == 3600 and connected["token"].startswith("mcp_conn_")
    assert connected["endpoint_url"] == running["endpoint_url"]
    url, token = connected["endpoint_url"], connected["token"]
    assert {"echo", "get-sum", "get-env"} <= set(_tools(url, token))
    echoed = _call(url, token, "echo", {"message": "hi from portico"})
    assert not echoed.is_error and "hi from portico" in echoed.content[0].text
    # The hosted server's environment is its own: nothing of Portico's (no AWS credentials, no settings).
    env_dump = _call(url, token, "get-env", {}).content[0].text
    assert "GREETING" in env_dump and "AWS_" not in env_dump and "PORTICO_" not in env_dump
    assert "s3cret-Hosted-77" in env_dump  # the org secret, resolved into the process's environment

    # Stop: the process goes and the tools are out of service; start: back, with a new process.
    first_pid = _bridge_pid(runtime, server_id)
    stopped = api.post(f"/v1/mcp/servers/{server_id}/stop", org.admin_key)
    assert stopped.status == 202 and stopped.data["status"] == "stopped", stopped.body
    deadline = time.monotonic() + 60
    while _alive(first_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(first_pid)
    assert api.post(f"/v1/mcp/servers/{server_id}/connect", member_key).code == "CONFLICT"
    started = api.post(f"/v1/mcp/servers/{server_id}/start", org.admin_key)
    assert started.status == 202 and started.data["status"] == "provisioning"
    assert wait_for(api, org.admin_key, server_id, {"running", "error"})["status"] == "running"
    assert _bridge_pid(runtime, server_id) != first_pid
    assert "echo" in _tools(url, token)

    # Restart keeps it running (a new process again).
    second_pid = _bridge_pid(runtime, server_id)
    assert api.post(f"/v1/mcp/servers/{server_id}/restart", org.admin_key).status == 202
    assert wait_for(api, org.admin_key, server_id, {"running", "error"})["status"] == "running"
    assert _bridge_pid(runtime, server_id) != second_pid

    # Delete: 204, then the record, its tools, its logs, its quota slot and its processes are gone.
    last_pid = _bridge_pid(runtime, server_id)
    assert api.delete(f"/v1/mcp/servers/{server_id}", org.admin_key).status == 204
    wait_gone(api, org.admin_key, server_id)
    assert not _alive(last_pid)
    assert runtime.processes is not None and runtime.processes.get(server_id) is None
    assert api.get("/v1/mcp/servers", org.admin_key).data["used"] == 0
    assert api.get(f"/v1/tools?search=echo&server_id={server_id}", org.admin_key).data.get("total", 0) == 0
    assert http("POST", url, token, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).status == 401


def test_python_server_from_a_local_git_repository(
    runtime: LocalRuntime, api: Api, org: OrgCtx, tmp_path: Path
) -> None:
    repo = python_server_repo(tmp_path / "hello-git")
    for source in (str(repo), f"file://{repo}"):
        name = f"hello-{uuid.uuid4().hex[:6]}"
        server = api.post("/v1/mcp/servers", org.admin_key, {"name": name, "source_type": "git", "source_url": source})
        assert server.status == 201, server.body
        running = wait_for(api, org.admin_key, server.data["id"], {"running", "error"})
        assert running["status"] == "running", running["logs"]
        connected = _connect(api, org.admin_key, server.data["id"])
        assert _tools(connected["endpoint_url"], connected["token"]) == ["shout"]
        shouted = _call(connected["endpoint_url"], connected["token"], "shout", {"text": "quiet"})
        assert shouted.content[0].text == "QUIET"
        assert any("build succeeded" in e["message"] for e in running["logs"])
        assert api.delete(f"/v1/mcp/servers/{server.data['id']}", org.admin_key).status == 204
        wait_gone(api, org.admin_key, server.data["id"])


def _fails(api: Api, org: OrgCtx, body: dict[str, Any]) -> dict[str, Any]:
    created = api.post("/v1/mcp/servers", org.admin_key, {"name": f"f-{uuid.uuid4().hex[:8]}", **body})
    assert created.status == 201, created.body
    done = wait_for(api, org.admin_key, created.data["id"], {"running", "error"})
    assert done["status"] == "error", done
    assert done["endpoint_url"] is None
    assert api.get("/v1/mcp/servers", org.admin_key).data["used"] == 0  # the slot is back
    return done


def test_a_repository_that_does_not_build_ends_in_error(api: Api, org: OrgCtx, tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "broken", {"pyproject.toml": "[project\nname = broken", "x.py": "print(1)\n"})
    done = _fails(api, org, {"source_type": "git", "source_url": str(repo)})
    errors = [e["message"] for e in done["logs"] if e["level"] == "error"]
    assert errors and "pip install" in errors[-1], done["logs"]


def test_a_command_that_exits_at_once_ends_in_error_and_leaves_nothing_running(
    runtime: LocalRuntime, api: Api, org: OrgCtx
) -> None:
    marker = f"exit-{uuid.uuid4().hex[:8]}"
    body = {"source_type": "package", "command": "python3", "args": ["-c", f"print('{marker} bye'); exit(3)"]}
    done = _fails(api, org, body)
    errors = [e["message"] for e in done["logs"] if e["level"] == "error"]
    assert errors and "exited" in errors[-1], done["logs"]
    assert runtime.processes is not None and runtime.processes.get(done["id"]) is None
    wait_no_processes(marker)


def test_a_server_that_never_answers_initialize_ends_in_error_and_leaves_nothing_running(
    runtime: LocalRuntime, api: Api, org: OrgCtx
) -> None:
    marker = f"hang-{uuid.uuid4().hex[:8]}"
    body = {"source_type": "package", "command": "python3", "args": ["-c", f"import time  # {marker}\ntime.sleep(900)"]}
    done = _fails(api, org, body)
    errors = [e["message"] for e in done["logs"] if e["level"] == "error"]
    assert errors and "did not answer initialize" in errors[-1], done["logs"]
    wait_no_processes(marker)
    assert processes_with(marker) == []


def test_connect_tokens_expire_are_revoked_with_the_member_and_open_one_server_only(
    runtime: LocalRuntime, api: Api, org: OrgCtx
) -> None:
    from portico.hosting import tokens
    from portico.models.common import Role, Tier
    from portico.models.identity import Principal, PrincipalKind

    server = api.post("/v1/mcp/servers", org.admin_key, {"name": "tokens", **EVERYTHING}).data
    assert wait_for(api, org.admin_key, server["id"], {"running", "error"})["status"] == "running"
    member = api.post("/v1/org/members", org.admin_key, {"email": f"{uuid.uuid4().hex[:6]}@example.com"}).data
    key = api.post("/v1/api-keys", org.admin_key, {"name": "m", "user_id": member["id"]}).data["secret"]
    connected = _connect(api, key, server["id"])
    url, token = connected["endpoint_url"], connected["token"]
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    assert http("POST", url, token, listing).status == 200

    # Only this server's MCP endpoint: not the REST API, not the org endpoint, not another server.
    assert http("GET", f"{runtime.api_url}/v1/mcp/servers", token).status in (401, 403)
    assert http("POST", f"{runtime.api_url}/mcp", token, listing).status in (401, 403)
    other = api.post("/v1/mcp/servers", org.admin_key, {"name": "elsewhere", "url": "http://a.example/mcp"}).data
    assert http("POST", f"{runtime.api_url}/mcp/servers/{other['id']}", token, listing).status in (401, 403)

    # Forged and expired tokens are refused.
    assert http("POST", url, token[:-4] + "AAAA", listing).status == 401
    principal = Principal(
        kind=PrincipalKind.API_KEY, principal_id=member["id"], org_id=org.org_id, user_id=member["id"],
        role=Role.MEMBER, tier=Tier.STUDIO,
    )  # fmt: skip
    expired = tokens.issue(principal, server["id"], now=time.time() - tokens.LIFETIME - 1)
    assert http("POST", url, expired, listing).status == 401

    # Removing the member revokes the token at once (RBAC is checked on every use).
    assert api.delete(f"/v1/org/members/{member['id']}", org.admin_key).status == 204
    assert http("POST", url, token, listing).status == 401
    assert api.delete(f"/v1/mcp/servers/{server['id']}", org.admin_key).status == 204
    wait_gone(api, org.admin_key, server["id"])
