"""POST /v1/orgs: Platform operators create an organization with its first admin and API key."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.identity import OrgCreate
from portico.wiring import identity

app = api()


@app.post("/v1/orgs")
def create_org(body: OrgCreate) -> Response[dict[str, Any]]:
    return ok(identity().create_org(principal(app), body), 201)


lambda_handler = handler(app)
