"""GET /v1/org: The caller's organization."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.wiring import identity

app = api()


@app.get("/v1/org")
def get_org() -> Response[dict[str, Any]]:
    return ok(identity().get_org(principal(app)))


lambda_handler = handler(app)
