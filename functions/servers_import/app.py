"""POST /v1/mcp/servers/import: Create servers from a Claude, VS Code, generic JSON or gateway TOML config."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal, raw_body
from portico.wiring import transfer

app = api()


@app.post("/v1/mcp/servers/import")
def import_servers() -> Response[dict[str, Any]]:
    body, content_type = raw_body(app)
    return ok(transfer().import_(principal(app), body, content_type))


lambda_handler = handler(app)
