"""The gateway's downstream client against a real stateful MCP server: sessions reused, and renewed once
when the server forgets them (a restart), over a connection the server closed."""

from __future__ import annotations

from typing import Any

from portico.gateway.client import ConnectionCache, Limits
from portico.gateway.downstream import Target
from portico.local.runtime import LocalRuntime
from tests.factories import processes


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
