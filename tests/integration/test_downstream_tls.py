"""TLS towards downstreams, for real: a generated CA, server and client certificates, and a loopback MCP
server (the `mcp` SDK app under uvicorn) that REQUIRES a client certificate.

The certificate, key and CA reach Portico only as org secrets (Secrets Manager on moto).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from portico.local.runtime import LocalRuntime
from tests.factories import processes
from tests.factories.api import Api
from tests.factories.certs import Authority, write
from tests.factories.mcp import with_client
from tests.factories.orgs import OrgCtx


@dataclass
class Pki:
    ca: str
    client_cert: str
    client_key: str
    port: int
    stranger_cert: str
    stranger_key: str


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pki]:
    """A server whose certificate names only ``localhost`` and that requires a client certificate from our CA."""
    directory: Path = tmp_path_factory.mktemp("pki")
    ca = Authority()
    server = ca.issue("localhost", dns=["localhost"])
    client = ca.issue("portico-client", client=True)
    stranger = Authority("Someone Else").issue("stranger", client=True)
    port = processes.free_port()
    with processes.guarded_server(
        port,
        "--cert",
        write(directory, "server.pem", server.cert),
        "--key",
        write(directory, "server.key", server.key),
        "--client-ca",
        write(directory, "ca.pem", ca.pem),
    ):
        yield Pki(ca.pem, client.cert, client.key, port, stranger.cert, stranger.key)


def _secrets(api: Api, org: OrgCtx, pki: Pki) -> None:
    for name, value in (
        ("CA", pki.ca),
        ("CLIENT_CERT", pki.client_cert),
        ("CLIENT_KEY", pki.client_key),
        ("STRANGER_CERT", pki.stranger_cert),
        ("STRANGER_KEY", pki.stranger_key),
    ):
        assert api.put(f"/v1/secrets/{name}", org.admin_key, {"value": value}).status < 300


def _server(api: Api, org: OrgCtx, url: str, tls: dict[str, Any], name: str = "secure") -> dict[str, Any]:
    return dict(api.post("/v1/mcp/servers", org.admin_key, {"name": name, "url": url, "tls": tls}).data)


MTLS = {
    "ca_cert": "{{ secrets.CA }}",
    "client_cert": "{{ secrets.CLIENT_CERT }}",
    "client_key": {"secret_id": "CLIENT_KEY"},
}


def test_with_the_client_certificate_tools_list_and_call(
    api: Api, org: OrgCtx, runtime: LocalRuntime, mtls: Pki
) -> None:
    _secrets(api, org, mtls)
    server = _server(api, org, f"https://localhost:{mtls.port}/mcp", MTLS)
    assert server["tls"]["client_key"] == {"secret_id": "CLIENT_KEY"} and "PRIVATE" not in str(server)
    tested = api.post(f"/v1/mcp/servers/{server['id']}/test", org.admin_key).data  # SDK client path
    assert tested["connected"] is True, tested
    assert api.post(f"/v1/mcp/servers/{server['id']}/sync", org.admin_key).data["added"] == ["echo"]
    invoked = api.post(  # lean pooled client path
        f"/v1/mcp/servers/{server['id']}/invoke", org.admin_key, {"tool_name": "echo", "arguments": {"message": "m"}}
    ).data
    assert invoked["status"] == "ok" and invoked["result"][0]["text"] == "m"

    async def work(client: Any) -> Any:
        listed = await client.list_tools()
        return [t.name for t in listed.tools], await client.call_tool("echo", {"message": "through mcp"})

    names, called = with_client(f"{runtime.api_url}/mcp/servers/{server['id']}", org.admin_key, "legacy", work)
    assert names == ["echo"] and called.content[0].text == "through mcp"


def test_without_a_client_certificate_the_error_names_the_server(api: Api, org: OrgCtx, mtls: Pki) -> None:
    _secrets(api, org, mtls)
    server = _server(api, org, f"https://localhost:{mtls.port}/mcp", {"ca_cert": "{{ secrets.CA }}"}, "no-cert")
    tested = api.post(f"/v1/mcp/servers/{server['id']}/test", org.admin_key).data
    assert tested["connected"] is False and "no-cert" in tested["error"], tested
    assert "client certificate" in tested["error"]
    synced = api.post(f"/v1/mcp/servers/{server['id']}/sync", org.admin_key)
    assert synced.status == 502 and synced.code == "UPSTREAM_ERROR" and "no-cert" in synced.body["message"]
    # The pooled client path: synced with the certificate, then the certificate taken away.
    assert api.patch(f"/v1/mcp/servers/{server['id']}", org.admin_key, {"tls": MTLS}).status == 200
    assert api.post(f"/v1/mcp/servers/{server['id']}/sync", org.admin_key).data["added"] == ["echo"]
    assert (
        api.patch(f"/v1/mcp/servers/{server['id']}", org.admin_key, {"tls": {"ca_cert": "{{ secrets.CA }}"}}).status
        == 200
    )
    refused = api.post(f"/v1/mcp/servers/{server['id']}/invoke", org.admin_key, {"tool_name": "echo", "arguments": {}})
    assert refused.status == 502 and refused.code == "UPSTREAM_ERROR"
    assert "no-cert" in refused.body["message"] and "client certificate" in refused.body["message"]


def test_a_certificate_from_another_ca_is_refused(api: Api, org: OrgCtx, mtls: Pki) -> None:
    _secrets(api, org, mtls)
    tls = {
        "ca_cert": "{{ secrets.CA }}",
        "client_cert": "{{ secrets.STRANGER_CERT }}",
        "client_key": "{{ secrets.STRANGER_KEY }}",
    }
    server = _server(api, org, f"https://localhost:{mtls.port}/mcp", tls, "stranger")
    tested = api.post(f"/v1/mcp/servers/{server['id']}/test", org.admin_key).data
    assert tested["connected"] is False and "stranger" in tested["error"]


def test_an_unknown_ca_fails_verification_unless_verification_is_off(api: Api, org: OrgCtx, mtls: Pki) -> None:
    _secrets(api, org, mtls)
    pair = {"client_cert": "{{ secrets.CLIENT_CERT }}", "client_key": "{{ secrets.CLIENT_KEY }}"}
    strict = _server(api, org, f"https://localhost:{mtls.port}/mcp", pair, "strict")
    tested = api.post(f"/v1/mcp/servers/{strict['id']}/test", org.admin_key).data
    assert tested["connected"] is False and "certificate verify failed" in tested["error"], tested
    relaxed = _server(api, org, f"https://localhost:{mtls.port}/mcp", {**pair, "verify_certs": False}, "relaxed")
    assert api.post(f"/v1/mcp/servers/{relaxed['id']}/test", org.admin_key).data["connected"] is True


def test_a_wrong_hostname_is_refused_unless_accepted(api: Api, org: OrgCtx, mtls: Pki) -> None:
    _secrets(api, org, mtls)
    url = f"https://127.0.0.1:{mtls.port}/mcp"  # the certificate names only localhost
    strict = _server(api, org, url, MTLS, "by-ip")
    tested = api.post(f"/v1/mcp/servers/{strict['id']}/test", org.admin_key).data
    assert (
        tested["connected"] is False and "by-ip" in tested["error"] and "certificate verify failed" in tested["error"]
    )
    invoked = api.post(f"/v1/mcp/servers/{strict['id']}/invoke", org.admin_key, {"tool_name": "echo"})
    assert invoked.status in (404, 502)  # never synced; the lean client path is covered below
    accepting = _server(api, org, url, {**MTLS, "accept_invalid_hostnames": True}, "by-ip-ok")
    assert api.post(f"/v1/mcp/servers/{accepting['id']}/sync", org.admin_key).data["added"] == ["echo"]
    ok = api.post(
        f"/v1/mcp/servers/{accepting['id']}/invoke", org.admin_key, {"tool_name": "echo", "arguments": {"message": "h"}}
    )
    assert ok.data["status"] == "ok"
    # The same server with hostname checking back on: the lean client refuses it too (new TLS context, new connection).
    assert api.patch(f"/v1/mcp/servers/{accepting['id']}", org.admin_key, {"tls": MTLS}).status < 300
    refused = api.post(
        f"/v1/mcp/servers/{accepting['id']}/invoke", org.admin_key, {"tool_name": "echo", "arguments": {"message": "h"}}
    )
    assert refused.status == 502 and "by-ip-ok" in refused.body["message"]
    assert "certificate verify failed" in refused.body["message"]


def test_invalid_pem_material_is_an_upstream_error_not_a_500(api: Api, org: OrgCtx, mtls: Pki) -> None:
    assert api.put("/v1/secrets/JUNK", org.admin_key, {"value": "not a pem"}).status < 300
    server = _server(api, org, f"https://localhost:{mtls.port}/mcp", {"ca_cert": {"secret_id": "JUNK"}}, "junk")
    tested = api.post(f"/v1/mcp/servers/{server['id']}/test", org.admin_key).data
    assert tested["connected"] is False and "junk" in tested["error"] and "invalid TLS material" in tested["error"]
