"""GET /v1/secrets: The organization's secret names and timestamps (never values)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal, query
from portico.models.common import ListQuery
from portico.wiring import secrets

app = api()


@app.get("/v1/secrets")
def list_secrets() -> Response[dict[str, Any]]:
    return ok(secrets().list(principal(app), query(app, ListQuery)))


lambda_handler = handler(app)
