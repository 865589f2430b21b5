"""GET /health: status, version, component checks and counts. No authentication."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok
from portico.wiring import health

app = api()


@app.get("/health")
def get_health() -> Response[dict[str, Any]]:
    report, healthy = health().check()
    return ok(report, 200 if healthy else 503)


lambda_handler = handler(app)
