"""Tools (curation, HTTP-backed tools, direct execution) and toolsets (seed 001)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from portico.models.common import Description, Name, Request, Tag
from portico.models.policy import QuarantinedTool, ToolFlag
from portico.models.servers import HeaderValue, ServerCreate, Url, _check_headers

ExposedName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")]
ToolId = Annotated[str, StringConstraints(pattern=r"^tool_[a-f0-9]{24}$")]
ServerId = Annotated[str, StringConstraints(pattern=r"^mcp_[a-f0-9]{24}$")]


class ExposureMode(StrEnum):
    FULL = "full"
    PROGRESSIVE = "progressive"


class ToolPatch(Request):
    tags: list[Tag] | None = Field(default=None, max_length=20)
    status: Literal["active", "disabled"] | None = None
    alias: ExposedName | None = Field(default=None, description="Name the tool is exposed under in toolsets.")
    description_override: Annotated[str, StringConstraints(max_length=4000)] | None = None


class HttpToolCreate(Request):
    """A tool backed by an HTTP call: ``{param}`` placeholders in the URL come from the arguments."""

    name: ExposedName
    description: Description | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: Url
    headers: dict[str, HeaderValue] = Field(default_factory=dict)
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    body_mapping: Literal["json", "query", "none"] = Field(
        default="json", description="Where arguments not used by the URL go: a JSON body, the query string, or nowhere."
    )

    _headers = field_validator("headers")(_check_headers)

    @field_validator("input_schema")
    @classmethod
    def _object_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("type", "object") != "object":
            raise ValueError("input_schema must describe an object")
        return value

    def placeholders(self) -> list[str]:
        return re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", self.url)


class ExecuteRequest(Request):
    arguments: dict[str, Any] = Field(default_factory=dict)


class ExecuteResult(BaseModel):
    status: Literal["ok", "error"]
    tool_id: str
    tool_name: str
    elapsed_ms: float
    is_error: bool
    content: list[dict[str, Any]]
    structured_content: dict[str, Any] | None = None
    receipt_id: str | None = None


class ToolsetCreate(Request):
    name: Name
    description: Description | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    exposure_mode: ExposureMode = ExposureMode.FULL
    tool_ids: list[ToolId] = Field(default_factory=list, max_length=500)
    aliases: dict[ToolId, ExposedName] = Field(default_factory=dict)


class ToolsetPatch(Request):
    name: Name | None = None
    description: Description | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)
    exposure_mode: ExposureMode | None = None
    status: Literal["active", "disabled"] | None = None


class ToolsetTools(Request):
    tool_ids: list[ToolId] = Field(min_length=1, max_length=500)
    aliases: dict[ToolId, ExposedName] = Field(default_factory=dict)


class FromServers(Request):
    name: Name
    description: Description | None = None
    server_ids: list[ServerId] = Field(min_length=1, max_length=50)
    exposure_mode: ExposureMode = ExposureMode.FULL
    on_conflict: Literal["error", "prefix"] = Field(
        default="error", description="`prefix` exposes colliding tools as `<server>__<tool>` instead of failing."
    )


class GatewayRegister(ServerCreate):
    """Register an external MCP server straight into a toolset (seed 001 gateway): a server, plus what to
    do when its tool names collide with the toolset's."""

    tags: list[Tag] = Field(default_factory=lambda: ["gateway"], max_length=20)
    on_conflict: Literal["error", "prefix"] = "error"


class ExposedTool(BaseModel):
    tool_id: str
    exposed_name: str
    name: str
    server_id: str | None
    server_name: str | None
    description: str | None = None
    status: str


class Toolset(BaseModel):
    id: str
    org_id: str
    name: str
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    exposure_mode: ExposureMode
    status: str = "active"
    tool_ids: list[str] = Field(default_factory=list)
    aliases: dict[str, str] = Field(default_factory=dict)
    gateway_server_ids: list[str] = Field(default_factory=list)
    tools_count: int = 0
    mcp_url: str | None = None
    tools: list[ExposedTool] | None = None
    created_by: str | None = None
    created_at: str
    updated_at: str


class GatewaySync(BaseModel):
    server_id: str
    added: list[str]
    changed: list[str]
    removed: list[str]
    pending_approval: list[str] = Field(default_factory=list)
    quarantined: list[QuarantinedTool] = Field(default_factory=list)
    flags: list[ToolFlag] = Field(default_factory=list)
    toolset: Toolset
