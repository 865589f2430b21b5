"""Idempotent creates (``Idempotency-Key`` header) with the powertools idempotency utility.

Records live in the idempotency table (DynamoDB, TTL), keyed by the organization and the key, so two
organizations never share a key; the request body is validated so a reused key with a different
body is refused rather than answered with another request's result.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from portico.errors import ConflictError, ValidationError
from portico.settings import get_settings

KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
EXPIRY_SECONDS = 24 * 3600


@cache
def _store() -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from portico.repositories.aws import client

    return DynamoDBPersistenceLayer(
        table_name=get_settings().require("idempotency_table"), boto3_client=client("dynamodb")
    )


def once(scope: str, key: str, body: dict[str, Any], work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` once per (scope, key); a retry gets the first run's result.

    Raises:
        ValidationError: a malformed key.
        ConflictError: the key was used with a different body, or its first request is still running.
    """
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    if not KEY.match(key):
        raise ValidationError("Idempotency-Key must be 1-255 printable characters", field="Idempotency-Key")
    config = IdempotencyConfig(
        event_key_jmespath="[scope, key]",
        payload_validation_jmespath="body",
        expires_after_seconds=EXPIRY_SECONDS,
        raise_on_no_idempotency_key=True,
    )

    @idempotent_function(data_keyword_argument="request", persistence_store=_store(), config=config)
    def run(request: dict[str, Any]) -> dict[str, Any]:
        return work()

    try:
        return dict(run(request={"scope": scope, "key": key, "body": body}))
    except IdempotencyValidationError as exc:
        raise ConflictError("this Idempotency-Key was used with a different request", field="Idempotency-Key") from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise ConflictError(
            "a request with this Idempotency-Key is still in progress; retry shortly", field="Idempotency-Key"
        ) from exc
