"""POST /v1/mcp/servers/{server_id}/connect: A 1-hour token for this user and this server's MCP endpoint."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.wiring import hosting

app = api()


@app.post("/v1/mcp/servers/<server_id>/connect")
def connect_server(server_id: str) -> Response[dict[str, Any]]:
    return ok(hosting().connect(principal(app), server_id))


lambda_handler = handler(app)
