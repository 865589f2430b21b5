"""PUT /v1/secrets/{name}: Create an org secret, or store a new version of its value (admin)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.models.secrets import SecretPut
from portico.wiring import secrets

app = api()


@app.put("/v1/secrets/<name>")
def put_secret(name: str, body: SecretPut) -> Response[dict[str, Any]]:
    info, created = secrets().put(principal(app), name, body)
    return ok(info, 201 if created else 200)


lambda_handler = handler(app)
