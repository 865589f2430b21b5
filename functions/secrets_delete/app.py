"""DELETE /v1/secrets/{name}: Delete an org secret that no server references (admin)."""

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, no_content, principal
from portico.wiring import secrets

app = api()


@app.delete("/v1/secrets/<name>")
def delete_secret(name: str) -> Response[None]:
    secrets().delete(principal(app), name)
    return no_content()


lambda_handler = handler(app)
