"""Approval policy and definition pinning (seed 003, SPEC §6): nothing unapproved is listed or callable,
on any path, and a changed definition is quarantined until an admin re-approves it."""

from __future__ import annotations

from typing import Any

import pytest

from portico.local.runtime import LocalRuntime
from tests.factories import processes
from tests.factories.api import Api, Reply
from tests.factories.orgs import OrgCtx
from tests.factories.wait import wait_until


def register(api: Api, org: OrgCtx, url: str, name: str, policy: str) -> str:
    reply = api.post("/v1/mcp/servers", org.admin_key, {"name": name, "url": url, "approval_policy": policy})
    assert reply.status == 201, reply.body
    return str(reply.data["id"])


def mcp(api: Api, key: str, path: str, method: str, params: dict[str, Any] | None = None) -> Reply:
    return api.post(path, key, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}})


def listed(api: Api, key: str, path: str) -> set[str]:
    reply = mcp(api, key, path, "tools/list")
    assert reply.status == 200 and "result" in reply.body, reply.body
    return {t["name"] for t in reply.body["result"]["tools"]}


def tools_by_name(api: Api, org: OrgCtx, server_id: str) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in api.get(f"/v1/mcp/servers/{server_id}/tools", org.admin_key).data["tools"]}


def test_require_approval_all_exposes_nothing_until_an_admin_approves(
    api: Api, org: OrgCtx, demo_http_url: str
) -> None:
    server_id = register(api, org, demo_http_url, "gated", "require_approval_all")
    synced = api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key).data
    assert synced["approval_policy"] == "require_approval_all" and synced["approved"] == []
    assert {"add", "echo", "fail", "evolve"} <= set(synced["pending_approval"])
    assert tools_by_name(api, org, server_id)["echo"]["approval_status"] == "pending"
    assert listed(api, org.admin_key, f"/mcp/servers/{server_id}") == set()
    refused = api.post(f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"tool_name": "echo"})
    assert refused.status == 403 and refused.code == "APPROVAL_REQUIRED"

    approved = api.post(f"/v1/mcp/servers/{server_id}/tools/approve", org.admin_key, {"tools": ["echo"]}).data
    echo = tools_by_name(api, org, server_id)["echo"]
    assert approved["approved"] == ["echo"] and approved["tool_approval_hashes"] == [echo["definition_hash"]]
    assert echo["approval_status"] == "approved" and "echo" not in approved["pending_approval"]
    server = api.get(f"/v1/mcp/servers/{server_id}", org.admin_key).data
    assert server["tool_approval_hashes"] == [echo["definition_hash"]]
    assert listed(api, org.admin_key, f"/mcp/servers/{server_id}") == {"echo"}
    called = api.post(
        f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"tool_name": "echo", "arguments": {"message": "hi"}}
    )
    assert called.data["result"][0]["text"] == "hi"

    everything = api.post(f"/v1/mcp/servers/{server_id}/tools/approve", org.admin_key, {"all": True}).data
    assert everything["pending_approval"] == [] and len(everything["tool_approval_hashes"]) == synced["tools_count"]


def test_approve_rejects_unknown_tools_and_ambiguous_bodies(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    server_id = register(api, org, demo_http_url, "gated", "require_approval_all")
    api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key)
    unknown = api.post(f"/v1/mcp/servers/{server_id}/tools/approve", org.admin_key, {"tools": ["echo", "nope"]})
    assert unknown.status == 400 and unknown.body["details"]["field"] == "tools"
    assert unknown.body["details"]["unknown_tools"] == ["nope"]
    for body in ({}, {"tools": ["echo"], "all": True}, {"all": False}):
        reply = api.post(f"/v1/mcp/servers/{server_id}/tools/approve", org.admin_key, body)
        assert reply.status == 400 and reply.code == "VALIDATION_ERROR", body
    assert api.get(f"/v1/mcp/servers/{server_id}", org.admin_key).data["tool_approval_hashes"] == []


