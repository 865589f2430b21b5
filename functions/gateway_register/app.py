"""POST /v1/toolsets/{toolset_id}/gateway: Register an external MCP server into the toolset."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.toolsets import GatewayRegister
from portico.wiring import toolsets

app = api()


@app.post("/v1/toolsets/<toolset_id>/gateway")
def register_gateway_server(toolset_id: str, body: GatewayRegister) -> Response[dict[str, Any]]:
    return ok(toolsets().gateway_register(principal(app), toolset_id, body), 201)


lambda_handler = handler(app)
