"""POST /v1/toolsets/from_servers: One request: a toolset with every enabled tool of some servers."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.toolsets import FromServers
from portico.wiring import toolsets

app = api()


@app.post("/v1/toolsets/from_servers")
def toolset_from_servers(body: FromServers) -> Response[dict[str, Any]]:
    return ok(toolsets().from_servers(principal(app), body), 201)


lambda_handler = handler(app)
