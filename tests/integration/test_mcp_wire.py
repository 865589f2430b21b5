"""Every MCP result Portico sends conforms to the SDK's wire schema for its protocol revision.

The gateway shapes results without importing `mcp_types.methods` on its hot path; this holds it to
`mcp_types.methods.serialize_server_result` for each method and each revision a client may speak.
"""

from __future__ import annotations

from typing import Any

import pytest
from mcp_types.methods import serialize_server_result

from portico.local.runtime import LocalRuntime
from tests.factories.api import Api
from tests.factories.orgs import OrgCtx
from tests.integration.test_mcp_endpoint import demo_toolset, rpc

REVISIONS = ["2024-11-05", "2025-06-18", "2025-11-25", "2026-07-28"]


def _request(
    runtime: LocalRuntime, path: str, key: str, version: str, method: str, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    headers = {"MCP-Protocol-Version": version}
    if version == "2026-07-28":
        headers["Mcp-Method"] = method
        params = {
            **(params or {}),
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": version,
                "io.modelcontextprotocol/clientInfo": {"name": "wire", "version": "1"},
            },
        }
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params:
        message["params"] = params
    status, _, body = rpc(runtime, path, key, message, headers)
    assert status == 200 and "result" in body, body
    return dict(body["result"])


@pytest.mark.parametrize("version", REVISIONS)
def test_results_match_the_sdk_wire_schema(
    api: Api, org: OrgCtx, runtime: LocalRuntime, demo_http_url: str, version: str
) -> None:
    made = demo_toolset(api, org, demo_http_url)
    path = f"/mcp/toolsets/{made['toolset']['id']}"
    calls: list[tuple[str, dict[str, Any] | None]] = [
        ("tools/list", None),
        ("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}),
        ("tools/call", {"name": "fail", "arguments": {}}),
        ("prompts/list", None),
        ("prompts/get", {"name": "demo__review", "arguments": {"code": "x"}}),
        ("resources/list", None),
        ("resources/read", {"uri": "demo://greeting"}),
        ("resources/templates/list", None),
        ("ping", None),
    ]
    if version == "2026-07-28":
        calls.append(("server/discover", None))
    else:
        calls.append(
            (
                "initialize",
                {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "wire", "version": "1"}},
            )
        )
    for method, params in calls:
        result = _request(runtime, path, org.admin_key, version, method, params)
        try:
            shaped = serialize_server_result(method, version, result)
        except KeyError:
            continue  # not a method of this revision's surface
        # serialize_server_result raised if anything the revision requires were missing or malformed.
        assert set(shaped) <= set(result) | {"_meta"}, (method, result)
        if version != "2026-07-28":
            assert not {"resultType", "ttlMs", "cacheScope"} & set(result), (method, result)
