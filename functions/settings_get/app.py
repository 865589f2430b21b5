"""GET /v1/settings: The organization's settings (effective values, and where each comes from)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.wiring import org_settings

app = api()


@app.get("/v1/settings")
def get_settings() -> Response[dict[str, Any]]:
    return ok(org_settings().get(principal(app)))


lambda_handler = handler(app)
