"""GET /.well-known/oauth-protected-resource: the MCP endpoint's protected-resource metadata (RFC 9728)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, base_url, handler, ok_raw
from portico.services.discovery import protected_resource

app = api()


@app.get("/.well-known/oauth-protected-resource")
def metadata() -> Response[dict[str, Any]]:
    return ok_raw(protected_resource(base_url(app)))


lambda_handler = handler(app)
