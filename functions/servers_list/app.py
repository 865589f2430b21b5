"""GET /v1/mcp/servers: List the organization's MCP servers (filters: status, search, tags, created range)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal, query
from portico.models.common import ListQuery
from portico.wiring import hosting

app = api()


@app.get("/v1/mcp/servers")
def list_servers() -> Response[dict[str, Any]]:
    return ok(hosting().list(principal(app), query(app, ListQuery)))


lambda_handler = handler(app)
