"""PATCH /v1/mcp/servers/{server_id}: Change an MCP server's configuration."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.servers import ServerPatch
from portico.wiring import servers

app = api()


@app.patch("/v1/mcp/servers/<server_id>")
def update_server(server_id: str, body: ServerPatch) -> Response[dict[str, Any]]:
    return ok(servers().update(principal(app), server_id, body))


lambda_handler = handler(app)
