"""GET /v1/tools/{tool_id}: One tool."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.wiring import tools

app = api()


@app.get("/v1/tools/<tool_id>")
def get_tool(tool_id: str) -> Response[dict[str, Any]]:
    return ok(tools().get(principal(app), tool_id))


lambda_handler = handler(app)
