"""PATCH /v1/toolsets/{toolset_id}: Change a toolset (name, exposure mode, status, ...)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.toolsets import ToolsetPatch
from portico.wiring import toolsets

app = api()


@app.patch("/v1/toolsets/<toolset_id>")
def update_toolset(toolset_id: str, body: ToolsetPatch) -> Response[dict[str, Any]]:
    return ok(toolsets().update(principal(app), toolset_id, body))


lambda_handler = handler(app)
