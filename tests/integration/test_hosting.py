"""Hosting API (seed 000): tier, role, quota under concurrency, idempotency, validation, image without engine."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from portico.hosting.local import engine_available
from tests.factories.api import Api
from tests.factories.hosting import wait_for
from tests.factories.orgs import OrgCtx, new_org

IMAGE = {"source_type": "image", "source_url": "ghcr.io/example/mcp-server:1"}
HOSTED_ROUTES = [
    ("POST", "/v1/mcp/servers/{id}/stop"),
    ("POST", "/v1/mcp/servers/{id}/start"),
    ("POST", "/v1/mcp/servers/{id}/restart"),
]


def _name() -> str:
    return f"h-{uuid.uuid4().hex[:10]}"


def test_hosted_server_needs_the_studio_tier(api: Api, operator_key: str) -> None:
    for tier in ("free", "pro"):
        lower = new_org(api, operator_key, tier)
        reply = api.post("/v1/mcp/servers", lower.admin_key, {"name": _name(), **IMAGE})
        assert reply.status == 403 and reply.code == "TIER_REQUIRED", reply.body
        remote = api.post("/v1/mcp/servers", lower.admin_key, {"name": "r", "url": "http://a.example/mcp"}).data
        for method, path in HOSTED_ROUTES:
            denied = api.call(method, path.format(id=remote["id"]), lower.admin_key)
            assert denied.status == 403 and denied.code == "TIER_REQUIRED", denied.body


def test_hosted_server_needs_an_admin(api: Api, org: OrgCtx) -> None:
    for role in ("member", "viewer"):
        reply = api.post("/v1/mcp/servers", org.member_key(role), {"name": _name(), **IMAGE})
        assert reply.status == 403 and reply.code == "FORBIDDEN", reply.body


def test_create_answers_provisioning_without_an_endpoint(
    api: Api, org: OrgCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portico.repositories.workflows import Workflows

    # Only the API's answer is under test here: hold the workflow back so the slot stays claimed.
    monkeypatch.setattr(Workflows, "start", lambda self, action, org_id, server_id: "")
    reply = api.post("/v1/mcp/servers", org.admin_key, {"name": _name(), **IMAGE, "env": {"LEVEL": "debug"}})
    assert reply.status == 201, reply.body
    server = reply.data
    assert server["id"].startswith("mcp_") and server["status"] == "provisioning"
    assert server["endpoint_url"] is None and server["source_type"] == "image"
    assert server["source_url"] == IMAGE["source_url"] and server["env"] == {"LEVEL": "********"}
    listed = api.get("/v1/mcp/servers", org.admin_key).data
    assert listed["quota_limit"] == 5 and listed["used"] == 1 and listed["total"] == 1


@pytest.mark.skipif(engine_available(), reason="a container engine answers here")
def test_image_source_without_a_container_engine_ends_in_error_with_a_log_line(api: Api, org: OrgCtx) -> None:
    server = api.post("/v1/mcp/servers", org.admin_key, {"name": _name(), **IMAGE}).data
    done = wait_for(api, org.admin_key, server["id"], {"error", "running"})
    assert done["status"] == "error" and done["endpoint_url"] is None
    assert any(e["level"] == "error" and "no container engine" in e["message"] for e in done["logs"]), done["logs"]
    assert "no container engine" in (done["last_error"] or "")
    # The failed server gave its quota slot back, and its logs page through the logs route.
    assert api.get("/v1/mcp/servers", org.admin_key).data["used"] == 0
    page = api.get(f"/v1/mcp/servers/{server['id']}/logs?limit=2", org.admin_key).data
    assert len(page["logs"]) == 2 and page["next_token"]
    rest = api.get(f"/v1/mcp/servers/{server['id']}/logs?limit=100&next_token={page['next_token']}", org.admin_key)
    assert any("no container engine" in e["message"] for e in rest.data["logs"])
    # Deleting an errored server removes it (and releases nothing twice).
    assert api.delete(f"/v1/mcp/servers/{server['id']}", org.admin_key).status == 204
    wait_gone_or_fail(api, org, server["id"])
    assert api.get("/v1/mcp/servers", org.admin_key).data["used"] == 0


def wait_gone_or_fail(api: Api, org: OrgCtx, server_id: str) -> None:
    from tests.factories.hosting import wait_gone

    wait_gone(api, org.admin_key, server_id)


def test_twenty_concurrent_creates_leave_exactly_five(api: Api, org: OrgCtx, monkeypatch: pytest.MonkeyPatch) -> None:
    from portico.repositories.workflows import Workflows

    # The quota is under test: hold the workflows back so no server can fail (and free its slot) mid-race.
    started: list[str] = []
    monkeypatch.setattr(Workflows, "start", lambda self, action, org_id, server_id: started.append(server_id) or "")

    def create(n: int) -> tuple[int, str | None]:
        reply = api.post("/v1/mcp/servers", org.admin_key, {"name": f"race-{n}", **IMAGE})
        return reply.status, reply.code

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(create, range(20)))
    created = [r for r in results if r[0] == 201]
    assert len(created) == 5, results
    # Every refusal is the quota (or a retryable conflict under contention), never a 500.
    assert all(r[0] == 201 or r[1] in ("QUOTA_EXCEEDED", "CONFLICT") for r in results), results
    assert sum(1 for r in results if r[1] == "QUOTA_EXCEEDED") >= 1
    servers = api.get("/v1/mcp/servers", org.admin_key).data["servers"]
    assert len([s for s in servers if s["source_type"] == "image"]) == 5
    assert sorted(started) == sorted(s["id"] for s in servers)
    assert api.get("/v1/mcp/servers", org.admin_key).data["used"] == 5


def test_the_sixth_hosted_server_is_over_quota(api: Api, org: OrgCtx) -> None:
    from portico.repositories.main import main_repository

    # Hold five slots without running anything: the quota counter is what is claimed atomically.
    main_repository().table.put({"pk": f"ORG#{org.org_id}", "sk": "QUOTA#hosted_servers", "used": 5})
    reply = api.post("/v1/mcp/servers", org.admin_key, {"name": _name(), **IMAGE})
    assert reply.status == 403 and reply.code == "QUOTA_EXCEEDED" and reply.body["details"]["limit"] == 5
    # Remote servers have their own quota.
    assert api.post("/v1/mcp/servers", org.admin_key, {"name": _name(), "url": "http://a.example/mcp"}).status == 201


def test_a_retried_create_with_the_same_idempotency_key_makes_one_server(api: Api, org: OrgCtx) -> None:
    body = {"name": _name(), **IMAGE}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = api.post("/v1/mcp/servers", org.admin_key, body, headers=key)
    again = api.post("/v1/mcp/servers", org.admin_key, body, headers=key)
    assert first.status == 201 and again.status == 201, (first.body, again.body)
    assert first.data["id"] == again.data["id"]
    assert api.get("/v1/mcp/servers", org.admin_key).data["total"] == 1
    other = api.post("/v1/mcp/servers", org.admin_key, {**body, "name": _name()}, headers=key)
    assert other.status == 409 and other.code == "CONFLICT" and other.body["details"]["field"] == "Idempotency-Key"
    # A new key is a new request.
    fresh = api.post("/v1/mcp/servers", org.admin_key, {**body, "name": _name()}, headers={"Idempotency-Key": "x1"})
    assert fresh.status == 201 and fresh.data["id"] != first.data["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"source_type": "package"}, "command"),
        ({"source_type": "git"}, "source_url"),
        ({"source_type": "image", "source_url": "NOT AN IMAGE"}, "source_url"),
        ({"source_type": "package", "command": "npx", "env": {"1BAD": "x"}}, "env"),
        ({"source_type": "git", "source_url": "/tmp/x", "subdirectory": "../up"}, "subdirectory"),
        ({"source_type": "package", "command": "npx", "bogus": 1}, "bogus"),
    ],
)
def test_bad_hosted_bodies_are_400_naming_the_field(api: Api, org: OrgCtx, body: dict, field: str) -> None:
    reply = api.post("/v1/mcp/servers", org.admin_key, {"name": _name(), **body})
    assert reply.status == 400 and reply.code == "VALIDATION_ERROR", reply.body
    assert field in reply.body["message"] or field in str(reply.body["details"]), reply.body
    assert api.get("/v1/mcp/servers", org.admin_key).data["total"] == 0


def test_a_reference_to_a_missing_secret_is_a_400_naming_the_variable(api: Api, org: OrgCtx) -> None:
    body = {"name": _name(), "source_type": "package", "command": "npx", "env": {"TOKEN": "{{ secrets.API_TOKEN }}"}}
    reply = api.post("/v1/mcp/servers", org.admin_key, body)
    assert reply.status == 400 and reply.code == "VALIDATION_ERROR" and reply.body["details"]["field"] == "env.TOKEN"
    assert api.get("/v1/mcp/servers", org.admin_key).data["used"] == 0


def test_lifecycle_routes_refuse_remote_servers_and_wrong_states(api: Api, org: OrgCtx) -> None:
    remote = api.post("/v1/mcp/servers", org.admin_key, {"name": _name(), "url": "http://a.example/mcp"}).data
    for method, path in HOSTED_ROUTES:
        reply = api.call(method, path.format(id=remote["id"]), org.admin_key)
        assert reply.status == 400 and reply.code == "VALIDATION_ERROR", reply.body
    hosted = api.post("/v1/mcp/servers", org.admin_key, {"name": _name(), **IMAGE}).data
    stopped = api.post(f"/v1/mcp/servers/{hosted['id']}/stop", org.admin_key)
    assert stopped.status == 409 and stopped.code == "CONFLICT"
    patched = api.patch(f"/v1/mcp/servers/{hosted['id']}", org.admin_key, {"url": "http://evil.example/mcp"})
    assert patched.status == 400 and patched.body["details"]["field"] == "url"
