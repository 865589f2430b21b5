"""The registry of remote MCP servers: CRUD, filters, pagination, validation, quotas, isolation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.factories.api import Api
from tests.factories.orgs import OrgCtx, new_org


def register(api: Api, org: OrgCtx, name: str, **extra: Any) -> dict[str, Any]:
    body = {"name": name, "url": "http://127.0.0.1:9/mcp", **extra}
    reply = api.post("/v1/mcp/servers", org.admin_key, body)
    assert reply.status == 201, reply.body
    return dict(reply.data)


def test_an_admin_registers_a_remote_server(api: Api, org: OrgCtx) -> None:
    server = register(
        api,
        org,
        "weather",
        description="Forecasts",
        tags=["prod", "weather"],
        transport="sse",
        headers={"X-Token": "s3cret"},
        approval_policy="require_approval_on_change",
    )
    assert server["id"].startswith("mcp_") and server["status"] == "running"
    assert server["source_type"] == "remote" and server["transport"] == "sse"
    assert server["created_by"] == org.admin_user_id and server["is_creator"] is True
    assert server["access_info"]["role"] == "admin"
    assert server["endpoint_url"].endswith(f"/mcp/servers/{server['id']}")
    assert server["headers"] == {"X-Token": "********"}
    fetched = api.get(f"/v1/mcp/servers/{server['id']}", org.admin_key).data
    assert fetched["approval_policy"] == "require_approval_on_change"
    assert "s3cret" not in str(fetched)


def test_lower_roles_read_but_do_not_change_servers(api: Api, org: OrgCtx) -> None:
    server = register(api, org, "readonly")
    for role in ("viewer", "member"):
        key = org.member_key(role)
        assert api.get(f"/v1/mcp/servers/{server['id']}", key).data["is_creator"] is False
        assert api.get("/v1/mcp/servers", key).data["total"] == 1
        assert api.post("/v1/mcp/servers", key, {"name": "x", "url": "http://a.example/mcp"}).code == "FORBIDDEN"
        assert api.patch(f"/v1/mcp/servers/{server['id']}", key, {"description": "x"}).code == "FORBIDDEN"
        assert api.delete(f"/v1/mcp/servers/{server['id']}", key).code == "FORBIDDEN"
        assert api.post(f"/v1/mcp/servers/{server['id']}/sync", key).code == "FORBIDDEN"
        assert api.put(f"/v1/mcp/servers/{server['id']}/tools/disabled", key, {"disabled_tools": []}).code == (
            "FORBIDDEN"
        )
    viewer = org.member_key("viewer")
    assert api.post(f"/v1/mcp/servers/{server['id']}/test", viewer).code == "FORBIDDEN"
    assert api.post(f"/v1/mcp/servers/{server['id']}/invoke", viewer, {"tool_name": "x"}).code == "FORBIDDEN"


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"description": "x"}),
        ("DELETE", "", None),
        ("POST", "/test", None),
        ("POST", "/sync", None),
        ("GET", "/tools", None),
        ("PUT", "/tools/disabled", {"disabled_tools": []}),
        ("POST", "/invoke", {"tool_name": "echo"}),
    ],
)
def test_another_orgs_server_is_not_found(
    api: Api, org: OrgCtx, other_org: OrgCtx, method: str, suffix: str, body: Any
) -> None:
    server = register(api, other_org, "theirs")
    reply = api.call(method, f"/v1/mcp/servers/{server['id']}{suffix}", org.admin_key, json_body=body)
    assert reply.status == 404 and reply.code == "RESOURCE_NOT_FOUND"
    assert api.get(f"/v1/mcp/servers/{server['id']}", other_org.admin_key).status == 200


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("POST", "", {"name": "x", "url": "http://a.example/mcp"}),
        ("GET", "", None),
        ("GET", "/mcp_000000000000000000000000", None),
        ("POST", "/mcp_000000000000000000000000/test", None),
        ("POST", "/mcp_000000000000000000000000/invoke", {"tool_name": "x"}),
    ],
)
def test_server_endpoints_need_credentials(api: Api, method: str, suffix: str, body: Any) -> None:
    assert api.call(method, f"/v1/mcp/servers{suffix}", None, json_body=body).status == 401
    assert api.call(method, f"/v1/mcp/servers{suffix}", "key_x.pts_y", json_body=body).status == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://a.example/mcp"}, "name"),
        ({"name": "ok", "url": "ftp://a.example/mcp"}, "url"),
        ({"name": "ok", "url": "http://a.example/mcp", "transport": "stdio"}, "transport"),
        ({"name": "bad name!", "url": "http://a.example/mcp"}, "name"),
        ({"name": "ok", "url": "http://a.example/mcp", "headers": {"Host": "evil"}}, "headers"),
        ({"name": "ok", "url": "http://a.example/mcp", "headers": {"bad header": "x"}}, "headers"),
        ({"name": "ok", "url": "http://a.example/mcp", "approval_policy": "sometimes"}, "approval_policy"),
        ({"name": "ok", "url": "http://a.example/mcp", "tags": ["no spaces"]}, "tags.0"),
        ({"name": "ok", "url": "http://a.example/mcp", "org_id": "org_x"}, "org_id"),
        ({"name": "ok", "url": "http://a.example/mcp", "source_type": "ftp"}, "source_type"),
        ({"name": "ok", "url": "http://a.example/mcp", "source_type": "git"}, "url"),  # hosted: source_url
    ],
)
def test_bad_server_input_is_a_400_naming_the_field(api: Api, org: OrgCtx, body: dict[str, Any], field: str) -> None:
    reply = api.post("/v1/mcp/servers", org.admin_key, body)
    assert reply.status == 400 and reply.code == "VALIDATION_ERROR"
    assert reply.body["details"]["field"] == field
    assert api.get("/v1/mcp/servers", org.admin_key).data["total"] == 0


def test_malformed_bodies_are_rejected_cleanly(api: Api, org: OrgCtx) -> None:
    reply = api.call("POST", "/v1/mcp/servers", org.admin_key, raw=b"{not json")
    assert reply.status == 400 and reply.body["details"]["field"] == "body"
    reply = api.call("POST", "/v1/mcp/servers", org.admin_key, raw=b"name=x", headers={"Content-Type": "text/plain"})
    assert reply.status == 400 and reply.body["details"]["field"] == "Content-Type"
    reply = api.call("POST", "/v1/mcp/servers", org.admin_key, raw=b"[1, 2]")
    assert reply.status == 400


def test_server_names_are_unique_within_an_org(api: Api, org: OrgCtx, other_org: OrgCtx) -> None:
    register(api, org, "github")
    reply = api.post("/v1/mcp/servers", org.admin_key, {"name": "GitHub", "url": "http://a.example/mcp"})
    assert reply.code == "CONFLICT" and reply.body["details"]["field"] == "name"
    register(api, other_org, "github")
    second = register(api, org, "gitlab")
    assert api.patch(f"/v1/mcp/servers/{second['id']}", org.admin_key, {"name": "github"}).code == "CONFLICT"
    renamed = api.patch(f"/v1/mcp/servers/{second['id']}", org.admin_key, {"name": "gitlab-ce"}).data
    assert renamed["name"] == "gitlab-ce"
    register(api, org, "gitlab")  # the old name is free again


def test_patch_changes_only_what_it_names(api: Api, org: OrgCtx) -> None:
    server = register(api, org, "patchy", description="before", tags=["a"])
    updated = api.patch(f"/v1/mcp/servers/{server['id']}", org.admin_key, {"description": "after"}).data
    assert updated["description"] == "after" and updated["tags"] == ["a"] and updated["name"] == "patchy"
    assert updated["updated_at"] >= server["updated_at"]
    assert api.patch(f"/v1/mcp/servers/{server['id']}", org.admin_key, {"url": None}).code == "VALIDATION_ERROR"
    stopped = api.patch(f"/v1/mcp/servers/{server['id']}", org.admin_key, {"status": "stopped"}).data
    assert stopped["status"] == "stopped"


def test_concurrent_patches_lose_no_update(api: Api, org: OrgCtx) -> None:
    server = register(api, org, "contended")

    def patch(n: int) -> int:
        return api.patch(f"/v1/mcp/servers/{server['id']}", org.admin_key, {"tags": [f"t{n}"]}).status

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(patch, range(8)))
    assert set(statuses) <= {200, 409} and 200 in statuses
    final = api.get(f"/v1/mcp/servers/{server['id']}", org.admin_key).data
    assert len(final["tags"]) == 1


def test_list_filters_and_paginates(api: Api, org: OrgCtx) -> None:
    for n in range(5):
        register(api, org, f"svc{n}", tags=["even"] if n % 2 == 0 else ["odd"], description=f"service number {n}")
    first = api.get("/v1/mcp/servers?limit=2", org.admin_key).data
    assert first["total"] == 5 and len(first["servers"]) == 2 and first["limit"] == 2
    assert [s["name"] for s in first["servers"]] == ["svc4", "svc3"]  # newest first
    rest = api.get("/v1/mcp/servers?limit=2&offset=4", org.admin_key).data
    assert [s["name"] for s in rest["servers"]] == ["svc0"]
    assert api.get("/v1/mcp/servers?tags=even", org.admin_key).data["total"] == 3
    assert api.get("/v1/mcp/servers?search=NUMBER 3", org.admin_key).data["servers"][0]["name"] == "svc3"
    assert api.get("/v1/mcp/servers?status=stopped", org.admin_key).data["total"] == 0
    created = api.get("/v1/mcp/servers?limit=5", org.admin_key).data["servers"]
    cutoff = created[2]["created_at"]
    after = api.get(f"/v1/mcp/servers?created_after={cutoff}", org.admin_key).data
    assert after["total"] >= 3
    assert api.get("/v1/mcp/servers?created_before=2000-01-01T00:00:00Z", org.admin_key).data["total"] == 0


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "offset=-1", "created_after=yesterday", "limit=abc"])
def test_bad_list_parameters_are_400(api: Api, org: OrgCtx, query: str) -> None:
    reply = api.get(f"/v1/mcp/servers?{query}", org.admin_key)
    assert reply.status == 400 and reply.body["details"]["field"] == query.split("=")[0]


def test_delete_removes_the_server_and_frees_its_name(api: Api, org: OrgCtx) -> None:
    server = register(api, org, "ephemeral")
    assert api.delete(f"/v1/mcp/servers/{server['id']}", org.admin_key).status == 204
    assert api.get(f"/v1/mcp/servers/{server['id']}", org.admin_key).status == 404
    assert api.delete(f"/v1/mcp/servers/{server['id']}", org.admin_key).status == 404
    register(api, org, "ephemeral")


def test_the_free_tier_quota_holds_under_concurrent_creates(api: Api, operator_key: str) -> None:
    free = new_org(api, operator_key, "free")

    def create(n: int) -> int:
        return api.post("/v1/mcp/servers", free.admin_key, {"name": f"q{n}", "url": "http://a.example/mcp"}).status

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(create, range(10)))
    # Exactly the quota is created. The rest are refused: 403 QUOTA_EXCEEDED, or, for a create that
    # stayed contended through its retries (DynamoDB's TransactionConflict), 409 — safe to retry.
    assert statuses.count(201) == 3 and statuses.count(403) >= 1
    assert all(s in (403, 409) for s in statuses if s != 201)
    servers = api.get("/v1/mcp/servers", free.admin_key).data["servers"]
    assert len(servers) == 3
    reply = api.post("/v1/mcp/servers", free.admin_key, {"name": "more", "url": "http://a.example/mcp"})
    assert reply.code == "QUOTA_EXCEEDED" and reply.body["details"]["limit"] == 3
    api.delete(f"/v1/mcp/servers/{servers[0]['id']}", free.admin_key)
    assert api.post("/v1/mcp/servers", free.admin_key, {"name": "more", "url": "http://a.example/mcp"}).status == 201


def test_a_higher_tier_has_room_for_more_servers(api: Api, operator_key: str) -> None:
    pro = new_org(api, operator_key, "pro")
    for n in range(4):
        assert (
            api.post("/v1/mcp/servers", pro.admin_key, {"name": f"p{n}", "url": "http://a.example/mcp"}).status == 201
        )
