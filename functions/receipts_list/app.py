"""GET /v1/receipts: Execution receipts (filters: status, tool, server_id, toolset_id, principal, date range)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal, query
from portico.services.receipts_query import ReceiptQuery
from portico.wiring import receipts_query

app = api()


@app.get("/v1/receipts")
def list_receipts() -> Response[dict[str, Any]]:
    return ok(receipts_query().list(principal(app), query(app, ReceiptQuery)))


lambda_handler = handler(app)
