"""GET /v1/toolsets/{toolset_id}: One toolset with its exposed tools."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.wiring import toolsets

app = api()


@app.get("/v1/toolsets/<toolset_id>")
def get_toolset(toolset_id: str) -> Response[dict[str, Any]]:
    return ok(toolsets().get(principal(app), toolset_id))


lambda_handler = handler(app)
