"""Import and export of server configurations: Claude Desktop, VS Code, generic JSON and gateway TOML."""

from __future__ import annotations

import json
from typing import Any

from tests.factories.api import Api
from tests.factories.orgs import OrgCtx

TOML = b"""
[mcp.servers.docs]
url = "https://docs.example.com/mcp"
protocol = "streamable-http"

[mcp.servers.docs.auth]
token = "{{ env.DOCS_TOKEN }}"

[mcp.servers.docs.tls]
verify_certs = true
accept_invalid_hostnames = false

[mcp.servers.docs.rate_limits]
limit = 50
interval = "60s"

[mcp.servers.legacy]
protocol = "sse"
url = "https://legacy.example.com/sse"

[mcp.servers.internal]
url = "https://internal.example.com/mcp"
[mcp.servers.internal.auth]
type = "forward"

[mcp.servers.missing]
url = "https://missing.example.com/mcp"
[mcp.servers.missing.auth]
token = "{{ env.NOT_A_SECRET }}"

[mcp.servers.pathy]
url = "https://pathy.example.com/mcp"
[mcp.servers.pathy.tls]
root_ca_cert_path = "/etc/ssl/ca.pem"

[mcp.servers.filesystem]
cmd = ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/tmp"]
env = { TOKEN = "{{ env.FS_TOKEN }}" }
"""


def _by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in result["results"]}


def test_claude_desktop_import_reports_each_entry(api: Api, org: OrgCtx) -> None:
    assert api.post("/v1/mcp/servers", org.admin_key, {"name": "taken", "url": "https://t.example/mcp"}).status < 300
    document = {
        "mcpServers": {
            "remote": {"type": "http", "url": "https://remote.example.com/mcp", "headers": {"X-Team": "blue"}},
            "streamy": {"type": "sse", "url": "https://sse.example.com/sse"},
            "taken": {"url": "https://t.example/mcp"},
            "bad-url": {"url": "not a url"},
            "weird": {"type": "carrier-pigeon", "url": "https://p.example/mcp"},
            "everything": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"]},
        }
    }
    result = api.post("/v1/mcp/servers/import", org.admin_key, document).data
    assert result["format"] == "claude"
    entries = _by_name(result)
    assert entries["remote"]["status"] == "created" and entries["remote"]["server_id"].startswith("mcp_")
    assert entries["streamy"]["status"] == "created"
    assert entries["taken"]["status"] == "skipped"
    assert entries["bad-url"]["status"] == "rejected" and entries["bad-url"]["reason"].startswith("url")
    assert entries["weird"]["status"] == "rejected" and "carrier-pigeon" in entries["weird"]["reason"]
    # A stdio entry becomes a hosted package server, provisioned like one created directly.
    assert entries["everything"]["status"] == "created", entries["everything"]
    hosted = api.get(f"/v1/mcp/servers/{entries['everything']['server_id']}", org.admin_key).data
    assert hosted["source_type"] == "package" and hosted["command"] == "npx"
    assert hosted["args"] == ["-y", "@modelcontextprotocol/server-everything"]
    assert (result["created"], result["skipped"], result["rejected"]) == (3, 1, 2)
    assert api.delete(f"/v1/mcp/servers/{hosted['id']}", org.admin_key).status == 204
    servers = {s["name"]: s for s in api.get("/v1/mcp/servers", org.admin_key).data["servers"]}
    assert servers["streamy"]["transport"] == "sse" and servers["remote"]["headers"] == {"X-Team": "********"}
    assert {"taken", "remote", "streamy"} <= set(servers)


def test_vscode_shapes_are_detected(api: Api, org: OrgCtx) -> None:
    top = {"servers": {"a": {"type": "http", "url": "https://a.example/mcp"}}}
    nested = {"mcp": {"servers": {"b": {"type": "sse", "url": "https://b.example/sse"}}}}
    assert api.post("/v1/mcp/servers/import", org.admin_key, top).data["format"] == "vscode"
    assert api.post("/v1/mcp/servers/import", org.admin_key, nested).data["created"] == 1
    inputs = {"servers": {"c": {"url": "https://c.example/mcp", "headers": {"K": "${input:api-key}"}}}}
    rejected = api.post("/v1/mcp/servers/import", org.admin_key, inputs).data["results"][0]
    assert rejected["status"] == "rejected" and "input" in rejected["reason"]


def test_gateway_toml_maps_env_to_secrets(api: Api, org: OrgCtx) -> None:
    assert api.put("/v1/secrets/DOCS_TOKEN", org.admin_key, {"value": "docs-secret-value"}).status < 300
    reply = api.call(
        "POST", "/v1/mcp/servers/import", org.admin_key, raw=TOML, headers={"Content-Type": "application/toml"}
    )
    result = reply.data
    assert result["format"] == "toml"
    entries = _by_name(result)
    assert {n: e["status"] for n, e in entries.items()} == {
        "docs": "created",
        "legacy": "created",
        "internal": "created",
        "missing": "rejected",
        "pathy": "rejected",
        "filesystem": "rejected",
    }
    assert "auth.token: secret NOT_A_SECRET does not exist" in entries["missing"]["reason"]
    assert "root_ca_cert_path" in entries["pathy"]["reason"]
    assert "env.TOKEN: secret FS_TOKEN does not exist" in entries["filesystem"]["reason"]
    docs = api.get(f"/v1/mcp/servers/{entries['docs']['server_id']}", org.admin_key).data
    assert docs["auth"] == {"type": "token", "token": "{{ secrets.DOCS_TOKEN }}"}
    assert docs["tls"]["verify_certs"] is True
    assert docs["rate_limits"]["limit"] == 50
    internal = api.get(f"/v1/mcp/servers/{entries['internal']['server_id']}", org.admin_key).data
    assert internal["auth"] == {"type": "forward"}
    assert api.get(f"/v1/mcp/servers/{entries['legacy']['server_id']}", org.admin_key).data["transport"] == "sse"


