"""PUT /v1/mcp/servers/{server_id}/tools/disabled: Replace the server's list of disabled tools."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.servers import DisabledToolsUpdate
from portico.wiring import servers

app = api()


@app.put("/v1/mcp/servers/<server_id>/tools/disabled")
def set_disabled_tools(server_id: str, body: DisabledToolsUpdate) -> Response[dict[str, Any]]:
    return ok(servers().set_disabled(principal(app), server_id, body))


lambda_handler = handler(app)
