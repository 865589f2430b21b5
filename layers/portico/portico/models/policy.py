"""Governance models: rate limits (seeds 001, 004), tool approvals (seed 003), org settings (seed 002)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator, model_validator

from portico.models.common import Request

_INTERVAL = re.compile(
    r"^\s*(\d{1,6})\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?)?\s*$", re.IGNORECASE
)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(value: Any) -> Any:
    """Seconds as a number, or a duration like ``"60s"``, ``"5m"``, ``"1h"``, ``"1d"`` (seed 004)."""
    if isinstance(value, bool):
        raise ValueError("interval must be seconds or a duration like '60s', '5m', '1h'")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        match = _INTERVAL.match(value)
        if match:
            unit = (match.group(2) or "s")[0].lower()
            return int(match.group(1)) * _UNIT[unit]
    raise ValueError("interval must be seconds or a duration like '60s', '5m', '1h'")


# A fixed window, 1 s … 1 day, stored as seconds.
Interval = Annotated[int, BeforeValidator(parse_interval), Field(ge=1, le=86400)]
ToolName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class RateLimit(BaseModel):
    """``limit`` calls per ``interval`` (a fixed window)."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(ge=1, le=1_000_000)
    interval: Interval = 60


class RateLimits(BaseModel):
    """A server's limits (seed 004): the whole server, and individual tools; every applicable one must pass."""

    model_config = ConfigDict(extra="forbid")

    limit: int | None = Field(default=None, ge=1, le=1_000_000, description="Calls per interval to this server.")
    interval: Interval = 60
    tools: dict[ToolName, RateLimit] = Field(default_factory=dict, max_length=500)


# ------------------------------------------------------------- approvals
class ApproveTools(Request):
    """Pin the current definition hashes of some tools (by name), or of all of them."""

    tools: list[ToolName] | None = Field(default=None, min_length=1, max_length=1000)
    all: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> ApproveTools:
        if (self.tools is None) == (not self.all):
            raise ValueError("give either tools: [names] or all: true")
        return self


class ToolFlag(BaseModel):
    """Something an admin should look at before exposing a tool (it does not block the tool)."""

    tool: str
    kind: Literal["name_collision", "hidden_characters"]
    field: str
    detail: str


class QuarantinedTool(BaseModel):
    """A tool whose definition changed since it was approved: the approved and the new definition."""

    name: str
    approved_hash: str | None
    new_hash: str
    approved_definition: dict[str, Any] | None
    new_definition: dict[str, Any]


class ApproveResult(BaseModel):
    server_id: str
    approved: list[str]
    tool_approval_hashes: list[str]
    pending_approval: list[str]


# ------------------------------------------------------------- settings (seed 002)
Origin = Annotated[
    str, StringConstraints(max_length=255, to_lower=True, pattern=r"(?i)^https?://[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?$")
]
SETTING_KEYS = ("default_exposure_mode", "receipt_retention_days", "default_rate_limits", "allowed_origins")


class OrgSettingsValues(BaseModel):
    """The allow-listed settings of an organization (unset ones take the platform or tier default)."""

    model_config = ConfigDict(extra="forbid")

    default_exposure_mode: Literal["full", "progressive"] | None = None
    receipt_retention_days: int | None = Field(default=None, ge=1, le=3650)
    default_rate_limits: RateLimit | None = None
    allowed_origins: list[Origin] | None = Field(default=None, max_length=50)

    @field_validator("allowed_origins")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        return list(dict.fromkeys(value)) if value is not None else None


class SettingUpdate(Request):
    value: Any = Field(description="The new value; null puts the setting back to its default.")


class OrgSettings(BaseModel):
    """Effective settings: what the organization set, else the default (``sources`` says which)."""

    default_exposure_mode: Literal["full", "progressive"]
    receipt_retention_days: int
    default_rate_limits: RateLimit
    allowed_origins: list[str]
    platform_allowed_origins: list[str]
    sources: dict[str, Literal["org", "default"]]
    updated_at: str | None = None
    updated_by: str | None = None