def test_a_changed_definition_is_quarantined_on_every_path_until_reapproved(
    api: Api, org: OrgCtx, runtime: LocalRuntime
) -> None:
    port = processes.free_port()
    with processes.demo_server("streamable-http", port):
        server_id = register(api, org, f"http://127.0.0.1:{port}/mcp", "pinned", "require_approval_on_change")
        first = api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key).data
        assert set(first["approved"]) == {"add", "echo", "fail", "evolve"} and first["pending_approval"] == []
        toolset = api.post(
            "/v1/toolsets/from_servers",
            org.admin_key,
            {"name": "progressive", "server_ids": [server_id], "exposure_mode": "progressive"},
        ).data
        add_id = tools_by_name(api, org, server_id)["add"]["id"]
        old_hash = tools_by_name(api, org, server_id)["add"]["definition_hash"]
        assert api.post(f"/v1/tools/{add_id}/execute", org.admin_key, {"arguments": {"a": 1, "b": 2}}).status == 200

        # The server redefines `add` (a rug pull) and grows a tool: both wait for an admin.
        api.post(f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"tool_name": "evolve"})
        again = api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key).data
        assert again["changed"] == ["add"] and again["added"] == ["extra"]
        assert again["pending_approval"] == ["add", "extra"]
        (quarantined,) = again["quarantined"]
        assert quarantined["name"] == "add" and quarantined["approved_hash"] == old_hash
        assert set(quarantined["approved_definition"]["input_schema"]["properties"]) == {"a", "b"}
        assert set(quarantined["new_definition"]["input_schema"]["properties"]) == {"a", "b", "c"}
        listing = api.get(f"/v1/mcp/servers/{server_id}/tools", org.admin_key).data
        add = next(t for t in listing["tools"] if t["name"] == "add")
        assert (
            add["approval_status"] == "quarantined" and add["approved_definition"]["description"] == "Add two integers."
        )
        assert add["description"] == "Add two or three integers."
        assert [q["name"] for q in listing["quarantined"]] == ["add"]

        # Not listed, and refused on every path, each leaving a denied receipt.
        assert "add" not in listed(api, org.admin_key, f"/mcp/servers/{server_id}")
        assert "pinned__add" not in listed(api, org.admin_key, "/mcp")
        invoke = api.post(f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"tool_name": "add"})
        assert invoke.status == 403 and invoke.code == "APPROVAL_REQUIRED"
        execute = api.post(f"/v1/tools/{add_id}/execute", org.admin_key, {"arguments": {"a": 1, "b": 2}})
        assert execute.status == 403 and execute.code == "APPROVAL_REQUIRED"
        direct = mcp(api, org.admin_key, f"/mcp/servers/{server_id}", "tools/call", {"name": "add", "arguments": {}})
        assert direct.status == 200 and direct.body["error"]["code"] == -32004 and direct.code == "APPROVAL_REQUIRED"
        org_wide = mcp(api, org.admin_key, "/mcp", "tools/call", {"name": "pinned__add", "arguments": {}})
        assert org_wide.code == "APPROVAL_REQUIRED"
        progressive = mcp(
            api,
            org.admin_key,
            f"/mcp/toolsets/{toolset['id']}",
            "tools/call",
            {"name": "call_tool", "arguments": {"name": "add", "arguments": {"a": 1, "b": 2}}},
        )
        assert progressive.code == "APPROVAL_REQUIRED"
        search = mcp(
            api,
            org.admin_key,
            f"/mcp/toolsets/{toolset['id']}",
            "tools/call",
            {"name": "search_tools", "arguments": {"query": "add"}},
        )
        assert "add" not in {t["name"] for t in search.body["result"]["structuredContent"]["tools"]}

        def denied() -> list[dict[str, Any]]:
            items = api.get("/v1/receipts?status=denied&limit=200", org.admin_key).data["items"]
            return [r for r in items if r["tool_name"] == "add" and r["error_code"] == "APPROVAL_REQUIRED"]

        receipts = wait_until(lambda: (found := denied()) and len(found) >= 5 and found)
        assert {r["source"] for r in receipts} == {"rest_invoke", "rest_execute", "mcp"}
        assert all(r["policy_decision"] == "deny" for r in receipts)

        approved = api.post(f"/v1/mcp/servers/{server_id}/tools/approve", org.admin_key, {"tools": ["add"]}).data
        assert approved["pending_approval"] == ["extra"]
        result = api.post(
            f"/v1/mcp/servers/{server_id}/invoke",
            org.admin_key,
            {"tool_name": "add", "arguments": {"a": 1, "b": 2, "c": 3}},
        ).data
        assert result["structured_content"] == {"result": 6}
        assert "add" in listed(api, org.admin_key, f"/mcp/servers/{server_id}")


def test_switching_to_approval_on_change_pins_the_current_tools(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    server_id = register(api, org, demo_http_url, "later", "auto_approve")
    synced = api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key).data
    assert synced["pending_approval"] == [] and all(
        t["approval_status"] == "not_required" for t in tools_by_name(api, org, server_id).values()
    )
    patched = api.patch(
        f"/v1/mcp/servers/{server_id}", org.admin_key, {"approval_policy": "require_approval_on_change"}
    ).data
    assert len(patched["tool_approval_hashes"]) == synced["tools_count"]
    assert all(t["approval_status"] == "approved" for t in tools_by_name(api, org, server_id).values())
    strict = api.patch(f"/v1/mcp/servers/{server_id}", org.admin_key, {"approval_policy": "require_approval_all"})
    assert strict.data["tool_approval_hashes"] == patched["tool_approval_hashes"]


