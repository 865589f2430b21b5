"""POST /v1/mcp/servers/{server_id}/test: Connect to the server (initialize + tools/list) and report."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.wiring import servers

app = api()


@app.post("/v1/mcp/servers/<server_id>/test")
def test_server(server_id: str) -> Response[dict[str, Any]]:
    return ok(servers().test(principal(app), server_id))


lambda_handler = handler(app)
