"""POST /v1/auth/password: The logged-in member changes its password (old one required)."""

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, no_content, principal
from portico.models.identity import PasswordChange
from portico.wiring import logins

app = api()


@app.post("/v1/auth/password")
def change_password(body: PasswordChange) -> Response[None]:
    logins().change_password(principal(app), body, app.current_event.headers)
    return no_content()


lambda_handler = handler(app)
