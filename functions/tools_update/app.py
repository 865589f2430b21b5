"""PATCH /v1/tools/{tool_id}: Tags, status, alias and description override of a tool."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.toolsets import ToolPatch
from portico.wiring import tools

app = api()


@app.patch("/v1/tools/<tool_id>")
def update_tool(tool_id: str, body: ToolPatch) -> Response[dict[str, Any]]:
    return ok(tools().update(principal(app), tool_id, body))


lambda_handler = handler(app)
