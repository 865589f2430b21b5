"""The gateway's downstream client against a real stateful MCP server: sessions reused, and renewed once
when the server forgets them (a restart), over a connection the server closed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from portico.gateway.client import ConnectionCache, Limits, Wire
from portico.gateway.downstream import Target
from portico.local.runtime import LocalRuntime
from tests.factories import processes
from tests.factories.api import Api
from tests.factories.orgs import OrgCtx


def test_a_forgotten_downstream_session_is_renewed_once(runtime: LocalRuntime) -> None:
    port = processes.free_port()
    cache = ConnectionCache()
    target = Target("mcp_stateful", "stateful", f"http://127.0.0.1:{port}/mcp")
    call: dict[str, Any] = {"name": "add", "arguments": {"a": 2, "b": 2}}
    with processes.demo_server("stateful-http", port):
        connection = cache.get(target, Limits(2, 10))
        assert connection.request("tools/call", call)["structuredContent"] == {"result": 4}
        first_session = connection.session_id
        assert first_session  # the server granted a session, and it is reused:
        connection.request("tools/call", call)
        assert connection.session_id == first_session and cache.get(target, Limits(2, 10)) is connection
    with processes.demo_server("stateful-http", port):  # a restart: the old session id is unknown now
        assert connection.request("tools/call", call)["structuredContent"] == {"result": 4}
        assert connection.session_id and connection.session_id != first_session


def _methods_sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The JSON-RPC methods the gateway's lean client sends from now on, in order."""
    sent: list[str] = []
    original = Wire.request

    def request(self: Wire, method: str, url: str, body: bytes | None, *args: Any, **kwargs: Any) -> Any:
        if body:
            sent.append(json.loads(body)["method"])
        return original(self, method, url, body, *args, **kwargs)

    monkeypatch.setattr(Wire, "request", request)
    return sent


def test_a_stateless_server_s_recorded_negotiation_spares_new_connections_the_handshake(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = processes.free_port()
    target = Target("mcp_stateless", "stateless", f"http://127.0.0.1:{port}/mcp")
    call: dict[str, Any] = {"name": "add", "arguments": {"a": 2, "b": 3}}
    with processes.demo_server("streamable-http", port):
        recorded = ConnectionCache().get(target, Limits(2, 10)).negotiation()
        assert recorded is not None and recorded["url"] == target.url and "tools" in recorded["capabilities"]
        sent = _methods_sent(monkeypatch)
        fresh = ConnectionCache().get(target, Limits(2, 10), recorded)  # as in a new Lambda instance
        assert fresh.request("tools/call", call)["structuredContent"] == {"result": 5}
        assert sent == ["tools/call"] and fresh.adopted and fresh.server_info == recorded["server_info"]
        # Recorded for another address (the server moved): not adopted, initialized as usual.
        moved = ConnectionCache().get(target, Limits(2, 10), {**recorded, "url": "http://127.0.0.1:1/mcp"})
        assert moved.request("tools/call", call)["structuredContent"] == {"result": 5} and not moved.adopted
        assert sent[1:] == ["initialize", "notifications/initialized", "tools/call"]


def test_a_server_that_now_keeps_sessions_is_initialized_once_despite_a_recorded_negotiation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = processes.free_port()
    target = Target("mcp_stateful", "stateful", f"http://127.0.0.1:{port}/mcp")
    call: dict[str, Any] = {"name": "add", "arguments": {"a": 1, "b": 1}}
    stale = {"url": target.url, "protocol_version": "2025-11-25", "capabilities": {"tools": {}}, "server_info": {}}
    with processes.demo_server("stateful-http", port):
        assert ConnectionCache().get(target, Limits(2, 10)).negotiation() is None  # it grants sessions
        sent = _methods_sent(monkeypatch)
        connection = ConnectionCache().get(target, Limits(2, 10), stale)
        assert connection.request("tools/call", call)["structuredContent"] == {"result": 2}
        # Refused without a session (400): initialized, then the call sent once more.
        assert sent == ["tools/call", "initialize", "notifications/initialized", "tools/call"]
        assert connection.session_id and not connection.adopted
        assert connection.negotiation() is None


def test_sync_records_the_negotiation_and_the_gateway_adopts_it(
    runtime: LocalRuntime, api: Api, org: OrgCtx, demo_http_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portico import wiring
    from portico.repositories.main import main_repository

    created = api.post("/v1/mcp/servers", org.admin_key, {"name": "lean", "url": demo_http_url}).data
    assert api.post(f"/v1/mcp/servers/{created['id']}/sync", org.admin_key).status == 200
    found = main_repository().get_server(org.org_id, created["id"])
    assert found is not None
    negotiated = found[0]["negotiated"]
    assert negotiated["url"] == demo_http_url and negotiated["protocol_version"]
    assert "negotiated" not in api.get(f"/v1/mcp/servers/{created['id']}", org.admin_key).data  # internal
    tool = next(
        t for t in api.get(f"/v1/tools?server_id={created['id']}", org.admin_key).data["items"] if t["name"] == "add"
    )
    # A gateway with no connections yet (a new Lambda instance): its first call is one downstream request.
    monkeypatch.setattr(wiring.gateway(), "connections", ConnectionCache())
    sent = _methods_sent(monkeypatch)
    executed = api.post(f"/v1/tools/{tool['id']}/execute", org.admin_key, {"arguments": {"a": 4, "b": 4}})
    assert executed.status == 200 and executed.data["structured_content"] == {"result": 8}
    assert sent == ["tools/call"]
