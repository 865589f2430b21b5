"""POST /v1/auth/login: A member's username and password for an access token (no API credentials)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok
from portico.models.identity import LoginRequest
from portico.wiring import logins

app = api()


@app.post("/v1/auth/login")
def login(body: LoginRequest) -> Response[dict[str, Any]]:
    return ok(logins().login(body))


lambda_handler = handler(app)
