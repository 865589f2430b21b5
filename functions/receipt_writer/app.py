"""SQS → receipts table: ToolExecuted events, one batch per invocation, failures reported per message."""

from typing import Any

from portico.wiring import receipts


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return receipts().write_sqs_batch(event)
