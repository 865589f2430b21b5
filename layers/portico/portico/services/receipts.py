"""Receipts: publishing ``ToolExecuted`` and storing what the queue delivers."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from portico.ids import iso, new_id, now, now_iso
from portico.models.receipts import Receipt, ToolExecuted
from portico.repositories.dynamo import Table, dumps
from portico.repositories.events import EventPublisher

PREVIEW_LIMIT = 512
_SECRETISH = re.compile(r"pass|secret|token|key|auth|credential|cookie|session|signature", re.IGNORECASE)


def digest(value: Any) -> str:
    return digest_text(dumps(value))


def digest_text(canonical: str) -> str:
    """SHA-256 of already-canonical JSON (when the caller needs the text for something else too)."""
    return hashlib.sha256(canonical.encode()).hexdigest()


def redact(value: Any, depth: int = 0) -> Any:
    """Replace the values of secret-looking keys, recursively (bounded depth)."""
    if depth > 6:
        return "…"
    if isinstance(value, dict):
        return {k: "[redacted]" if _SECRETISH.search(str(k)) else redact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, depth + 1) for v in value[:20]]
    return value


def preview(arguments: dict[str, Any]) -> str:
    text = json.dumps(redact(arguments), ensure_ascii=False, default=str)
    return text if len(text) <= PREVIEW_LIMIT else text[: PREVIEW_LIMIT - 1] + "…"


def new_receipt_id() -> str:
    return new_id("rcpt")


class ReceiptService:
    def __init__(self, publisher: EventPublisher, table: Table | None, retention_days: int) -> None:
        self.publisher = publisher
        self.table = table
        self.retention_days = retention_days

    def publish(self, build: Callable[[], ToolExecuted]) -> None:
        """Publish one receipt, built by ``build`` on the publishing thread after the caller has its answer
        (everything ``build`` reads must be captured, not shared)."""
        self.publisher.publish("ToolExecuted", lambda: build().model_dump(mode="json"))

    def store(self, events: list[ToolExecuted]) -> None:
        """Write receipts idempotently (the receipt id is the key: a redelivery overwrites itself)."""
        assert self.table is not None
        stamp = now_iso()
        items = []
        for e in events:
            # The org's retention travels with the event, so the writer needs no settings lookup.
            expires = int((now() + timedelta(days=e.retention_days or self.retention_days)).timestamp())
            receipt = Receipt(**e.model_dump(), stored_at=stamp)
            items.append(
                {
                    "pk": f"ORG#{e.org_id}",
                    "sk": f"RCPT#{e.created_at}#{e.receipt_id}",
                    "gsi1pk": f"RCPT#{e.receipt_id}",
                    "gsi1sk": e.created_at,
                    "doc": dumps(receipt.model_dump(mode="json")),
                    "status": e.status,
                    "tool_name": e.tool_name,
                    "server_id": e.server_id,
                    "toolset_id": e.toolset_id,
                    "principal_id": e.principal_id,
                    "expires_at_epoch": expires,
                    "created_at": iso(now()),
                }
            )
        self.table.batch_write(puts=items)

    @staticmethod
    def parse_message(body: str) -> ToolExecuted:
        """The ``ToolExecuted`` event one SQS message carries (an EventBridge envelope).

        Raises:
            pydantic.ValidationError / ValueError: not a ToolExecuted event (retried, then dead-lettered).
        """
        envelope = json.loads(body)
        return ToolExecuted.model_validate(envelope.get("detail", envelope) if isinstance(envelope, dict) else None)

    def store_batch(self, events: dict[str, ToolExecuted]) -> list[str]:
        """Write events (by SQS message id) in one batch; returns the message ids whose write failed."""
        if not events:
            return []
        try:
            self.store(list(events.values()))
        except Exception:  # the batch edge: report these messages as failed, Lambda-style, and go on
            from portico.observability import logger

            logger.exception("receipt batch write failed", count=len(events))
            return list(events)
        return []

    def write_sqs_batch(self, event: dict[str, Any]) -> dict[str, Any]:
        """An SQS batch of ToolExecuted events: each message validated (powertools batch processing), the
        valid ones written in one batch; the response lists every failed message (ReportBatchItemFailures)."""
        from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
        from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

        processor = BatchProcessor(event_type=EventType.SQS)

        def parse(record: SQSRecord) -> ToolExecuted:
            return self.parse_message(record.body)

        with processor(records=event["Records"], handler=parse):
            outcomes = processor.process()
        parsed = {record["messageId"]: result for status, result, record in outcomes if status == "success"}
        failed = self.store_batch(parsed)
        response: dict[str, Any] = dict(processor.response())
        response["batchItemFailures"] += [{"itemIdentifier": message_id} for message_id in failed]
        return response
