"""POST /v1/toolsets/{toolset_id}/gateway/{server_id}/sync: re-sync a gateway server, report changes."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.wiring import toolsets

app = api()


@app.post("/v1/toolsets/<toolset_id>/gateway/<server_id>/sync")
def sync_gateway_server(toolset_id: str, server_id: str) -> Response[dict[str, Any]]:
    return ok(toolsets().gateway_sync(principal(app), toolset_id, server_id))


lambda_handler = handler(app)
