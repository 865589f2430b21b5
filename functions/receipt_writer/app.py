"""SQS → receipts table: ToolExecuted events validated per message, written in one batch per invocation;
failures are reported per message (ReportBatchItemFailures) so only those are retried."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from portico.models.receipts import ToolExecuted
from portico.wiring import receipts

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> ToolExecuted:
    return receipts().parse_message(record.body)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with processor(records=event["Records"], handler=record_handler):
        outcomes = processor.process()
    parsed = {record["messageId"]: result for status, result, record in outcomes if status == "success"}
    failed = receipts().store_batch(parsed)
    response: dict[str, Any] = processor.response()
    response["batchItemFailures"] += [{"itemIdentifier": message_id} for message_id in failed]
    return response
