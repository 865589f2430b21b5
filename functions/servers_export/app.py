"""GET /v1/mcp/servers/export: Every server as a generic array, a Claude Desktop or a VS Code config."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal, query
from portico.models.transfer import ExportQuery
from portico.wiring import transfer

app = api()


@app.get("/v1/mcp/servers/export")
def export_servers() -> Response[dict[str, Any]]:
    return ok(transfer().export(principal(app), query(app, ExportQuery).format))


lambda_handler = handler(app)
