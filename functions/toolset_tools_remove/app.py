"""DELETE /v1/toolsets/{toolset_id}/tools/{tool_id}: Remove a tool from a toolset."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.wiring import toolsets

app = api()


@app.delete("/v1/toolsets/<toolset_id>/tools/<tool_id>")
def remove_tool(toolset_id: str, tool_id: str) -> Response[dict[str, Any]]:
    return ok(toolsets().remove_tool(principal(app), toolset_id, tool_id))


lambda_handler = handler(app)
