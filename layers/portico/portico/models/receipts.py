"""Execution receipts: the ToolExecuted event and the stored receipt (SPEC §7)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

ReceiptStatus = Literal["ok", "error", "denied", "rate_limited", "timeout"]


class ToolExecuted(BaseModel):
    """Detail of the ``ToolExecuted`` EventBridge event; one per execution, whatever its outcome."""

    receipt_id: str
    org_id: str
    principal_id: str
    principal_kind: str
    key_id: str | None = None
    client_name: str | None = None
    client_version: str | None = None
    source: Literal["rest_invoke", "rest_execute", "mcp"]
    toolset_id: str | None = None
    server_id: str | None = None
    tool_name: str
    tool_id: str | None = None
    exposed_name: str | None = None
    definition_hash: str | None = None
    policy_decision: str = "allow"
    status: ReceiptStatus
    error_code: str | None = None
    latency_ms: float = 0
    upstream_latency_ms: float | None = None
    arguments_digest: str
    arguments_preview: str = Field(max_length=2048)
    result_digest: str | None = None
    result_size: int = 0
    request_id: str | None = None
    session_id: str | None = None
    created_at: str
    retention_days: int | None = Field(default=None, ge=1, le=3650, description="The org's receipt retention.")


class Receipt(ToolExecuted):
    stored_at: str
    extra: dict[str, Any] = Field(default_factory=dict)
