"""boto3 clients built once per process by cached factories.

``AWS_ENDPOINT_URL`` (moto's server locally, LocalStack when present) is honoured by boto3 itself;
we pass it explicitly too so the settings object stays the one reader of the environment.
"""

from __future__ import annotations

import threading
from typing import Any

from portico.settings import get_settings

_clients: dict[str, Any] = {}
_building = threading.Lock()


def client(service: str) -> Any:
    """The process's client for ``service``, built on first use — once, even when threads ask together
    (a resolution's parallel reads on a cold start would otherwise each import boto3 and build one)."""
    found = _clients.get(service)
    if found is None:
        with _building:
            found = _clients.get(service)
            if found is None:
                found = _clients[service] = _build(service)
    return found


def clear_clients() -> None:
    """Forget the built clients (the local runtime, after pointing the settings elsewhere)."""
    with _building:
        _clients.clear()


def _build(service: str) -> Any:
    import boto3  # deferred: ~0.2 s, paid only by functions that touch AWS
    from botocore.config import Config

    settings = get_settings()
    config = Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=2,
        read_timeout=settings.aws_read_timeout,
        max_pool_connections=32,
    )
    return boto3.session.Session().client(
        service, region_name=settings.region, endpoint_url=settings.endpoint_url, config=config
    )
