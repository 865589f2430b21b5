"""One typed settings object, read from the environment once.

Nothing else in Portico reads ``os.environ``. Resource names are optional here so a missing
variable fails the request that needs it (``require``), not every cold start.
"""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, Field

from portico.errors import ConfigurationError


class Settings(BaseModel):
    stage: str = "local"
    region: str = "us-east-1"
    endpoint_url: str | None = None
    main_table: str | None = None
    receipts_table: str | None = None
    event_bus: str | None = None
    sessions_table: str | None = None
    allowed_origins: str = ""
    # Warm-process caches: how stale a policy change or a revoked key may be seen (seconds; 0 disables).
    resolve_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    auth_cache_seconds: float = Field(default=10.0, ge=0, le=300)
    receipt_retention_days: int = Field(default=90, ge=1, le=3650)
    # Public base URL of the API, used to build mcp_url / endpoint_url values.
    public_base_url: str | None = None
    # Downstream MCP timeouts (seconds): connect and whole-call bounds.
    downstream_connect_timeout: float = Field(default=5.0, gt=0, le=60)
    downstream_timeout: float = Field(default=20.0, gt=0, le=120)
    # Loopback and private targets are refused in the cloud (SSRF); the local runtime allows them.
    allow_private_targets: bool = False
    # AWS API read timeout. A retried conditional write that had in fact succeeded comes back as a conflict,
    # so keep it well above the service's latency (the local runtime, sharing a small machine, raises it).
    aws_read_timeout: float = Field(default=10.0, gt=0, le=120)
    # Members' logins: the Cognito user pool and its app client (template: UserPool, UserPoolClient).
    user_pool_id: str | None = None
    user_pool_client_id: str | None = None
    # Where the pool's JWKS is fetched; unset means the pool's own (or, with an AWS endpoint set, the
    # endpoint's: moto serves it at {endpoint}/{pool}/.well-known/jwks.json while tokens name AWS).
    user_pool_jwks_url: str | None = None
    # How long fetched JWKS documents are trusted, and how often an unknown key id may trigger a refetch.
    jwks_cache_seconds: float = Field(default=300.0, ge=0, le=86400)
    jwks_refetch_seconds: float = Field(default=30.0, ge=0, le=3600)

    @property
    def user_pool_issuer(self) -> str | None:
        """The ``iss`` of the pool's tokens (always the AWS URL, also under moto)."""
        if not self.user_pool_id:
            return None
        region = self.user_pool_id.split("_", 1)[0] or self.region
        return f"https://cognito-idp.{region}.amazonaws.com/{self.user_pool_id}"

    @property
    def user_pool_jwks(self) -> str | None:
        if self.user_pool_jwks_url or not self.user_pool_id:
            return self.user_pool_jwks_url
        if self.endpoint_url:
            return f"{self.endpoint_url.rstrip('/')}/{self.user_pool_id}/.well-known/jwks.json"
        return f"{self.user_pool_issuer}/.well-known/jwks.json"

    # Hosting on ECS (portico.hosting.ecs.EcsPlatform); empty when the stack was deployed without a VPC.
    hosting_cluster: str | None = None
    hosting_subnets: str | None = None  # comma-separated private subnet ids
    hosting_security_group: str | None = None  # the hosted tasks' group (ingress only from the gateway's)
    hosting_execution_role_arn: str | None = None  # image pull + logs + env secret only; tasks get no role
    hosting_namespace_id: str | None = None  # Cloud Map private DNS namespace
    hosting_namespace_name: str | None = None
    runner_image_uri: str | None = None  # the image that bridges stdio package servers to HTTP
    build_project: str | None = None  # CodeBuild project building git sources
    image_repository_uri: str | None = None  # ECR repository for built images
    hosted_log_group: str | None = None  # CloudWatch Logs group of hosted servers' output
    # Hosting (seed 000): the container platform, the workflows and connect tokens.
    platform: str = "ecs"
    idempotency_table: str | None = None
    connect_token_secret: str | None = None
    provision_state_machine: str | None = None
    deprovision_state_machine: str | None = None
    lifecycle_state_machine: str | None = None
    hosting_deploy_timeout: float = Field(default=900.0, gt=0, le=3600)
    hosting_build_timeout: float = Field(default=1800.0, gt=0, le=7200)
    hosting_init_timeout: float = Field(default=45.0, gt=0, le=600)  # local bridge: wait for initialize
    hosting_state_dir: str | None = None  # local platform: where clones, installs and venvs live

    def require(self, name: str) -> str:
        """Return a resource name that must be configured.

        Raises:
            ConfigurationError: the variable behind ``name`` is not set.
        """
        value = getattr(self, name)
        if not value:
            raise ConfigurationError(f"setting {name!r} is not configured")
        return str(value)