def test_bad_documents_are_400(api: Api, org: OrgCtx) -> None:
    bad_toml = api.call(
        "POST",
        "/v1/mcp/servers/import",
        org.admin_key,
        raw=b"[mcp.servers",
        headers={"Content-Type": "application/toml"},
    )
    assert bad_toml.status == 400 and bad_toml.body["details"]["field"] == "body"
    assert api.post("/v1/mcp/servers/import", org.admin_key, {"what": 1}).code == "VALIDATION_ERROR"
    bad_json = api.call("POST", "/v1/mcp/servers/import", org.admin_key, raw=b"{nope")
    assert bad_json.status == 400 and bad_json.code == "VALIDATION_ERROR"
    # TOML bodies are accepted on the import route only.
    elsewhere = api.call(
        "POST", "/v1/mcp/servers", org.admin_key, raw=b'name = "x"', headers={"Content-Type": "application/toml"}
    )
    assert elsewhere.status == 400 and elsewhere.body["details"]["field"] == "Content-Type"
    too_many = [{"name": f"s{n}", "url": "https://x.example/mcp"} for n in range(101)]
    assert api.post("/v1/mcp/servers/import", org.admin_key, too_many).code == "VALIDATION_ERROR"


def test_only_admins_import(api: Api, org: OrgCtx) -> None:
    document = {"mcpServers": {"a": {"url": "https://a.example/mcp"}}}
    assert api.post("/v1/mcp/servers/import", org.member_key("member"), document).code == "FORBIDDEN"
    assert api.get("/v1/mcp/servers", org.admin_key).data["total"] == 0


def test_import_respects_the_server_quota(api: Api, operator_key: str) -> None:
    from tests.factories.orgs import new_org

    free = new_org(api, operator_key, "free")
    document = [{"name": f"q{n}", "url": f"https://q{n}.example/mcp"} for n in range(5)]
    result = api.post("/v1/mcp/servers/import", free.admin_key, document).data
    assert result["created"] == 3 and result["rejected"] == 2
    assert all("tier allows" in r["reason"] for r in result["results"] if r["status"] == "rejected")


def test_exports_carry_references_never_values(api: Api, org: OrgCtx, other_org: OrgCtx) -> None:
    assert api.put("/v1/secrets/TOKEN", org.admin_key, {"value": "exported-never-1234"}).status < 300
    assert api.put("/v1/secrets/KEY", org.admin_key, {"value": "exported-never-5678"}).status < 300
    alpha_created = api.post(
        "/v1/mcp/servers",
        org.admin_key,
        {
            "name": "alpha",
            "url": "https://alpha.example/mcp",
            "headers": {"X-Key": {"secret_id": "KEY"}},
            "auth": {"type": "token", "token": "{{ secrets.TOKEN }}"},
            "tags": ["prod"],
        },
    ).data
    assert alpha_created["auth"]["type"] == "token"
    assert (
        api.post(
            "/v1/mcp/servers", org.admin_key, {"name": "beta", "url": "https://beta.example/sse", "transport": "sse"}
        ).status
        == 201
    )
    generic = api.get("/v1/mcp/servers/export?format=generic", org.admin_key).data
    claude = api.get("/v1/mcp/servers/export?format=claude", org.member_key("viewer")).data
    vscode = api.get("/v1/mcp/servers/export?format=vscode", org.admin_key).data
    text = json.dumps([generic, claude, vscode])
    assert "exported-never" not in text
    assert claude["mcpServers"]["alpha"] == {
        "type": "http",
        "url": "https://alpha.example/mcp",
        "headers": {"X-Key": "{{ secrets.KEY }}", "Authorization": "Bearer {{ secrets.TOKEN }}"},
    }
    assert claude["mcpServers"]["beta"] == {"type": "sse", "url": "https://beta.example/sse"}
    assert vscode["mcp"]["servers"]["alpha"]["headers"]["Authorization"] == "Bearer {{ secrets.TOKEN }}"
    alpha = next(s for s in generic if s["name"] == "alpha")
    assert alpha["auth"] == {"type": "token", "token": "{{ secrets.TOKEN }}"} and "id" not in alpha
    assert api.get("/v1/mcp/servers/export?format=yaml", org.admin_key).code == "VALIDATION_ERROR"
    # A generic export imports into another org once that org has secrets of the same names.
    missing = api.post("/v1/mcp/servers/import", other_org.admin_key, generic).data
    assert _by_name(missing)["alpha"]["status"] == "rejected" and _by_name(missing)["beta"]["status"] == "created"
    assert api.put("/v1/secrets/TOKEN", other_org.admin_key, {"value": "theirs-1"}).status < 300
    assert api.put("/v1/secrets/KEY", other_org.admin_key, {"value": "theirs-2"}).status < 300
    again = api.post("/v1/mcp/servers/import", other_org.admin_key, {"data": generic}).data
    assert _by_name(again)["alpha"]["status"] == "created" and _by_name(again)["beta"]["status"] == "skipped"
    # Claude's export, re-imported: references survive, nothing is masked.
    third = api.post(
        "/v1/mcp/servers/import", other_org.admin_key, {"mcpServers": {"alpha2": claude["mcpServers"]["alpha"]}}
    )
    assert third.data["created"] == 1
