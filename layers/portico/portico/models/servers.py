"""MCP servers (seeds 000, 002, 003) and the tools discovered from them."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from portico.models.common import Description, Request, Tag
from portico.models.policy import QuarantinedTool, RateLimits, ToolFlag
from portico.models.secrets import SecretOnly, SecretRef


class Transport(StrEnum):
    STREAMABLE_HTTP = "streamable-http"
    SSE = "sse"


class ApprovalPolicy(StrEnum):
    AUTO_APPROVE = "auto_approve"
    REQUIRE_APPROVAL_ALL = "require_approval_all"
    REQUIRE_APPROVAL_ON_CHANGE = "require_approval_on_change"


class ServerStatus(StrEnum):
    PROVISIONING = "provisioning"
    RUNNING = "running"
    STOPPED = "stopped"
    ERROR = "error"
    DEPROVISIONING = "deprovisioning"


# Server names become tool-name prefixes (`<server>__<tool>`), so keep them identifier-like.
ServerName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Url = Annotated[str, StringConstraints(min_length=8, max_length=2048, pattern=r"^https?://[^\s/$.?#][^\s]*$")]
HeaderValue = Annotated[str, StringConstraints(max_length=8192)]
ToolName = Annotated[str, StringConstraints(min_length=1, max_length=128)]

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")
# Headers Portico sets itself on downstream requests; a server config may not override them.
_RESERVED_HEADERS = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "mcp-session-id",
    "mcp-protocol-version",
    "accept",
    "content-type",
    "upgrade",
    "te",
    "trailer",
}


def _check_headers(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if len(value) > 32:
        raise ValueError("at most 32 headers")
    for name in value:
        if not _HEADER_NAME.match(name):
            raise ValueError(f"invalid header name {name!r}")
        if name.lower() in _RESERVED_HEADERS:
            raise ValueError(f"header {name!r} is set by Portico and cannot be configured")
    return value


# A header value: literal text, text with {{ secrets.NAME }} references, or {"secret_id": "NAME"}.
SecretValue = HeaderValue | SecretRef


class AuthNone(Request):
    type: Literal["none"]


class AuthToken(Request):
    """A static bearer token sent as ``Authorization: Bearer <token>``."""

    type: Literal["token"]
    token: SecretValue


class AuthHeaders(Request):
    type: Literal["headers"]
    headers: dict[str, SecretValue] = Field(min_length=1)

    _headers = field_validator("headers")(_check_headers)


class AuthForward(Request):
    """The caller's own bearer token, passed through. Same-audience only: the downstream must accept
    tokens issued for Portico (the same authorization server and audience)."""

    type: Literal["forward"]


DownstreamAuth = Annotated[AuthNone | AuthToken | AuthHeaders | AuthForward, Field(discriminator="type")]


class TlsOptions(Request):
    """TLS towards an ``https`` downstream; PEM material comes from org secrets."""

    verify_certs: bool = True
    accept_invalid_hostnames: bool = False
    ca_cert: SecretOnly | None = Field(default=None, description="PEM root CA(s) to trust instead of the system's.")
    client_cert: SecretOnly | None = Field(default=None, description="PEM client certificate (mTLS).")
    client_key: SecretOnly | None = Field(default=None, description="PEM private key of the client certificate.")

    @model_validator(mode="after")
    def _pair(self) -> TlsOptions:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("client_cert and client_key go together")
        return self


class ServerCreate(Request):
    name: ServerName
    description: Description | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    source_type: Literal["remote"] = "remote"
    transport: Transport = Transport.STREAMABLE_HTTP
    url: Url
    headers: dict[str, SecretValue] = Field(default_factory=dict)
    auth: DownstreamAuth | None = None
    tls: TlsOptions | None = None
    approval_policy: ApprovalPolicy = ApprovalPolicy.AUTO_APPROVE
    rate_limits: RateLimits | None = Field(
        default=None, description="`{limit, interval, tools: {name: {limit, interval}}}`; interval in s or '1m'."
    )

    _headers = field_validator("headers")(_check_headers)


class ServerPatch(Request):
    name: ServerName | None = None
    description: Description | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)
    transport: Transport | None = None
    url: Url | None = None
    headers: dict[str, SecretValue] | None = None
    auth: DownstreamAuth | None = None
    tls: TlsOptions | None = None
    approval_policy: ApprovalPolicy | None = None
    rate_limits: RateLimits | None = Field(default=None, description="null removes the server's limits.")
    status: Literal["running", "stopped"] | None = Field(
        default=None, description="`stopped` takes a remote server's tools out of service without deleting it."
    )

    _headers = field_validator("headers")(_check_headers)


class AccessInfo(BaseModel):
    role: str | None
    is_creator: bool
    creator_id: str | None


class Server(BaseModel):
    id: str
    org_id: str
    name: str
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    source_type: str
    transport: Transport | None = None
    url: str | None = None
    headers: dict[str, Any] = Field(
        default_factory=dict, description="Literal values masked; secret references shown as written."
    )
    auth: dict[str, Any] | None = Field(default=None, description="Downstream auth; tokens masked or references.")
    tls: dict[str, Any] | None = None
    approval_policy: ApprovalPolicy
    status: ServerStatus
    endpoint_url: str | None = None
    disabled_tools: list[str] = Field(default_factory=list)
    tool_approval_hashes: list[str] = Field(default_factory=list)
    rate_limits: RateLimits | None = None
    tools_count: int = 0
    last_synced_at: str | None = None
    last_checked_at: str | None = None
    last_error: str | None = None
    created_by: str | None = None
    created_at: str
    updated_at: str
    # Hosted servers (git, image, package): where they come from, what runs them, their latest logs.
    source_url: str | None = None
    ref: str | None = None
    subdirectory: str | None = None
    command: str | None = None
    args: list[str] | None = None
    env: dict[str, str] | None = Field(default=None, description="Names with plain values masked.")
    container_id: str | None = None
    logs: list[dict[str, Any]] | None = None
    is_creator: bool = False
    role: str | None = None
    access_info: AccessInfo | None = None


class ServerList(BaseModel):
    servers: list[Server]
    total: int
    limit: int = Field(description="The page size (SPEC §3); the hosted quota is `quota_limit`.")
    offset: int
    used: int = Field(default=0, description="Hosted servers counted against the quota (seed 000).")
    quota_limit: int = Field(default=0, description="Hosted servers the organization's tier allows (seed 000).")


class Tool(BaseModel):
    id: str
    org_id: str
    server_id: str
    name: str
    title: str | None = None
    description: str | None = None
    input_schema: dict[str, Any] = Field(default_factory=dict)
    output_schema: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None
    definition_hash: str
    origin: Literal["mcp", "http"] = "mcp"
    disabled: bool = False
    approval_status: Literal["not_required", "approved", "pending", "quarantined"] = "not_required"
    approved_hash: str | None = None
    approved_definition: dict[str, Any] | None = Field(
        default=None, description="For a quarantined tool: the definition an admin approved (this record is the new)."
    )
    flags: list[ToolFlag] = Field(default_factory=list)
    created_at: str
    updated_at: str


class ServerTools(BaseModel):
    server_id: str
    approval_policy: ApprovalPolicy = ApprovalPolicy.AUTO_APPROVE
    tools: list[Tool]
    disabled_tools: list[str]
    pending_approval: list[str] = Field(default_factory=list)
    quarantined: list[QuarantinedTool] = Field(default_factory=list)
    flags: list[ToolFlag] = Field(default_factory=list)
    total: int


class DisabledToolsUpdate(Request):
    disabled_tools: list[ToolName] = Field(max_length=1000)


class InvokeRequest(Request):
    tool_name: ToolName
    arguments: dict[str, Any] = Field(default_factory=dict)


class InvokeResult(BaseModel):
    status: Literal["ok", "error"]
    elapsed_ms: float
    tool_name: str
    is_error: bool
    result: list[dict[str, Any]]
    structured_content: dict[str, Any] | None = None
    receipt_id: str | None = None


class ToolSummary(BaseModel):
    name: str
    title: str | None = None
    description: str | None = None


class TestResult(BaseModel):
    status: Literal["ok", "error"]
    connected: bool
    elapsed_ms: float
    tools_count: int
    tools: list[ToolSummary]
    server_info: dict[str, Any] | None = None
    protocol_version: str | None = None
    error_code: str | None = None
    error: str | None = None


class SyncResult(BaseModel):
    server_id: str
    tools_count: int
    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: int
    synced_at: str
    approval_policy: ApprovalPolicy = ApprovalPolicy.AUTO_APPROVE
    approved: list[str] = Field(default_factory=list, description="Approved by this sync (first sync, on_change).")
    pending_approval: list[str] = Field(default_factory=list, description="Not exposed until an admin approves.")
    quarantined: list[QuarantinedTool] = Field(default_factory=list)
    flags: list[ToolFlag] = Field(default_factory=list)
