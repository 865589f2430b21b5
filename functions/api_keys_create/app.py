"""POST /v1/api-keys: Create an API key; the secret is shown once."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.identity import ApiKeyCreate
from portico.wiring import identity

app = api()


@app.post("/v1/api-keys")
def create_key(body: ApiKeyCreate) -> Response[dict[str, Any]]:
    return ok(identity().create_key(principal(app), body), 201)


lambda_handler = handler(app)
