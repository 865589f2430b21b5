"""POST /v1/mcp/servers/{server_id}/invoke: Call one of the server's tools."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.servers import InvokeRequest
from portico.wiring import servers

app = api()


@app.post("/v1/mcp/servers/<server_id>/invoke")
def invoke_tool(server_id: str, body: InvokeRequest) -> Response[dict[str, Any]]:
    return ok(servers().invoke(principal(app), server_id, body))


lambda_handler = handler(app)
