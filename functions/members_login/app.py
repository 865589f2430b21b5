"""POST /v1/org/members/{member_id}/login: Admins give a member a login or reset its password (shown once)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.identity import LoginGrant
from portico.wiring import logins

app = api()


@app.post("/v1/org/members/<member_id>/login")
def grant_login(member_id: str, body: LoginGrant | None = None) -> Response[dict[str, Any]]:
    return ok(logins().grant(principal(app), member_id, body or LoginGrant()))


lambda_handler = handler(app)
