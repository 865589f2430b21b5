"""Every route of the template, denied four ways: no credentials, a wrong key, a lower role, another org.

A new route fails `test_every_route_has_a_deny_path_entry` until it is added to ROUTES.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from portico.local.template import Template
from tests.factories.api import Api
from tests.factories.orgs import OrgCtx

ROOT = Path(__file__).resolve().parents[2]

# (method, path) → (least role that may call it, a valid body)
ROUTES: dict[tuple[str, str], tuple[str, Any]] = {
    ("GET", "/v1/auth/me"): ("viewer", None),
    # Password change: any logged-in member (an API key caller is refused: FORBIDDEN, see test_logins).
    ("POST", "/v1/auth/password"): ("viewer", {"old_password": "Old-password-1", "new_password": "New-password-1"}),
    ("POST", "/v1/org/members/{member_id}/login"): ("admin", {}),
    ("PUT", "/v1/org/identity-providers"): ("admin", {"identity_providers": []}),
    ("POST", "/v1/orgs"): ("operator", {"name": "x"}),
    ("GET", "/v1/orgs"): ("operator", None),
    ("PATCH", "/v1/orgs/{org_id}"): ("operator", {"tier": "pro"}),
    ("GET", "/v1/org"): ("viewer", None),
    ("PATCH", "/v1/org"): ("admin", {"name": "renamed"}),
    ("POST", "/v1/org/members"): ("admin", {"email": "deny@example.com"}),
    ("GET", "/v1/org/members"): ("viewer", None),
    ("PATCH", "/v1/org/members/{member_id}"): ("admin", {"name": "x"}),
    ("DELETE", "/v1/org/members/{member_id}"): ("admin", None),
    ("POST", "/v1/api-keys"): ("member", {"name": "k"}),
    ("GET", "/v1/api-keys"): ("viewer", None),
    ("DELETE", "/v1/api-keys/{key_id}"): ("viewer", None),
    ("POST", "/v1/mcp/servers"): ("admin", {"name": "deny", "url": "http://a.example/mcp"}),
    ("GET", "/v1/mcp/servers"): ("viewer", None),
    ("GET", "/v1/mcp/servers/{server_id}"): ("viewer", None),
    ("PATCH", "/v1/mcp/servers/{server_id}"): ("admin", {"description": "x"}),
    ("DELETE", "/v1/mcp/servers/{server_id}"): ("admin", None),
    ("POST", "/v1/mcp/servers/{server_id}/test"): ("member", None),
    ("POST", "/v1/mcp/servers/{server_id}/sync"): ("admin", None),
    ("GET", "/v1/mcp/servers/{server_id}/tools"): ("viewer", None),
    ("PUT", "/v1/mcp/servers/{server_id}/tools/disabled"): ("admin", {"disabled_tools": []}),
    ("POST", "/v1/mcp/servers/{server_id}/invoke"): ("member", {"tool_name": "echo"}),
    ("POST", "/v1/mcp/servers/{server_id}/tools/approve"): ("admin", {"all": True}),
    ("GET", "/v1/settings"): ("viewer", None),
    ("PUT", "/v1/settings/{key}"): ("admin", {"value": "progressive"}),
    ("GET", "/v1/mcp/servers/export"): ("viewer", None),
    ("POST", "/v1/mcp/servers/import"): ("admin", {"mcpServers": {}}),
    ("PUT", "/v1/secrets/{name}"): ("admin", {"value": "deny"}),
    ("GET", "/v1/secrets"): ("viewer", None),
    ("DELETE", "/v1/secrets/{name}"): ("admin", None),
    ("POST", "/v1/mcp/servers/{server_id}/stop"): ("admin", None),
    ("POST", "/v1/mcp/servers/{server_id}/start"): ("admin", None),
    ("POST", "/v1/mcp/servers/{server_id}/restart"): ("admin", None),
    ("POST", "/v1/mcp/servers/{server_id}/connect"): ("viewer", None),
    ("GET", "/v1/mcp/servers/{server_id}/logs"): ("viewer", None),
    ("GET", "/v1/tools"): ("viewer", None),
    ("POST", "/v1/tools"): ("admin", {"name": "deny_tool", "url": "http://a.example/x"}),
    ("GET", "/v1/tools/{tool_id}"): ("viewer", None),
    ("PATCH", "/v1/tools/{tool_id}"): ("admin", {"tags": ["x"]}),
    ("DELETE", "/v1/tools/{tool_id}"): ("admin", None),
    ("POST", "/v1/tools/{tool_id}/execute"): ("member", {"arguments": {}}),
    ("POST", "/v1/toolsets"): ("admin", {"name": "deny"}),
    ("GET", "/v1/toolsets"): ("viewer", None),
    ("GET", "/v1/toolsets/{toolset_id}"): ("viewer", None),
    ("PATCH", "/v1/toolsets/{toolset_id}"): ("admin", {"description": "x"}),
    ("DELETE", "/v1/toolsets/{toolset_id}"): ("admin", None),
    ("POST", "/v1/toolsets/from_servers"): ("admin", {"name": "x", "server_ids": ["mcp_000000000000000000000000"]}),
    ("POST", "/v1/toolsets/{toolset_id}/tools"): ("admin", {"tool_ids": ["tool_000000000000000000000000"]}),
    ("DELETE", "/v1/toolsets/{toolset_id}/tools/{tool_id}"): ("admin", None),
    ("GET", "/v1/toolsets/{toolset_id}/client-config"): ("viewer", None),
    ("POST", "/v1/toolsets/{toolset_id}/gateway"): ("admin", {"name": "gw", "url": "http://a.example/mcp"}),
    ("GET", "/v1/toolsets/{toolset_id}/gateway"): ("viewer", None),
    ("POST", "/v1/toolsets/{toolset_id}/gateway/{server_id}/sync"): ("admin", None),
    ("DELETE", "/v1/toolsets/{toolset_id}/gateway/{server_id}"): ("admin", None),
    ("GET", "/v1/receipts"): ("viewer", None),
    ("GET", "/v1/receipts/{receipt_id}"): ("viewer", None),
    ("GET", "/v1/receipts/stats"): ("viewer", None),
    # The MCP endpoint: listing is open to every member; calls are checked per tool (see test_mcp_*).
    ("POST", "/mcp"): ("viewer", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    ("GET", "/mcp"): ("viewer", None),
    ("DELETE", "/mcp"): ("viewer", None),
    ("POST", "/mcp/toolsets/{toolset_id}"): ("viewer", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    ("GET", "/mcp/toolsets/{toolset_id}"): ("viewer", None),
    ("DELETE", "/mcp/toolsets/{toolset_id}"): ("viewer", None),
    ("POST", "/mcp/servers/{server_id}"): ("viewer", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    ("GET", "/mcp/servers/{server_id}"): ("viewer", None),
    ("DELETE", "/mcp/servers/{server_id}"): ("viewer", None),
}
# Routes whose other-org check is by body or that answer before looking anything up.
NOT_ID_SCOPED = {
    ("PUT", "/v1/settings/{key}"),  # the key names a setting, the org comes from the caller (test_settings.py)
    ("GET", "/mcp/toolsets/{toolset_id}"),
    ("DELETE", "/mcp/toolsets/{toolset_id}"),
    ("GET", "/mcp/servers/{server_id}"),
    ("DELETE", "/mcp/servers/{server_id}"),
    # Secret names are per org: a PUT with another org's name creates this org's own secret.
    ("PUT", "/v1/secrets/{name}"),
}
LOWER = {"admin": "member", "member": "viewer", "operator": "admin"}


def authorized_routes() -> list[tuple[str, str]]:
    template = Template.from_file(ROOT / "template.yaml", "us-east-1")
    return [(r.method, r.path) for r in template.api_routes() if r.authorized]


def test_every_route_has_a_deny_path_entry() -> None:
    assert sorted(authorized_routes()) == sorted(ROUTES)


def _fill(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    return path


def _ids(api: Api, org: OrgCtx) -> dict[str, str]:
    """Real ids in ``org`` for every path parameter."""
    server = api.post("/v1/mcp/servers", org.admin_key, {"name": "target", "url": "http://a.example/mcp"}).data
    member = api.post("/v1/org/members", org.admin_key, {"email": "target@example.com", "role": "viewer"}).data
    key = api.post("/v1/api-keys", org.admin_key, {"name": "target"}).data["api_key"]
    tool = api.post("/v1/tools", org.admin_key, {"name": "target_tool", "url": "http://a.example/t"}).data
    toolset = api.post("/v1/toolsets", org.admin_key, {"name": "target", "tool_ids": [tool["id"]]}).data
    secret = api.put("/v1/secrets/TARGET_SECRET", org.admin_key, {"value": "target-value"}).data
    gateway = {"gateway_server_ids": [server["id"]]}
    _attach(org, toolset["id"], gateway)
    return {
        "server_id": server["id"],
        "member_id": member["id"],
        "key_id": key["id"],
        "org_id": org.org_id,
        "tool_id": tool["id"],
        "toolset_id": toolset["id"],
        "receipt_id": "rcpt_000000000000000000000000",
        "key": "default_exposure_mode",
        "name": secret["name"],
    }


def _attach(org: OrgCtx, toolset_id: str, changes: dict[str, Any]) -> None:
    """Mark a server as the toolset's gateway server directly in the table (no downstream needed)."""
    from portico.repositories.main import main_repository

    repo = main_repository()
    found = repo.get_toolset(org.org_id, toolset_id)
    assert found is not None
    toolset, version = found
    repo.put_toolset({**toolset, **changes}, version)


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_no_credentials_or_a_wrong_key_is_unauthorized(api: Api, org: OrgCtx, method: str, path: str) -> None:
    ids = _ids(api, org)
    body = ROUTES[(method, path)][1]
    url = _fill(path, ids)
    assert api.call(method, url, None, json_body=body).status == 401
    key_id = org.admin_key.split(".")[0]
    assert api.call(method, url, f"{key_id}.pts_{'w' * 43}", json_body=body).status == 401


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_a_lower_role_is_forbidden(api: Api, org: OrgCtx, method: str, path: str) -> None:
    least, body = ROUTES[(method, path)]
    if least == "viewer":
        pytest.skip("every member may call it")
    ids = _ids(api, org)
    lower = org.admin_key if LOWER[least] == "admin" else org.member_key(LOWER[least])
    reply = api.call(method, _fill(path, ids), lower, json_body=body)
    assert reply.status == 403 and reply.code == "FORBIDDEN", reply.body


@pytest.mark.parametrize(
    ("method", "path"), sorted(p for p in ROUTES if "{" in p[1] and "org_id" not in p[1] and p not in NOT_ID_SCOPED)
)
def test_another_orgs_ids_are_not_found(api: Api, org: OrgCtx, other_org: OrgCtx, method: str, path: str) -> None:
    theirs = _ids(api, other_org)
    reply = api.call(method, _fill(path, theirs), org.admin_key, json_body=ROUTES[(method, path)][1])
    assert reply.status == 404 and reply.code == "RESOURCE_NOT_FOUND", reply.body
    assert api.get(f"/v1/mcp/servers/{theirs['server_id']}", other_org.admin_key).status == 200
