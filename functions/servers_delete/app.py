"""DELETE /v1/mcp/servers/{server_id}: Remove a server and its tools (a hosted one: stopped, removed, data deleted)."""

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, no_content, principal
from portico.wiring import hosting

app = api()


@app.delete("/v1/mcp/servers/<server_id>")
def delete_server(server_id: str) -> Response[None]:
    hosting().delete(principal(app), server_id)
    return no_content()


lambda_handler = handler(app)
