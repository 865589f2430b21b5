"""The reference server from npm (`@modelcontextprotocol/server-everything`) through Portico's API."""

from __future__ import annotations

from tests.factories.api import Api
from tests.factories.orgs import OrgCtx


def test_server_everything_is_registered_tested_synced_and_invoked(api: Api, org: OrgCtx, everything_url: str) -> None:
    created = api.post("/v1/mcp/servers", org.admin_key, {"name": "everything", "url": everything_url}).data
    server_id = created["id"]
    tested = api.post(f"/v1/mcp/servers/{server_id}/test", org.admin_key).data
    assert tested["status"] == "ok" and tested["server_info"]["name"] == "mcp-servers/everything"
    synced = api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key).data
    assert {"echo", "get-sum", "get-env"} <= set(synced["added"]) and synced["tools_count"] >= 10
    tools = api.get(f"/v1/mcp/servers/{server_id}/tools", org.admin_key).data
    assert tools["total"] == synced["tools_count"]
    echo = api.post(
        f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"tool_name": "echo", "arguments": {"message": "hi"}}
    ).data
    assert echo["result"] == [{"type": "text", "text": "Echo: hi"}]
    total = api.post(
        f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"tool_name": "get-sum", "arguments": {"a": 2, "b": 3}}
    ).data
    assert "5" in total["result"][0]["text"]
    # A disabled tool of the reference server is refused like any other.
    api.put(f"/v1/mcp/servers/{server_id}/tools/disabled", org.admin_key, {"disabled_tools": ["get-env"]})
    assert api.post(f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"tool_name": "get-env"}).status == 403
