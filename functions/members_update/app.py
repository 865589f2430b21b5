"""PATCH /v1/org/members/{member_id}: Admins change a member's name or role."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.identity import MemberPatch
from portico.wiring import identity

app = api()


@app.patch("/v1/org/members/<member_id>")
def update_member(member_id: str, body: MemberPatch) -> Response[dict[str, Any]]:
    return ok(identity().update_member(principal(app), member_id, body))


lambda_handler = handler(app)
