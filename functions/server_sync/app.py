"""POST /v1/mcp/servers/{server_id}/sync: Store the server's current tools and report the differences."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.wiring import servers

app = api()


@app.post("/v1/mcp/servers/<server_id>/sync")
def sync_server(server_id: str) -> Response[dict[str, Any]]:
    return ok(servers().sync(principal(app), server_id))


lambda_handler = handler(app)
