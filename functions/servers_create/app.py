"""POST /v1/mcp/servers: Register a remote MCP server, or provision a hosted one (git, image, package)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from portico.http import api, handler, ok, principal
from portico.wiring import hosting

app = api()


@app.post("/v1/mcp/servers")
def create_server(body: Annotated[dict[str, Any], Body()]) -> Response[dict[str, Any]]:
    key = app.current_event.headers.get("Idempotency-Key")
    return ok(hosting().create_from(principal(app), body, key), 201)


lambda_handler = handler(app)
