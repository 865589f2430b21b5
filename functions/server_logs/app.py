"""GET /v1/mcp/servers/{server_id}/logs: A hosted server's logs, oldest first, paged by next_token."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal, query
from portico.models.hosting import LogQuery
from portico.wiring import hosting

app = api()


@app.get("/v1/mcp/servers/<server_id>/logs")
def server_logs(server_id: str) -> Response[dict[str, Any]]:
    return ok(hosting().log_page(principal(app), server_id, query(app, LogQuery)))


lambda_handler = handler(app)
