"""boto3 clients built once per process by cached factories.

``AWS_ENDPOINT_URL`` (moto's server locally, LocalStack when present) is honoured by boto3 itself;
we pass it explicitly too so the settings object stays the one reader of the environment.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from portico.settings import get_settings


@cache
def client(service: str) -> Any:
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
