"""GET /v1/tools: List tools (filters: status, search, tags, server_id, toolset_id, created range)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal, query, query_param
from portico.models.common import ListQuery
from portico.wiring import tools

app = api()


@app.get("/v1/tools")
def list_tools() -> Response[dict[str, Any]]:
    q = query(app, ListQuery)
    return ok(tools().list_tools(principal(app), q, query_param(app, "server_id"), query_param(app, "toolset_id")))


lambda_handler = handler(app)
