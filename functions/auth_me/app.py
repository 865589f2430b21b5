"""GET /v1/auth/me: Who am I: the principal, its organization and member record."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.wiring import identity

app = api()


@app.get("/v1/auth/me")
def me() -> Response[dict[str, Any]]:
    return ok(identity().me(principal(app)))


lambda_handler = handler(app)
