"""GET /v1/receipts/stats: Counts by status, tool, server; latency percentiles; per day."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal, query
from portico.services.receipts_query import ReceiptQuery
from portico.wiring import receipts_query

app = api()


@app.get("/v1/receipts/stats")
def receipt_stats() -> Response[dict[str, Any]]:
    return ok(receipts_query().stats(principal(app), query(app, ReceiptQuery)))


lambda_handler = handler(app)
