"""POST /v1/mcp/servers/{server_id}/stop: Stop a hosted MCP server (a workflow does the work)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.wiring import hosting

app = api()


@app.post("/v1/mcp/servers/<server_id>/stop")
def stop_server(server_id: str) -> Response[dict[str, Any]]:
    return ok(hosting().stop(principal(app), server_id), 202)


lambda_handler = handler(app)
