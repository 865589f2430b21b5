"""GET /v1/mcp/servers/{server_id}/tools: The server's stored tools, with their disabled flag."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.wiring import servers

app = api()


@app.get("/v1/mcp/servers/<server_id>/tools")
def list_server_tools(server_id: str) -> Response[dict[str, Any]]:
    return ok(servers().tools(principal(app), server_id))


lambda_handler = handler(app)
