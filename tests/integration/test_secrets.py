"""Org secrets and downstream auth: write-only values in Secrets Manager (moto), resolved at call time.

Downstreams are real MCP servers on loopback that refuse requests without the right bearer token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from portico.local.runtime import LocalRuntime
from portico.repositories.aws import client
from tests.factories import processes
from tests.factories.api import Api
from tests.factories.mcp import with_client
from tests.factories.orgs import OrgCtx
from tests.factories.wait import wait_until
from tests.integration.test_receipts_pipeline import receipts_of

TOKEN = "tok-Downstream-9f3c2e71"


@pytest.fixture(scope="module")
def guarded_url() -> Iterator[str]:
    """A loopback MCP server that answers only ``Authorization: Bearer TOKEN``."""
    port = processes.free_port()
    with processes.guarded_server(port, "--token", TOKEN):
        yield f"http://127.0.0.1:{port}/mcp"


def test_secrets_are_written_listed_by_name_and_deleted(api: Api, org: OrgCtx) -> None:
    created = api.put("/v1/secrets/API_TOKEN", org.admin_key, {"value": "v1-value"})
    assert created.status == 201 and created.data["name"] == "API_TOKEN" and created.data["created"] is True
    again = api.put("/v1/secrets/API_TOKEN", org.admin_key, {"value": "v2-value"})
    assert again.status == 200 and again.data["created"] is False
    assert again.data["created_at"] == created.data["created_at"]
    listed = api.get("/v1/secrets", org.admin_key).data
    assert listed["total"] == 1
    assert listed["secrets"] == [
        {"name": "API_TOKEN", "created_at": created.data["created_at"], "updated_at": again.data["updated_at"]}
    ]
    assert "value" not in json.dumps(listed) or "v2-value" not in json.dumps(listed)
    # The value lives in Secrets Manager, under the org's prefix, tagged with the org.
    stored = client("secretsmanager").describe_secret(SecretId=f"portico/local/{org.org_id}/API_TOKEN")
    assert {"Key": "portico:org", "Value": org.org_id} in stored["Tags"]
    assert api.delete("/v1/secrets/API_TOKEN", org.admin_key).status == 204
    assert api.get("/v1/secrets", org.admin_key).data["total"] == 0
    assert api.delete("/v1/secrets/API_TOKEN", org.admin_key).code == "RESOURCE_NOT_FOUND"
    # A deleted name can be written again at once.
    assert api.put("/v1/secrets/API_TOKEN", org.admin_key, {"value": "v3"}).status == 201


def test_the_secret_list_paginates_and_is_per_org(api: Api, org: OrgCtx, other_org: OrgCtx) -> None:
    for n in range(5):
        assert api.put(f"/v1/secrets/S{n}", org.admin_key, {"value": f"value-{n}"}).status < 300
    page = api.get("/v1/secrets?limit=2&offset=1", org.admin_key).data
    assert page["total"] == 5 and len(page["secrets"]) == 2 and page["limit"] == 2 and page["offset"] == 1
    assert api.get("/v1/secrets", other_org.admin_key).data["total"] == 0
    assert api.get("/v1/secrets?search=s3", org.admin_key).data["total"] == 1


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("bad name", {"value": "x"}, "name"),
        ("9starts_with_digit", {"value": "x"}, "name"),
        ("OK", {"value": ""}, "value"),
        ("OK", {"value": 5}, "value"),
        ("OK", {"value": "x", "extra": 1}, "extra"),
        ("OK", {"value": "x" * 65537}, "value"),
    ],
)
def test_bad_secret_input_is_a_400_naming_the_field(api: Api, org: OrgCtx, name: str, body: Any, field: str) -> None:
    reply = api.put(f"/v1/secrets/{name.replace(' ', '%20')}", org.admin_key, body)
    assert reply.status == 400 and reply.code == "VALIDATION_ERROR", reply.body
    assert reply.body["details"]["field"] == field


def test_members_cannot_write_secrets_and_viewers_see_only_names(api: Api, org: OrgCtx) -> None:
    assert api.put("/v1/secrets/K", org.admin_key, {"value": "hidden-value"}).status < 300
    member = org.member_key("member")
    assert api.put("/v1/secrets/K", member, {"value": "x"}).code == "FORBIDDEN"
    assert api.delete("/v1/secrets/K", member).code == "FORBIDDEN"
    listed = api.get("/v1/secrets", org.member_key("viewer"))
    assert listed.data["secrets"][0]["name"] == "K" and "hidden-value" not in json.dumps(listed.body)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"headers": {"X-Api-Key": {"secret_id": "NOPE"}}}, "headers.X-Api-Key"),
        ({"headers": {"Authorization": "Bearer {{ secrets.NOPE }}"}}, "headers.Authorization"),
        ({"auth": {"type": "token", "token": "{{ secrets.NOPE }}"}}, "auth.token"),
        ({"auth": {"type": "headers", "headers": {"X-K": {"secret_id": "NOPE"}}}}, "auth.headers.X-K"),
        ({"tls": {"ca_cert": "{{ secrets.NOPE }}"}}, "tls.ca_cert"),
    ],
)
def test_references_to_missing_secrets_are_rejected_on_create_and_patch(
    api: Api, org: OrgCtx, config: dict[str, Any], field: str
) -> None:
    reply = api.post("/v1/mcp/servers", org.admin_key, {"name": "refs", "url": "http://a.example/mcp", **config})
    assert reply.status == 400 and reply.code == "VALIDATION_ERROR", reply.body
    assert reply.body["details"]["field"] == field and reply.body["details"]["secret"] == "NOPE"
    assert api.get("/v1/mcp/servers", org.admin_key).data["total"] == 0  # nothing half-written
    server = api.post("/v1/mcp/servers", org.admin_key, {"name": "refs", "url": "http://a.example/mcp"}).data
    patched = api.patch(f"/v1/mcp/servers/{server['id']}", org.admin_key, config)
    assert patched.status == 400 and patched.body["details"]["field"] == field
    assert api.get(f"/v1/mcp/servers/{server['id']}", org.admin_key).data["headers"] == {}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"auth": {"type": "token"}}, "auth.token.token"),
        ({"auth": {"type": "magic"}}, "auth"),
        ({"tls": {"ca_cert": "-----BEGIN CERTIFICATE-----"}}, "tls.ca_cert"),
        ({"tls": {"client_cert": {"secret_id": "A"}}}, "tls"),
        ({"headers": {"X": {"secret_id": "bad name"}}}, "headers.X"),
    ],
)
def test_malformed_auth_and_tls_are_400(api: Api, org: OrgCtx, config: dict[str, Any], field: str) -> None:
    reply = api.post("/v1/mcp/servers", org.admin_key, {"name": "bad", "url": "http://a.example/mcp", **config})
    assert reply.status == 400 and reply.code == "VALIDATION_ERROR", reply.body
    assert reply.body["details"]["field"].startswith(field), reply.body


def _register(api: Api, org: OrgCtx, url: str, **config: Any) -> dict[str, Any]:
    server = api.post("/v1/mcp/servers", org.admin_key, {"name": "guarded", "url": url, **config}).data
    return dict(server)


def _everything_said(api: Api, org: OrgCtx, runtime: LocalRuntime, server: dict[str, Any]) -> str:
    """Every response about ``server`` a client may see, and its receipts, as one text."""
    parts = [
        api.get(f"/v1/mcp/servers/{server['id']}", org.admin_key).body,
        api.get("/v1/mcp/servers", org.admin_key).body,
        api.get("/v1/secrets", org.admin_key).body,
        api.get("/v1/mcp/servers/export?format=generic", org.admin_key).body,
        api.get("/v1/mcp/servers/export?format=claude", org.admin_key).body,
        api.get("/v1/mcp/servers/export?format=vscode", org.admin_key).body,
        receipts_of(runtime, org.org_id),
    ]
    return json.dumps(parts)


def test_a_token_from_a_secret_reaches_the_downstream_and_nowhere_else(
    api: Api, org: OrgCtx, runtime: LocalRuntime, guarded_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    assert api.put("/v1/secrets/GUARD_TOKEN", org.admin_key, {"value": TOKEN}).status < 300
    server = _register(api, org, guarded_url, auth={"type": "token", "token": {"secret_id": "GUARD_TOKEN"}})
    assert server["auth"] == {"type": "token", "token": {"secret_id": "GUARD_TOKEN"}}
    assert api.post(f"/v1/mcp/servers/{server['id']}/test", org.admin_key).data["connected"] is True
    assert api.post(f"/v1/mcp/servers/{server['id']}/sync", org.admin_key).data["added"] == ["echo"]
    called = api.post(
        f"/v1/mcp/servers/{server['id']}/invoke",
        org.admin_key,
        {"tool_name": "echo", "arguments": {"message": f"hi {TOKEN}", "note": TOKEN}},
    ).data
    assert called["status"] == "ok"
    # The MCP endpoint resolves it the same way.

    async def call(c: Any) -> Any:
        return await c.call_tool("echo", {"message": "over mcp"})

    result = with_client(f"{runtime.api_url}/mcp/servers/{server['id']}", org.admin_key, "legacy", call)
    assert result.content[0].text == "over mcp"
    wait_until(lambda: len(receipts_of(runtime, org.org_id)) >= 2)
    said = _everything_said(api, org, runtime, server)
    assert TOKEN not in said and "GUARD_TOKEN" in said
    # Nor in any log line written meanwhile (handlers' structured logs, the local gateway, moto).
    api.post(f"/v1/mcp/servers/{server['id']}/invoke", org.admin_key, {"tool_name": "nope"})
    logged = capfd.readouterr()
    assert TOKEN not in logged.out and TOKEN not in logged.err


def test_header_templates_resolve_and_rotation_takes_effect(
    api: Api, org: OrgCtx, runtime: LocalRuntime, guarded_url: str
) -> None:
    assert api.put("/v1/secrets/GUARD", org.admin_key, {"value": "wrong-token"}).status < 300
    server = _register(api, org, guarded_url, headers={"Authorization": "Bearer {{ secrets.GUARD }}"})
    assert server["headers"] == {"Authorization": "Bearer {{ secrets.GUARD }}"}
    failed = api.post(f"/v1/mcp/servers/{server['id']}/test", org.admin_key).data
    assert failed["connected"] is False and failed["error_code"] == "UPSTREAM_ERROR"
    assert api.put("/v1/secrets/GUARD", org.admin_key, {"value": TOKEN}).status < 300  # rotate
    assert api.post(f"/v1/mcp/servers/{server['id']}/sync", org.admin_key).data["added"] == ["echo"]
    reply = api.post(
        f"/v1/mcp/servers/{server['id']}/invoke", org.admin_key, {"tool_name": "echo", "arguments": {"message": "x"}}
    )
    assert reply.data["status"] == "ok"
    # A referenced secret cannot be deleted from under its server.
    blocked = api.delete("/v1/secrets/GUARD", org.admin_key)
    assert blocked.code == "CONFLICT" and blocked.body["details"]["servers"] == ["guarded"]
    assert TOKEN not in _everything_said(api, org, runtime, server)


def test_literal_header_values_are_masked(api: Api, org: OrgCtx) -> None:
    server = api.post(
        "/v1/mcp/servers", org.admin_key, {"name": "lit", "url": "http://a.example/mcp", "headers": {"X-K": "plain-v"}}
    ).data
    assert server["headers"] == {"X-K": "********"}
    # Sending a masked value back (a GET pasted into a PATCH) does not overwrite the real one.
    echoed = api.patch(f"/v1/mcp/servers/{server['id']}", org.admin_key, {"headers": server["headers"]})
    assert echoed.status == 400 and echoed.body["details"]["field"] == "headers.X-K"
    assert "plain-v" not in json.dumps(api.get("/v1/mcp/servers/export?format=claude", org.admin_key).body)


def test_forward_passes_the_callers_own_bearer_token(api: Api, org: OrgCtx, runtime: LocalRuntime) -> None:
    key = org.admin_key
    port = processes.free_port()
    with processes.guarded_server(port, "--token", key):
        url = f"http://127.0.0.1:{port}/mcp"
        server = _register(api, org, url, auth={"type": "forward"})
        assert api.post(f"/v1/mcp/servers/{server['id']}/sync", key).data["added"] == ["echo"]
        ok = api.post(
            f"/v1/mcp/servers/{server['id']}/invoke", key, {"tool_name": "echo", "arguments": {"message": "f"}}
        )
        assert ok.data["status"] == "ok"

        async def call(c: Any) -> Any:
            return await c.call_tool("echo", {"message": "forwarded"})

        result = with_client(f"{runtime.api_url}/mcp/servers/{server['id']}", key, "legacy", call)
        assert result.content[0].text == "forwarded"
        # Another principal's token is not what this downstream accepts: its own token is forwarded.
        other = org.member_key("member")
        denied = api.post(f"/v1/mcp/servers/{server['id']}/invoke", other, {"tool_name": "echo", "arguments": {}})
        assert denied.status == 502 and denied.code == "UPSTREAM_ERROR"
        # Key-pair headers carry no bearer token to forward: a clear upstream error, not a 500.
        key_id, secret = key.split(".", 1)
        no_bearer = api.post(
            f"/v1/mcp/servers/{server['id']}/invoke",
            None,
            {"tool_name": "echo", "arguments": {}},
            headers={"X-API-KEY": key_id, "X-API-SECRET": secret},
        )
        assert no_bearer.code == "UPSTREAM_ERROR" and "bearer" in no_bearer.body["message"]
    wait_until(lambda: len(receipts_of(runtime, org.org_id)) >= 3)
    assert key.split(".", 1)[1] not in json.dumps(receipts_of(runtime, org.org_id))
