"""POST /v1/toolsets: Create a toolset."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.toolsets import ToolsetCreate
from portico.wiring import toolsets

app = api()


@app.post("/v1/toolsets")
def create_toolset(body: ToolsetCreate) -> Response[dict[str, Any]]:
    return ok(toolsets().create(principal(app), body), 201)


lambda_handler = handler(app)
