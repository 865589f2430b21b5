"""GET /v1/toolsets/{toolset_id}/client-config: A ready-to-paste client configuration (claude, vscode, cursor)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal, query_param
from portico.wiring import toolsets

app = api()


@app.get("/v1/toolsets/<toolset_id>/client-config")
def client_config(toolset_id: str) -> Response[dict[str, Any]]:
    return ok(toolsets().client_config(principal(app), toolset_id, query_param(app, "client") or "claude"))


lambda_handler = handler(app)
