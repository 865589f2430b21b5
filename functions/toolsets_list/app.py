"""GET /v1/toolsets: List toolsets."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal, query
from portico.models.common import ListQuery
from portico.wiring import toolsets

app = api()


@app.get("/v1/toolsets")
def list_toolsets() -> Response[dict[str, Any]]:
    return ok(toolsets().list_toolsets(principal(app), query(app, ListQuery)))


lambda_handler = handler(app)
