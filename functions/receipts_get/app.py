"""GET /v1/receipts/{receipt_id}: One receipt."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from portico.http import api, handler, ok, principal
from portico.wiring import receipts_query

app = api()


@app.get("/v1/receipts/<receipt_id>")
def get_receipt(receipt_id: str) -> Response[dict[str, Any]]:
    return ok(receipts_query().get(principal(app), receipt_id))


lambda_handler = handler(app)
