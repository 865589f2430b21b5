"""Tools and toolsets over REST: curation, collisions, HTTP tools, direct execution, the gateway, client configs."""

from __future__ import annotations

from typing import Any

from portico.local.runtime import LocalRuntime
from tests.factories import processes
from tests.factories.api import Api
from tests.factories.orgs import OrgCtx


def server(api: Api, org: OrgCtx, name: str, url: str) -> dict[str, Any]:
    created = api.post("/v1/mcp/servers", org.admin_key, {"name": name, "url": url}).data
    api.post(f"/v1/mcp/servers/{created['id']}/sync", org.admin_key)
    return dict(created)


def tool_of(api: Api, org: OrgCtx, server_id: str, name: str) -> dict[str, Any]:
    tools = api.get(f"/v1/tools?server_id={server_id}&limit=200", org.admin_key).data["items"]
    return next(t for t in tools if t["name"] == name)


def test_from_servers_builds_a_toolset_in_one_request(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    created = api.post("/v1/mcp/servers", org.admin_key, {"name": "quick", "url": demo_http_url}).data
    reply = api.post("/v1/toolsets/from_servers", org.admin_key, {"name": "Quick", "server_ids": [created["id"]]})
    assert reply.status == 201
    toolset = reply.data
    assert toolset["id"].startswith("ts_") and toolset["mcp_url"].endswith(f"/mcp/toolsets/{toolset['id']}")
    assert {"add", "echo"} <= {t["exposed_name"] for t in toolset["tools"]}  # synced on the way
    assert toolset["tools_count"] == len(toolset["tools"]) and toolset["exposure_mode"] == "full"
    listed = api.get("/v1/toolsets", org.admin_key).data
    assert listed["total"] == 1 and listed["items"][0]["id"] == toolset["id"]


def test_from_servers_syncs_never_synced_servers_side_by_side(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    created = [
        api.post("/v1/mcp/servers", org.admin_key, {"name": f"s{n}", "url": demo_http_url}).data for n in range(4)
    ]
    assert all(not api.get(f"/v1/mcp/servers/{s['id']}", org.admin_key).data.get("last_synced_at") for s in created)
    toolset = api.post(
        "/v1/toolsets/from_servers",
        org.admin_key,
        {"name": "four", "server_ids": [s["id"] for s in created], "on_conflict": "prefix"},
    ).data
    assert {f"s{n}__add" for n in range(4)} <= {t["exposed_name"] for t in toolset["tools"]}
    assert all(api.get(f"/v1/mcp/servers/{s['id']}", org.admin_key).data["last_synced_at"] for s in created)

    # One server that cannot be synced: the request fails naming it, and no toolset is made.
    dead = api.post(
        "/v1/mcp/servers", org.admin_key, {"name": "dead", "url": f"http://127.0.0.1:{processes.free_port()}/mcp"}
    ).data
    fresh = api.post("/v1/mcp/servers", org.admin_key, {"name": "fresh", "url": demo_http_url}).data
    reply = api.post(
        "/v1/toolsets/from_servers", org.admin_key, {"name": "broken", "server_ids": [fresh["id"], dead["id"]]}
    )
    assert reply.status == 502 and reply.code == "UPSTREAM_ERROR" and "dead" in reply.body["message"]
    assert [t["name"] for t in api.get("/v1/toolsets", org.admin_key).data["items"]] == ["four"]


def test_a_name_collision_is_a_conflict_naming_both_tools(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    first, second = server(api, org, "one", demo_http_url), server(api, org, "two", demo_http_url)
    reply = api.post(
        "/v1/toolsets/from_servers", org.admin_key, {"name": "clash", "server_ids": [first["id"], second["id"]]}
    )
    assert reply.status == 409 and reply.code == "CONFLICT"
    details = reply.body["details"]
    assert len(details["tools"]) == 2 and details["suggestion"]["alias"].startswith("two__")
    assert api.get("/v1/toolsets", org.admin_key).data["total"] == 0  # nothing half-made
    prefixed = api.post(
        "/v1/toolsets/from_servers",
        org.admin_key,
        {"name": "clash", "server_ids": [first["id"], second["id"]], "on_conflict": "prefix"},
    ).data
    exposed = {t["exposed_name"] for t in prefixed["tools"]}
    assert {"one__add", "two__add", "one__echo", "two__echo"} <= exposed


def test_adding_and_removing_tools_with_aliases(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    first, second = server(api, org, "left", demo_http_url), server(api, org, "right", demo_http_url)
    left_echo, right_echo = tool_of(api, org, first["id"], "echo"), tool_of(api, org, second["id"], "echo")
    toolset = api.post("/v1/toolsets", org.admin_key, {"name": "curated", "tool_ids": [left_echo["id"]]}).data
    clash = api.post(f"/v1/toolsets/{toolset['id']}/tools", org.admin_key, {"tool_ids": [right_echo["id"]]})
    assert clash.code == "CONFLICT"
    added = api.post(
        f"/v1/toolsets/{toolset['id']}/tools",
        org.admin_key,
        {"tool_ids": [right_echo["id"]], "aliases": {right_echo["id"]: "echo_right"}},
    ).data
    assert {t["exposed_name"] for t in added["tools"]} == {"echo", "echo_right"}
    removed = api.delete(f"/v1/toolsets/{toolset['id']}/tools/{left_echo['id']}", org.admin_key).data
    assert [t["exposed_name"] for t in removed["tools"]] == ["echo_right"]
    bad = api.post(f"/v1/toolsets/{toolset['id']}/tools", org.admin_key, {"tool_ids": ["tool_" + "0" * 24]})
    assert bad.status == 400 and bad.body["details"]["unknown_tools"]


def test_tool_curation_alias_status_tags(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    created = server(api, org, "curate", demo_http_url)
    echo = tool_of(api, org, created["id"], "echo")
    patched = api.patch(
        f"/v1/tools/{echo['id']}",
        org.admin_key,
        {"tags": ["safe"], "alias": "say", "description_override": "Repeat a message."},
    ).data
    assert patched["alias"] == "say" and patched["tags"] == ["safe"]
    disabled = api.patch(f"/v1/tools/{echo['id']}", org.admin_key, {"status": "disabled"}).data
    assert disabled["status"] == "disabled"
    server_view = api.get(f"/v1/mcp/servers/{created['id']}/tools", org.admin_key).data
    assert server_view["disabled_tools"] == ["echo"]
    assert api.get("/v1/tools?status=disabled", org.admin_key).data["total"] == 1
    assert api.get("/v1/tools?tags=safe", org.admin_key).data["items"][0]["id"] == echo["id"]
    api.patch(f"/v1/tools/{echo['id']}", org.admin_key, {"status": "active"})
    resync = api.post(f"/v1/mcp/servers/{created['id']}/sync", org.admin_key).data
    assert resync["changed"] == []
    assert api.get(f"/v1/tools/{echo['id']}", org.admin_key).data["alias"] == "say"  # curation survives a sync
    assert api.delete(f"/v1/tools/{echo['id']}", org.admin_key).code == "CONFLICT"


def test_execute_runs_a_tool_with_policy_and_a_receipt(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    created = server(api, org, "exec", demo_http_url)
    add = tool_of(api, org, created["id"], "add")
    result = api.post(f"/v1/tools/{add['id']}/execute", org.admin_key, {"arguments": {"a": 2, "b": 2}}).data
    assert result["status"] == "ok" and result["structured_content"] == {"result": 4} and result["receipt_id"]
    viewer = org.member_key("viewer")
    assert api.post(f"/v1/tools/{add['id']}/execute", viewer, {"arguments": {}}).code == "FORBIDDEN"
    api.patch(f"/v1/tools/{add['id']}", org.admin_key, {"status": "disabled"})
    assert api.post(f"/v1/tools/{add['id']}/execute", org.admin_key, {"arguments": {}}).code == "FORBIDDEN"


def test_http_backed_tools_call_their_url(api: Api, org: OrgCtx, runtime: LocalRuntime) -> None:
    reply = api.post(
        "/v1/tools",
        org.admin_key,
        {
            "name": "portico_health",
            "description": "Portico's health",
            "method": "GET",
            "url": f"{runtime.api_url}/health",
        },
    )
    assert reply.status == 201 and reply.data["origin"] == "http"
    tool = reply.data
    result = api.post(f"/v1/tools/{tool['id']}/execute", org.admin_key, {"arguments": {}}).data
    assert result["status"] == "ok" and result["structured_content"]["data"]["status"] == "ok"
    templated = api.post(
        "/v1/tools",
        org.admin_key,
        {
            "name": "get_server",
            "method": "GET",
            "url": f"{runtime.api_url}/v1/mcp/servers/{{server_id}}",
            "input_schema": {"type": "object", "properties": {"server_id": {"type": "string"}}},
        },
    ).data
    missing = api.post(f"/v1/tools/{templated['id']}/execute", org.admin_key, {"arguments": {}})
    assert missing.status == 400 and missing.body["details"]["missing"] == ["server_id"]
    unauthorized = api.post(
        f"/v1/tools/{templated['id']}/execute", org.admin_key, {"arguments": {"server_id": "mcp_x"}}
    ).data
    assert unauthorized["is_error"] is True  # the API answered 401: a tool error, not a Portico failure
    undeclared = api.post("/v1/tools", org.admin_key, {"name": "u", "url": "http://a.example/{x}"})
    assert undeclared.status == 400 and undeclared.body["details"]["field"] == "url"
    assert api.delete(f"/v1/tools/{tool['id']}", org.admin_key).status == 204


def test_the_gateway_registers_syncs_and_detaches_external_servers(api: Api, org: OrgCtx) -> None:
    toolset = api.post("/v1/toolsets", org.admin_key, {"name": "gw"}).data
    port = processes.free_port()
    with processes.demo_server("streamable-http", port):
        registered = api.post(
            f"/v1/toolsets/{toolset['id']}/gateway",
            org.admin_key,
            {"name": "external", "url": f"http://127.0.0.1:{port}/mcp"},
        )
        assert registered.status == 201, registered.body
        data = registered.data
        assert {"add", "echo"} <= set(data["added"])
        assert {t["exposed_name"] for t in data["toolset"]["tools"]} >= {"add", "echo"}
        listed = api.get(f"/v1/toolsets/{toolset['id']}/gateway", org.admin_key).data
        assert [s["id"] for s in listed] == [data["server_id"]]
        api.post(f"/v1/mcp/servers/{data['server_id']}/invoke", org.admin_key, {"tool_name": "evolve"})
        synced = api.post(f"/v1/toolsets/{toolset['id']}/gateway/{data['server_id']}/sync", org.admin_key).data
        assert synced["added"] == ["extra"] and synced["changed"] == ["add"]
        assert "extra" in {t["exposed_name"] for t in synced["toolset"]["tools"]}
    detached = api.delete(f"/v1/toolsets/{toolset['id']}/gateway/{data['server_id']}", org.admin_key).data
    assert detached["tools"] == [] and detached["gateway_server_ids"] == []
    assert api.get(f"/v1/mcp/servers/{data['server_id']}", org.admin_key).status == 200


def test_a_gateway_registration_that_collides_leaves_nothing_behind(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    existing = server(api, org, "first", demo_http_url)
    toolset = api.post("/v1/toolsets/from_servers", org.admin_key, {"name": "t", "server_ids": [existing["id"]]}).data
    reply = api.post(f"/v1/toolsets/{toolset['id']}/gateway", org.admin_key, {"name": "second", "url": demo_http_url})
    assert reply.code == "CONFLICT"
    assert [s["name"] for s in api.get("/v1/mcp/servers", org.admin_key).data["servers"]] == ["first"]
    ok = api.post(
        f"/v1/toolsets/{toolset['id']}/gateway",
        org.admin_key,
        {"name": "second", "url": demo_http_url, "on_conflict": "prefix"},
    ).data
    assert "second__echo" in {t["exposed_name"] for t in ok["toolset"]["tools"]}


def test_client_configs_are_ready_to_paste(api: Api, org: OrgCtx) -> None:
    toolset = api.post("/v1/toolsets", org.admin_key, {"name": "My Tools"}).data
    claude = api.get(f"/v1/toolsets/{toolset['id']}/client-config?client=claude", org.admin_key).data
    server = claude["config"]["mcpServers"]["portico-my-tools"]
    assert toolset["mcp_url"] in server["args"] and "PORTICO_API_KEY" in server["env"]["AUTH_HEADER"]
    vscode = api.get(f"/v1/toolsets/{toolset['id']}/client-config?client=vscode", org.admin_key).data
    assert vscode["config"]["servers"]["portico-my-tools"]["type"] == "http"
    cursor = api.get(f"/v1/toolsets/{toolset['id']}/client-config?client=cursor", org.admin_key).data
    assert cursor["config"]["mcpServers"]["portico-my-tools"]["url"] == toolset["mcp_url"]
    assert org.admin_key.split(".")[1] not in str(claude)
    bad = api.get(f"/v1/toolsets/{toolset['id']}/client-config?client=emacs", org.admin_key)
    assert bad.status == 400 and bad.body["details"]["field"] == "client"


def test_toolset_patch_and_delete(api: Api, org: OrgCtx) -> None:
    toolset = api.post("/v1/toolsets", org.admin_key, {"name": "p", "tags": ["a"]}).data
    patched = api.patch(f"/v1/toolsets/{toolset['id']}", org.admin_key, {"exposure_mode": "progressive"}).data
    assert patched["exposure_mode"] == "progressive" and patched["tags"] == ["a"]
    assert api.patch(f"/v1/toolsets/{toolset['id']}", org.admin_key, {"exposure_mode": "sideways"}).status == 400
    assert api.delete(f"/v1/toolsets/{toolset['id']}", org.admin_key).status == 204
    assert api.get(f"/v1/toolsets/{toolset['id']}", org.admin_key).status == 404
