"""Talking to real MCP servers: test, sync, tools, disabled list, invoke; and downstreams that fail."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.factories import processes
from tests.factories.api import Api
from tests.factories.orgs import OrgCtx


def register(api: Api, org: OrgCtx, url: str, name: str = "demo", transport: str = "streamable-http") -> str:
    reply = api.post("/v1/mcp/servers", org.admin_key, {"name": name, "url": url, "transport": transport})
    assert reply.status == 201, reply.body
    return str(reply.data["id"])


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_a_reachable_server_tests_ok_and_lists_its_tools(
    api: Api, org: OrgCtx, demo_http_url: str, demo_sse_url: str, transport: str
) -> None:
    url = demo_http_url if transport == "streamable-http" else demo_sse_url
    server_id = register(api, org, url, transport=transport)
    result = api.post(f"/v1/mcp/servers/{server_id}/test", org.admin_key).data
    assert result["status"] == "ok" and result["connected"] is True
    assert result["tools_count"] == len(result["tools"]) >= 4
    assert {"add", "echo", "fail"} <= {t["name"] for t in result["tools"]}
    assert result["server_info"]["name"] == "portico-demo"
    assert result["elapsed_ms"] > 0


def test_an_unreachable_server_tests_as_a_clear_error(api: Api, org: OrgCtx, closed_port_url: str) -> None:
    server_id = register(api, org, closed_port_url)
    started = time.monotonic()
    result = api.post(f"/v1/mcp/servers/{server_id}/test", org.admin_key).data
    assert time.monotonic() - started < 30  # bounded (the configured total is 4 s here)
    assert result["status"] == "error" and result["connected"] is False
    assert result["error_code"] == "UPSTREAM_ERROR" and "demo" in result["error"]
    server = api.get(f"/v1/mcp/servers/{server_id}", org.admin_key).data
    assert server["last_error"] and server["last_checked_at"]


def test_a_server_that_never_answers_times_out(api: Api, org: OrgCtx, black_hole_url: str) -> None:
    server_id = register(api, org, black_hole_url, name="hangs")
    result = api.post(f"/v1/mcp/servers/{server_id}/test", org.admin_key).data
    assert result["status"] == "error" and result["error_code"] == "UPSTREAM_TIMEOUT"
    reply = api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key)
    assert reply.status == 504 and reply.code == "UPSTREAM_TIMEOUT"
    assert reply.body["details"]["server_id"] == server_id


def test_sync_stores_tools_with_definition_hashes(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    server_id = register(api, org, demo_http_url)
    synced = api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key).data
    assert {"add", "echo", "fail", "evolve"} <= set(synced["added"])
    assert synced["changed"] == [] and synced["removed"] == []
    tools = api.get(f"/v1/mcp/servers/{server_id}/tools", org.admin_key).data
    by_name = {t["name"]: t for t in tools["tools"]}
    add = by_name["add"]
    assert add["input_schema"]["properties"].keys() == {"a", "b"}
    assert add["output_schema"] is not None and len(add["definition_hash"]) == 64
    assert add["id"].startswith("tool_") and add["disabled"] is False and add["origin"] == "mcp"
    again = api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key).data
    assert again["added"] == [] and again["unchanged"] == synced["tools_count"]
    server = api.get(f"/v1/mcp/servers/{server_id}", org.admin_key).data
    assert server["tools_count"] == synced["tools_count"] and server["last_synced_at"]


def test_resync_reports_added_changed_and_removed_tools(api: Api, org: OrgCtx) -> None:
    port = processes.free_port()
    with processes.demo_server("streamable-http", port):
        server_id = register(api, org, f"http://127.0.0.1:{port}/mcp", name="evolving")
        before = api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key).data
        old_hash = _tool(api, org, server_id, "add")["definition_hash"]
        api.post(f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"tool_name": "evolve"})
        after = api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key).data
        assert after["added"] == ["extra"] and after["changed"] == ["add"]
        assert after["tools_count"] == before["tools_count"] + 1
        assert _tool(api, org, server_id, "add")["definition_hash"] != old_hash


def _tool(api: Api, org: OrgCtx, server_id: str, name: str) -> dict[str, Any]:
    tools = api.get(f"/v1/mcp/servers/{server_id}/tools", org.admin_key).data["tools"]
    return next(t for t in tools if t["name"] == name)


def test_invoke_calls_the_tool_for_real(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    server_id = register(api, org, demo_http_url)
    api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key)
    member = org.member_key("member")
    result = api.post(
        f"/v1/mcp/servers/{server_id}/invoke", member, {"tool_name": "add", "arguments": {"a": 20, "b": 22}}
    ).data
    assert result["status"] == "ok" and result["tool_name"] == "add" and result["is_error"] is False
    assert result["result"] == [{"type": "text", "text": "42"}]
    assert result["structured_content"] == {"result": 42}
    assert result["receipt_id"].startswith("rcpt_")


def test_a_tool_error_is_reported_not_raised(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    server_id = register(api, org, demo_http_url)
    api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key)
    result = api.post(f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"tool_name": "fail"}).data
    assert result["status"] == "error" and result["is_error"] is True
    assert "fail" in result["result"][0]["text"]


def test_disabled_tools_are_flagged_and_refused(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    server_id = register(api, org, demo_http_url)
    api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key)
    updated = api.put(
        f"/v1/mcp/servers/{server_id}/tools/disabled", org.admin_key, {"disabled_tools": ["echo", "echo"]}
    ).data
    assert updated["disabled_tools"] == ["echo"]
    assert {t["name"]: t["disabled"] for t in updated["tools"]}["echo"] is True
    reply = api.post(
        f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"tool_name": "echo", "arguments": {"message": "x"}}
    )
    assert reply.status == 403 and reply.code == "FORBIDDEN"
    api.put(f"/v1/mcp/servers/{server_id}/tools/disabled", org.admin_key, {"disabled_tools": []})
    reply = api.post(
        f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"tool_name": "echo", "arguments": {"message": "x"}}
    )
    assert reply.data["result"][0]["text"] == "x"


def test_disabling_an_unknown_tool_names_it(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    server_id = register(api, org, demo_http_url)
    api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key)
    reply = api.put(f"/v1/mcp/servers/{server_id}/tools/disabled", org.admin_key, {"disabled_tools": ["nope"]})
    assert reply.status == 400 and reply.body["details"]["unknown_tools"] == ["nope"]
    reply = api.put(f"/v1/mcp/servers/{server_id}/tools/disabled", org.admin_key, {"disabled_tools": "echo"})
    assert reply.status == 400 and reply.body["details"]["field"] == "disabled_tools"


def test_unknown_tools_and_stopped_servers_are_refused(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    server_id = register(api, org, demo_http_url)
    api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key)
    reply = api.post(f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"tool_name": "missing"})
    assert reply.status == 404
    api.patch(f"/v1/mcp/servers/{server_id}", org.admin_key, {"status": "stopped"})
    reply = api.post(
        f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"tool_name": "echo", "arguments": {"message": "x"}}
    )
    assert reply.code == "FORBIDDEN"


def test_invoke_with_bad_input_is_a_400(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    server_id = register(api, org, demo_http_url)
    reply = api.post(f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"arguments": {}})
    assert reply.status == 400 and reply.body["details"]["field"] == "tool_name"
    reply = api.post(f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"tool_name": "add", "arguments": [1]})
    assert reply.status == 400 and reply.body["details"]["field"] == "arguments"


def test_invoking_a_server_that_went_away_is_an_upstream_error(api: Api, org: OrgCtx) -> None:
    port = processes.free_port()
    with processes.demo_server("streamable-http", port):
        server_id = register(api, org, f"http://127.0.0.1:{port}/mcp", name="gone")
        api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key)
    reply = api.post(
        f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"tool_name": "echo", "arguments": {"message": "x"}}
    )
    assert reply.status == 502 and reply.code == "UPSTREAM_ERROR"
    assert reply.body["details"]["server_id"] == server_id
