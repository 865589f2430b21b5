"""GET /v1/org/members: Members of the caller's organization."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal, query
from portico.models.common import ListQuery
from portico.wiring import identity

app = api()


@app.get("/v1/org/members")
def list_members() -> Response[dict[str, Any]]:
    return ok(identity().list_members(principal(app), query(app, ListQuery)))


lambda_handler = handler(app)
