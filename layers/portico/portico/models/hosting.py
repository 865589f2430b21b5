"""Hosted MCP servers (seed 000, SPEC §5): create requests, logs, connect tokens, workflow payloads."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from portico.models.common import Description, Request, Tag
from portico.models.policy import RateLimits
from portico.models.servers import ApprovalPolicy, ServerName

HOSTED_SOURCES = ("git", "image", "package")
SECRET_REFERENCE = re.compile(r"^\{\{\s*secrets\.([A-Za-z0-9_-]{1,128})\s*\}\}$")
EnvName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
EnvValue = Annotated[str, StringConstraints(max_length=8192)]
Arg = Annotated[str, StringConstraints(max_length=2048)]
# Git URLs (https, ssh-style, file://) or a local path; never an option that git would parse.
GitUrl = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=r"^[^\s-][^\s]*$")]
IMAGE_REF = re.compile(r"^[a-z0-9][a-z0-9._/:@-]{0,511}$")
GitRef = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")]
SubDir = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
]
Command = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_./@+-]+$")]


class HostedServerCreate(Request):
    """Provision a hosted server from a git repository, a container image, or a stdio package command."""

    name: ServerName
    description: Description | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    source_type: Literal["git", "image", "package"]
    source_url: GitUrl | None = Field(
        default=None, description="git: the repository URL (or local path, locally); image: the image reference."
    )
    ref: GitRef | None = Field(default=None, description="git: branch, tag or commit.")
    subdirectory: SubDir | None = Field(default=None, description="git: the project's directory in the repository.")
    command: Command | None = Field(default=None, description="package (and optionally git): the executable.")
    args: list[Arg] = Field(default_factory=list, max_length=64)
    env: dict[EnvName, EnvValue] = Field(
        default_factory=dict, description="Values, or `{{ secrets.NAME }}` references resolved at deploy time."
    )
    approval_policy: ApprovalPolicy = ApprovalPolicy.AUTO_APPROVE
    rate_limits: RateLimits | None = Field(
        default=None, description="`{limit, interval, tools: {name: {limit, interval}}}`; interval in s or '1m'."
    )

    @field_validator("env")
    @classmethod
    def _env_size(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 64:
            raise ValueError("at most 64 environment variables")
        return value

    @model_validator(mode="after")
    def _source(self) -> HostedServerCreate:
        if self.source_type in ("git", "image") and not self.source_url:
            raise ValueError(f"source_url is required for source_type {self.source_type}")
        if self.source_type == "image" and not IMAGE_REF.match(self.source_url or ""):
            raise ValueError("source_url must be an image reference for source_type image")
        if self.source_type == "package" and not self.command:
            raise ValueError("command is required for source_type package")
        if self.source_type == "package" and self.source_url:
            raise ValueError("source_url is not used for source_type package")
        if self.subdirectory and ".." in self.subdirectory.split("/"):
            raise ValueError("subdirectory must stay inside the repository")
        if self.source_type != "git" and (self.ref or self.subdirectory):
            raise ValueError("ref and subdirectory apply to source_type git only")
        return self


def parse_create(raw: Any) -> Any:
    """The create body's model, by ``source_type``: hosted sources or a remote registration."""
    from portico.models.servers import ServerCreate

    if isinstance(raw, dict) and raw.get("source_type") in HOSTED_SOURCES:
        return HostedServerCreate.model_validate(raw)
    return ServerCreate.model_validate(raw if raw is not None else {})


class LogEntry(BaseModel):
    timestamp: str
    level: Literal["debug", "info", "warning", "error"] = "info"
    message: str


class LogPage(BaseModel):
    server_id: str
    logs: list[LogEntry]
    next_token: str | None = None


class LogQuery(BaseModel):
    limit: int = Field(default=100, ge=1, le=1000)
    next_token: str | None = Field(default=None, max_length=2048)
    start_time: str | None = Field(default=None, max_length=40)


class ConnectResult(BaseModel):
    endpoint_url: str | None
    token: str
    expires_in: int


class WorkflowInput(BaseModel):
    """What the state machines pass to every hosting step (the ``step`` picks the service method)."""

    step: str = Field(max_length=40)
    org_id: str = Field(pattern=r"^org_[a-f0-9]{24}$")
    server_id: str = Field(pattern=r"^mcp_[a-f0-9]{24}$")
    action: Literal["provision", "start", "stop", "restart", "deprovision"] | None = None
    build_id: str | None = None
    started_at: float | None = None
    error: dict[str, Any] | None = None

    model_config = {"extra": "ignore"}
