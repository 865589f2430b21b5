"""GET /v1/mcp/servers/{server_id}: One MCP server."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.wiring import hosting

app = api()


@app.get("/v1/mcp/servers/<server_id>")
def get_server(server_id: str) -> Response[dict[str, Any]]:
    return ok(hosting().get(principal(app), server_id))


lambda_handler = handler(app)
