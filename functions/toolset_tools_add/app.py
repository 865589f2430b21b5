"""POST /v1/toolsets/{toolset_id}/tools: Add tools to a toolset."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.toolsets import ToolsetTools
from portico.wiring import toolsets

app = api()


@app.post("/v1/toolsets/<toolset_id>/tools")
def add_tools(toolset_id: str, body: ToolsetTools) -> Response[dict[str, Any]]:
    return ok(toolsets().add_tools(principal(app), toolset_id, body))


lambda_handler = handler(app)