_ENV = {
    "stage": "PORTICO_STAGE",
    "region": "AWS_REGION",
    "endpoint_url": "AWS_ENDPOINT_URL",
    "main_table": "PORTICO_MAIN_TABLE",
    "receipts_table": "PORTICO_RECEIPTS_TABLE",
    "event_bus": "PORTICO_EVENT_BUS",
    "sessions_table": "PORTICO_SESSIONS_TABLE",
    "allowed_origins": "PORTICO_ALLOWED_ORIGINS",
    "resolve_cache_seconds": "PORTICO_RESOLVE_CACHE_SECONDS",
    "auth_cache_seconds": "PORTICO_AUTH_CACHE_SECONDS",
    "receipt_retention_days": "PORTICO_RECEIPT_RETENTION_DAYS",
    "public_base_url": "PORTICO_PUBLIC_BASE_URL",
    "downstream_connect_timeout": "PORTICO_DOWNSTREAM_CONNECT_TIMEOUT",
    "downstream_timeout": "PORTICO_DOWNSTREAM_TIMEOUT",
    "allow_private_targets": "PORTICO_ALLOW_PRIVATE_TARGETS",
    "aws_read_timeout": "PORTICO_AWS_READ_TIMEOUT",
    "user_pool_id": "PORTICO_USER_POOL_ID",
    "user_pool_client_id": "PORTICO_USER_POOL_CLIENT_ID",
    "user_pool_jwks_url": "PORTICO_USER_POOL_JWKS_URL",
    "jwks_cache_seconds": "PORTICO_JWKS_CACHE_SECONDS",
    "jwks_refetch_seconds": "PORTICO_JWKS_REFETCH_SECONDS",
    "hosting_cluster": "PORTICO_HOSTING_CLUSTER",
    "hosting_subnets": "PORTICO_HOSTING_SUBNETS",
    "hosting_security_group": "PORTICO_HOSTING_SECURITY_GROUP",
    "hosting_execution_role_arn": "PORTICO_HOSTING_EXECUTION_ROLE_ARN",
    "hosting_namespace_id": "PORTICO_HOSTING_NAMESPACE_ID",
    "hosting_namespace_name": "PORTICO_HOSTING_NAMESPACE_NAME",
    "runner_image_uri": "PORTICO_RUNNER_IMAGE_URI",
    "build_project": "PORTICO_BUILD_PROJECT",
    "image_repository_uri": "PORTICO_IMAGE_REPOSITORY_URI",
    "hosted_log_group": "PORTICO_HOSTED_LOG_GROUP",
    "platform": "PORTICO_PLATFORM",
    "idempotency_table": "PORTICO_IDEMPOTENCY_TABLE",
    "connect_token_secret": "PORTICO_CONNECT_TOKEN_SECRET",
    "provision_state_machine": "PORTICO_PROVISION_STATE_MACHINE",
    "deprovision_state_machine": "PORTICO_DEPROVISION_STATE_MACHINE",
    "lifecycle_state_machine": "PORTICO_LIFECYCLE_STATE_MACHINE",
    "hosting_deploy_timeout": "PORTICO_HOSTING_DEPLOY_TIMEOUT",
    "hosting_build_timeout": "PORTICO_HOSTING_BUILD_TIMEOUT",
    "hosting_init_timeout": "PORTICO_HOSTING_INIT_TIMEOUT",
    "hosting_state_dir": "PORTICO_HOSTING_STATE_DIR",
}


@cache
def get_settings() -> Settings:
    """Load settings from the environment (once per process)."""
    values = {field: os.environ[var] for field, var in _ENV.items() if os.environ.get(var)}
    if "region" not in values and os.environ.get("AWS_DEFAULT_REGION"):
        values["region"] = os.environ["AWS_DEFAULT_REGION"]
    return Settings.model_validate(values)
