"""The MCP endpoint driven by real clients (the `mcp` SDK, both protocol eras) over real HTTP."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, MCPError

from portico.local.runtime import LocalRuntime
from tests.factories.api import Api, http
from tests.factories.mcp import inspector, with_client
from tests.factories.orgs import OrgCtx

MODES = ["legacy", "2026-07-28", "auto"]


def demo_toolset(api: Api, org: OrgCtx, url: str, name: str = "demo", **extra: Any) -> dict[str, Any]:
    server = api.post("/v1/mcp/servers", org.admin_key, {"name": name, "url": url}).data
    toolset = api.post(
        "/v1/toolsets/from_servers", org.admin_key, {"name": f"{name} tools", "server_ids": [server["id"]], **extra}
    )
    assert toolset.status == 201, toolset.body
    return {"server": server, "toolset": toolset.data}


def rpc(
    runtime: LocalRuntime,
    path: str,
    key: str | None,
    message: Any,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> tuple[int, dict[str, str], Any]:
    """A raw JSON-RPC exchange over HTTP (for the cases an SDK client would not produce)."""
    data = json.dumps(message).encode() if message is not None else None
    all_headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        **(headers or {}),
    }
    if key:
        all_headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(runtime.api_url + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
            return response.status, dict(response.headers), json.loads(body) if body else None
    except urllib.error.HTTPError as exc:
        body = exc.read()
        return exc.code, dict(exc.headers), json.loads(body) if body else None


@pytest.mark.parametrize("mode", MODES)
def test_a_toolset_serves_its_tools_to_the_sdk_client(
    api: Api, org: OrgCtx, runtime: LocalRuntime, demo_http_url: str, mode: str
) -> None:
    made = demo_toolset(api, org, demo_http_url)
    url = made["toolset"]["mcp_url"]
    assert url == f"{runtime.api_url}/mcp/toolsets/{made['toolset']['id']}"

    async def work(client: Client) -> dict[str, Any]:
        tools = await client.list_tools()
        added = await client.call_tool("add", {"a": 20, "b": 22})
        prompts = await client.list_prompts()
        prompt = await client.get_prompt(prompts.prompts[0].name, {"code": "x = 1"})
        resources = await client.list_resources()
        read = await client.read_resource(resources.resources[0].uri)
        return {
            "version": client.protocol_version,
            "tools": tools,
            "added": added,
            "prompts": prompts,
            "prompt": prompt,
            "resources": resources,
            "read": read,
            "server": client.server_info,
        }

    out = with_client(url, org.admin_key, mode, work)
    assert out["version"] == ("2025-11-25" if mode == "legacy" else "2026-07-28")
    names = {t.name for t in out["tools"].tools}
    assert {"add", "echo", "fail", "evolve"} <= names
    assert out["added"].structured_content == {"result": 42} and out["added"].is_error is False
    assert out["prompts"].prompts[0].name == "demo__review"
    assert "x = 1" in out["prompt"].messages[0].content.text
    assert out["read"].contents[0].text == "hello from the demo server"
    assert out["server"] is None or out["server"].name == "portico"


def test_the_org_endpoint_prefixes_and_the_server_endpoint_does_not(
    api: Api, org: OrgCtx, runtime: LocalRuntime, demo_http_url: str
) -> None:
    made = demo_toolset(api, org, demo_http_url, name="alpha")

    async def names(client: Client) -> set[str]:
        return {t.name for t in (await client.list_tools()).tools}

    org_wide = with_client(f"{runtime.api_url}/mcp", org.admin_key, "legacy", names)
    assert {"alpha__add", "alpha__echo"} <= org_wide
    server_url = made["server"]["endpoint_url"]
    assert server_url == f"{runtime.api_url}/mcp/servers/{made['server']['id']}"
    assert {"add", "echo"} <= with_client(server_url, org.admin_key, "legacy", names)

    async def call(client: Client) -> Any:
        return await client.call_tool("alpha__echo", {"message": "org-wide"})

    assert with_client(f"{runtime.api_url}/mcp", org.admin_key, "legacy", call).content[0].text == "org-wide"


def test_disabled_tools_are_neither_listed_nor_callable(
    api: Api, org: OrgCtx, runtime: LocalRuntime, demo_http_url: str
) -> None:
    made = demo_toolset(api, org, demo_http_url)
    server_id, url = made["server"]["id"], made["toolset"]["mcp_url"]
    api.put(f"/v1/mcp/servers/{server_id}/tools/disabled", org.admin_key, {"disabled_tools": ["echo"]})

    async def names(client: Client) -> set[str]:
        return {t.name for t in (await client.list_tools()).tools}

    assert "echo" not in with_client(url, org.admin_key, "legacy", names)
    status, _, body = rpc(
        runtime,
        f"/mcp/toolsets/{made['toolset']['id']}",
        org.admin_key,
        {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"message": "x"}},
        },
    )
    assert status == 200 and body["id"] == 7 and body["error"]["data"]["error_code"] == "FORBIDDEN"


def test_viewers_list_but_cannot_call(api: Api, org: OrgCtx, runtime: LocalRuntime, demo_http_url: str) -> None:
    made = demo_toolset(api, org, demo_http_url)
    viewer = org.member_key("viewer")

    async def work(client: Client) -> Any:
        listed = await client.list_tools()
        with pytest.raises(MCPError) as denied:
            await client.call_tool("add", {"a": 1, "b": 2})
        return listed, denied.value

    listed, denied = with_client(made["toolset"]["mcp_url"], viewer, "legacy", work)
    assert listed.tools and denied.error.data["error_code"] == "FORBIDDEN"


def test_progressive_exposure_searches_and_calls(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    made = demo_toolset(api, org, demo_http_url, exposure_mode="progressive")

    async def work(client: Client) -> Any:
        listed = await client.list_tools()
        found = await client.call_tool("search_tools", {"query": "add integers"})
        called = await client.call_tool("call_tool", {"name": "add", "arguments": {"a": 2, "b": 3}})
        with pytest.raises(MCPError) as missing:
            await client.call_tool("call_tool", {"name": "nope", "arguments": {}})
        return listed, found, called, missing.value

    listed, found, called, missing = with_client(made["toolset"]["mcp_url"], org.admin_key, "legacy", work)
    assert [t.name for t in listed.tools] == ["search_tools", "call_tool"]
    assert found.structured_content["tools"][0]["name"] == "add"
    assert called.structured_content == {"result": 5}
    assert missing.error.code == -32602


def test_sessions_are_bound_to_their_principal_and_end_on_delete(
    api: Api, org: OrgCtx, runtime: LocalRuntime, demo_http_url: str
) -> None:
    made = demo_toolset(api, org, demo_http_url)
    path = f"/mcp/toolsets/{made['toolset']['id']}"
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    status, headers, body = rpc(runtime, path, org.admin_key, init)
    assert status == 200 and body["result"]["protocolVersion"] == "2025-06-18"
    session = headers["Mcp-Session-Id"]
    assert len(session) >= 32  # 256 random bits, URL-safe
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    assert rpc(runtime, path, org.admin_key, listing, {"Mcp-Session-Id": session})[0] == 200
    member = org.member_key("member")
    assert rpc(runtime, path, member, listing, {"Mcp-Session-Id": session})[0] == 404
    assert rpc(runtime, "/mcp", org.admin_key, listing, {"Mcp-Session-Id": session})[0] == 404
    assert rpc(runtime, path, member, None, {"Mcp-Session-Id": session}, method="DELETE")[0] == 404
    assert rpc(runtime, path, org.admin_key, None, {"Mcp-Session-Id": session}, method="DELETE")[0] == 204
    assert rpc(runtime, path, org.admin_key, listing, {"Mcp-Session-Id": session})[0] == 404
    assert rpc(runtime, path, org.admin_key, listing)[0] == 200  # stateless still works
    unknown_version = {"MCP-Protocol-Version": "2024-01-01"}
    assert (
        rpc(
            runtime,
            path,
            org.admin_key,
            {**init, "params": {**init["params"], "protocolVersion": "1999-01-01"}},
            unknown_version,
        )[2]["error"]["code"]
        == -32022
    )
    negotiated = rpc(runtime, path, org.admin_key, {**init, "params": {**init["params"], "protocolVersion": "1999"}})
    assert negotiated[2]["result"]["protocolVersion"] == "2025-11-25"


def test_protocol_errors_are_json_rpc_errors(api: Api, org: OrgCtx, runtime: LocalRuntime, demo_http_url: str) -> None:
    made = demo_toolset(api, org, demo_http_url)
    path = f"/mcp/toolsets/{made['toolset']['id']}"
    status, headers, _ = rpc(runtime, path, org.admin_key, None, method="GET")
    assert status == 405 and "POST" in headers["Allow"]
    status, _, body = rpc(runtime, path, org.admin_key, {"jsonrpc": "2.0", "id": 3, "method": "tools/nope"})
    assert status == 200 and body["error"]["code"] == -32601
    request = urllib.request.Request(
        runtime.api_url + path,
        data=b"{broken",
        method="POST",
        headers={"Authorization": f"Bearer {org.admin_key}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as parse:
        urllib.request.urlopen(request, timeout=10)
    assert parse.value.code == 400 and json.loads(parse.value.read())["error"]["code"] == -32700
    assert rpc(runtime, path, org.admin_key, [{"jsonrpc": "2.0", "id": 1, "method": "ping"}])[0] == 400
    assert rpc(runtime, path, org.admin_key, {"jsonrpc": "2.0", "method": "notifications/initialized"})[0] == 202
    status, _, body = rpc(
        runtime,
        path,
        org.admin_key,
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "missing", "arguments": {}}},
    )
    assert body["error"]["code"] == -32602
    status, _, body = rpc(
        runtime,
        path,
        org.admin_key,
        {"jsonrpc": "2.0", "id": 5, "method": "tools/list"},
        {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call"},
    )
    assert status == 400 and body["error"]["code"] == -32020
    assert (
        rpc(
            runtime,
            "/mcp/toolsets/ts_000000000000000000000000",
            org.admin_key,
            {"jsonrpc": "2.0", "id": 6, "method": "tools/list"},
        )[0]
        == 404
    )


def test_unauthorized_requests_point_at_the_resource_metadata(runtime: LocalRuntime) -> None:
    status, headers, _body = rpc(runtime, "/mcp", None, {"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert status == 401
    assert f'resource_metadata="{runtime.api_url}/.well-known/oauth-protected-resource"' in headers["WWW-Authenticate"]
    metadata = http("GET", f"{runtime.api_url}/.well-known/oauth-protected-resource")
    assert metadata.status == 200 and metadata.body["resource"] == f"{runtime.api_url}/mcp"


def test_browser_origins_are_checked(api: Api, org: OrgCtx, runtime: LocalRuntime) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert rpc(runtime, "/mcp", org.admin_key, ping, {"Origin": "https://evil.example"})[0] == 403
    assert rpc(runtime, "/mcp", org.admin_key, ping, {"Origin": "http://localhost:6274"})[0] == 200


def test_a_hanging_downstream_fails_alone_and_in_bounded_time(
    api: Api, org: OrgCtx, runtime: LocalRuntime, demo_http_url: str, black_hole_url: str
) -> None:
    good = api.post("/v1/mcp/servers", org.admin_key, {"name": "good", "url": demo_http_url}).data
    api.post(f"/v1/mcp/servers/{good['id']}/sync", org.admin_key)
    bad = api.post("/v1/mcp/servers", org.admin_key, {"name": "bad", "url": black_hole_url}).data
    # The hanging server's tools were known once (as if it answered a sync before it started hanging).
    from portico.repositories.main import main_repository
    from portico.services.servers import definition_hash, tool_id

    tool = {
        "id": tool_id(bad["id"], "stuck"),
        "org_id": org.org_id,
        "server_id": bad["id"],
        "name": "stuck",
        "input_schema": {"type": "object"},
        "origin": "mcp",
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
    }
    main_repository().put_tool({**tool, "definition_hash": definition_hash(tool)})
    path = "/mcp"
    started = time.monotonic()
    status, _, body = rpc(runtime, path, org.admin_key, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert status == 200 and time.monotonic() - started < 20  # bounded: the hang costs one timeout (4 s here)
    names = {t["name"] for t in body["result"]["tools"]}
    assert "good__add" in names and "bad__stuck" not in names
    assert body["result"]["_meta"]["portico/errors"][0]["server"] == "bad"
    _status, _, body = rpc(
        runtime,
        path,
        org.admin_key,
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "bad__stuck", "arguments": {}}},
    )
    assert body["error"]["data"]["error_code"] == "UPSTREAM_TIMEOUT" and "bad" in body["error"]["message"]


def test_mcp_calls_leave_receipts_that_can_be_queried(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    made = demo_toolset(api, org, demo_http_url)

    async def work(client: Client) -> Any:
        await client.call_tool("add", {"a": 1, "b": 1})
        return await client.call_tool("fail", {"reason": "boom"})

    failed = with_client(made["toolset"]["mcp_url"], org.admin_key, "legacy", work)
    assert failed.is_error is True
    deadline = time.monotonic() + 20
    receipts: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(receipts) < 2:
        receipts = api.get(f"/v1/receipts?toolset_id={made['toolset']['id']}", org.admin_key).data["items"]
        time.sleep(0.1)
    assert {r["status"] for r in receipts} == {"ok", "error"}
    ok = next(r for r in receipts if r["status"] == "ok")
    assert ok["source"] == "mcp" and ok["client_name"] == "mcp" and ok["tool_name"] == "add"
    assert ok["upstream_latency_ms"] is not None and ok["session_id"]
    assert api.get(f"/v1/receipts/{ok['receipt_id']}", org.admin_key).data["receipt_id"] == ok["receipt_id"]
    assert api.get("/v1/receipts?status=error&tool=fail", org.admin_key).data["total"] == 1
    stats = api.get("/v1/receipts/stats", org.admin_key).data
    assert stats["total"] == 2 and stats["by_status"] == {"ok": 1, "error": 1}
    assert stats["latency_ms"]["p50"] is not None and stats["per_day"][0]["total"] == 2


def test_the_inspector_cli_lists_and_calls(api: Api, org: OrgCtx, demo_http_url: str, tmp_path: Path) -> None:
    made = demo_toolset(api, org, demo_http_url)
    url = made["toolset"]["mcp_url"]
    listed = inspector(url, org.admin_key, "tools/list", tmp=tmp_path)
    assert {"add", "echo"} <= {t["name"] for t in listed["tools"]}
    called = inspector(
        url, org.admin_key, "tools/call", "--tool-name", "echo", "--tool-arg", "message=inspected", tmp=tmp_path
    )
    assert called["content"][0]["text"] == "inspected"
    prompts = inspector(url, org.admin_key, "prompts/list", tmp=tmp_path)
    assert prompts["prompts"][0]["name"] == "demo__review"
