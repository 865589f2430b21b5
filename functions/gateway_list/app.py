"""GET /v1/toolsets/{toolset_id}/gateway: The toolset's gateway servers."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.wiring import toolsets

app = api()


@app.get("/v1/toolsets/<toolset_id>/gateway")
def list_gateway_servers(toolset_id: str) -> Response[dict[str, Any]]:
    return ok(toolsets().gateway_list(principal(app), toolset_id))


lambda_handler = handler(app)
