"""tools/list answers served from encoded pages: the same answers per revision and per request id,
and a change to the toolset shows at once (the pages live and die with the scope's resolution)."""

from __future__ import annotations

from portico.local.runtime import LocalRuntime
from tests.factories.api import Api
from tests.factories.orgs import OrgCtx
from tests.integration.test_mcp_endpoint import demo_toolset, rpc


def listing(runtime: LocalRuntime, path: str, key: str, message_id: object, version: str) -> dict[str, object]:
    status, _, body = rpc(
        runtime,
        path,
        key,
        {"jsonrpc": "2.0", "id": message_id, "method": "tools/list", "params": {}},
        {"MCP-Protocol-Version": version, "Mcp-Method": "tools/list"},
    )
    assert status == 200 and body["id"] == message_id, body
    return dict(body["result"])


def test_repeated_lists_keep_their_ids_and_revision_fields(
    api: Api, org: OrgCtx, runtime: LocalRuntime, demo_http_url: str
) -> None:
    made = demo_toolset(api, org, demo_http_url)
    path = f"/mcp/toolsets/{made['toolset']['id']}"
    first = listing(runtime, path, org.admin_key, 1, "2025-11-25")
    again = listing(runtime, path, org.admin_key, "two", "2025-11-25")
    modern = listing(runtime, path, org.admin_key, 3, "2026-07-28")
    assert first == again
    assert "resultType" not in first and "ttlMs" not in first
    assert modern["resultType"] == "complete" and modern["tools"] == first["tools"]
    assert listing(runtime, path, org.admin_key, 4, "2025-11-25") == first  # the modern page did not leak

    server_id = made["server"]["id"]
    api.put(f"/v1/mcp/servers/{server_id}/tools/disabled", org.admin_key, {"disabled_tools": ["echo"]})
    after = listing(runtime, path, org.admin_key, 5, "2025-11-25")
    assert {t["name"] for t in first["tools"]} - {t["name"] for t in after["tools"]} == {"echo"}
