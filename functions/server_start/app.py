"""POST /v1/mcp/servers/{server_id}/start: Start a hosted MCP server (a workflow does the work)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.wiring import hosting

app = api()


@app.post("/v1/mcp/servers/<server_id>/start")
def start_server(server_id: str) -> Response[dict[str, Any]]:
    return ok(hosting().start(principal(app), server_id), 202)


lambda_handler = handler(app)
