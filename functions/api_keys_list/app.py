"""GET /v1/api-keys: API keys (admins: all of the org; others: their own). Never secrets."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal, query
from portico.models.common import ListQuery
from portico.wiring import identity

app = api()


@app.get("/v1/api-keys")
def list_keys() -> Response[dict[str, Any]]:
    return ok(identity().list_keys(principal(app), query(app, ListQuery)))


lambda_handler = handler(app)
