"""GET /v1/orgs: Platform operators list organizations."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal, query
from portico.models.common import ListQuery
from portico.wiring import identity

app = api()


@app.get("/v1/orgs")
def list_orgs() -> Response[dict[str, Any]]:
    return ok(identity().list_orgs(principal(app), query(app, ListQuery)))


lambda_handler = handler(app)