def test_switching_from_approval_all_approves_nothing_implicitly(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    server_id = register(api, org, demo_http_url, "strict", "require_approval_all")
    api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key)
    api.post(f"/v1/mcp/servers/{server_id}/tools/approve", org.admin_key, {"tools": ["echo"]})
    patched = api.patch(
        f"/v1/mcp/servers/{server_id}", org.admin_key, {"approval_policy": "require_approval_on_change"}
    )
    assert len(patched.data["tool_approval_hashes"]) == 1
    assert listed(api, org.admin_key, f"/mcp/servers/{server_id}") == {"echo"}


def test_a_live_definition_that_drifted_from_the_synced_one_is_not_listed(api: Api, org: OrgCtx) -> None:
    port = processes.free_port()
    with processes.demo_server("streamable-http", port):
        server_id = register(api, org, f"http://127.0.0.1:{port}/mcp", "drifting", "require_approval_on_change")
        api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key)
        api.post(f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"tool_name": "evolve"})
        # Not re-synced: the downstream now describes `add` otherwise than what was approved.
        names = listed(api, org.admin_key, f"/mcp/servers/{server_id}")
        assert "add" not in names and {"echo", "evolve", "fail"} <= names


@pytest.mark.parametrize("policy", ["auto_approve", "require_approval_all"])
def test_sync_flags_colliding_names_and_hidden_characters(
    api: Api, org: OrgCtx, demo_http_url: str, policy: str
) -> None:
    register_demo = register(api, org, demo_http_url, "demo", "auto_approve")
    api.post(f"/v1/mcp/servers/{register_demo}/sync", org.admin_key)
    port = processes.free_port()
    with processes.tricky_server(port):
        server_id = register(api, org, f"http://127.0.0.1:{port}/mcp", "tricky", policy)
        synced = api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key).data
    flags = {(f["tool"], f["kind"], f["field"]) for f in synced["flags"]}
    assert ("echo", "name_collision", "name") in flags
    assert ("lookup", "hidden_characters", "description") in flags
    assert ("lookup", "hidden_characters", "input_schema.properties.query.description") in flags
    assert not any(f[0] == "plain" for f in flags)
    collision = next(f for f in synced["flags"] if f["kind"] == "name_collision")
    assert "server demo" in collision["detail"]
    hidden = next(f for f in synced["flags"] if f["field"] == "description")
    assert "U+200B" in hidden["detail"]
    tools = tools_by_name(api, org, server_id)
    assert {f["kind"] for f in tools["lookup"]["flags"]} == {"hidden_characters"}
    assert [f["kind"] for f in tools["echo"]["flags"]] == ["name_collision"]
    assert tools["plain"]["flags"] == []


def test_a_gateway_server_under_approval_joins_its_toolset_but_waits_for_approval(
    api: Api, org: OrgCtx, demo_http_url: str
) -> None:
    toolset = api.post("/v1/toolsets", org.admin_key, {"name": "gw"}).data
    registered = api.post(
        f"/v1/toolsets/{toolset['id']}/gateway",
        org.admin_key,
        {"name": "gw", "url": demo_http_url, "approval_policy": "require_approval_all"},
    )
    assert registered.status in (200, 201), registered.body
    synced = registered.data
    assert {"add", "echo"} <= set(synced["pending_approval"]) and synced["toolset"]["tools_count"] >= 4
    assert listed(api, org.admin_key, f"/mcp/toolsets/{toolset['id']}") == set()
    api.post(f"/v1/mcp/servers/{synced['server_id']}/tools/approve", org.admin_key, {"tools": ["add"]})
    assert listed(api, org.admin_key, f"/mcp/toolsets/{toolset['id']}") == {"add"}


def test_a_synced_server_everything_lists_every_tool_under_on_change_with_wire_annotations(
    api: Api, org: OrgCtx, everything_url: str
) -> None:
    # The reference server's tools carry annotations and execution hints: what sync stores and pins must
    # hash the same as what a live tools/list says, or every tool would look changed (and be hidden).
    server_id = register(api, org, everything_url, "everything-pinned", "require_approval_on_change")
    synced = api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key).data
    assert synced["pending_approval"] == [] and len(synced["approved"]) == synced["tools_count"]
    names = listed(api, org.admin_key, f"/mcp/servers/{server_id}")
    assert names == set(tools_by_name(api, org, server_id)) and "echo" in names
    tools = mcp(api, org.admin_key, f"/mcp/servers/{server_id}", "tools/list").body["result"]["tools"]
    annotated = [t["annotations"] for t in tools if t.get("annotations")]
    assert annotated, "server-everything annotates some tools"
    for hints in annotated:
        assert not any("_" in key for key in hints), hints  # readOnlyHint, not read_only_hint
