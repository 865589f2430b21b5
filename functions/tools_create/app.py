"""POST /v1/tools: Define an HTTP-backed tool."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.toolsets import HttpToolCreate
from portico.wiring import tools

app = api()


@app.post("/v1/tools")
def create_tool(body: HttpToolCreate) -> Response[dict[str, Any]]:
    return ok(tools().create_http(principal(app), body), 201)


lambda_handler = handler(app)
