"""DELETE /v1/tools/{tool_id}: Delete an HTTP-backed tool."""

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, no_content, principal
from portico.wiring import tools

app = api()


@app.delete("/v1/tools/<tool_id>")
def delete_tool(tool_id: str) -> Response[None]:
    tools().delete(principal(app), tool_id)
    return no_content()


lambda_handler = handler(app)
