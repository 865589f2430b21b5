"""POST /v1/tools/{tool_id}/execute: Execute a tool directly; the result carries a receipt_id."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.toolsets import ExecuteRequest
from portico.wiring import tools

app = api()


@app.post("/v1/tools/<tool_id>/execute")
def execute_tool(tool_id: str, body: ExecuteRequest) -> Response[dict[str, Any]]:
    return ok(tools().execute(principal(app), tool_id, body))


lambda_handler = handler(app)
