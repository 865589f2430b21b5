"""POST /v1/mcp/servers/{server_id}/tools/approve: Pin the current definitions of some (or all) tools."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.policy import ApproveTools
from portico.wiring import servers

app = api()


@app.post("/v1/mcp/servers/<server_id>/tools/approve")
def approve_tools(server_id: str, body: ApproveTools) -> Response[dict[str, Any]]:
    return ok(servers().approve(principal(app), server_id, body))


lambda_handler = handler(app)
