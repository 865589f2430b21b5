"""POST /v1/mcp/servers: Register an MCP server."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.servers import ServerCreate
from portico.wiring import servers

app = api()


@app.post("/v1/mcp/servers")
def create_server(body: ServerCreate) -> Response[dict[str, Any]]:
    return ok(servers().create(principal(app), body), 201)


lambda_handler = handler(app)
