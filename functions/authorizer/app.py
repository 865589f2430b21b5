"""The REQUEST Lambda authorizer: credentials in, an Allow policy with the principal out (or 401)."""

from typing import Any

from portico.auth import authorize_request
from portico.repositories.main import main_repository


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return authorize_request(event, main_repository())
