"""PATCH /v1/org: Admins rename their organization."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.identity import OrgPatch
from portico.wiring import identity

app = api()


@app.patch("/v1/org")
def update_org(body: OrgPatch) -> Response[dict[str, Any]]:
    return ok(identity().update_org(principal(app), body))


lambda_handler = handler(app)
