"""DELETE /v1/api-keys/{key_id}: Revoke an API key."""

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, no_content, principal
from portico.wiring import identity

app = api()


@app.delete("/v1/api-keys/<key_id>")
def revoke_key(key_id: str) -> Response[None]:
    identity().revoke_key(principal(app), key_id)
    return no_content()


lambda_handler = handler(app)
