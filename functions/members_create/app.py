"""POST /v1/org/members: Admins add a member with a role."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.identity import MemberCreate
from portico.wiring import identity

app = api()


@app.post("/v1/org/members")
def add_member(body: MemberCreate) -> Response[dict[str, Any]]:
    return ok(identity().add_member(principal(app), body), 201)


lambda_handler = handler(app)
