"""DELETE /v1/org/members/{member_id}: Admins remove a member (its API keys stop working)."""

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, no_content, principal
from portico.wiring import identity

app = api()


@app.delete("/v1/org/members/<member_id>")
def remove_member(member_id: str) -> Response[None]:
    identity().remove_member(principal(app), member_id)
    return no_content()


lambda_handler = handler(app)
