"""DELETE /v1/toolsets/{toolset_id}/gateway/{server_id}: Detach a gateway server's tools from the toolset."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.wiring import toolsets

app = api()


@app.delete("/v1/toolsets/<toolset_id>/gateway/<server_id>")
def detach_gateway_server(toolset_id: str, server_id: str) -> Response[dict[str, Any]]:
    return ok(toolsets().gateway_detach(principal(app), toolset_id, server_id))


lambda_handler = handler(app)
