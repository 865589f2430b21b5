"""PATCH /v1/orgs/{org_id}: Platform operators rename or re-tier an organization."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.identity import OrgTierPatch
from portico.wiring import identity

app = api()


@app.patch("/v1/orgs/<org_id>")
def retier_org(org_id: str, body: OrgTierPatch) -> Response[dict[str, Any]]:
    return ok(identity().retier_org(principal(app), org_id, body))


lambda_handler = handler(app)
