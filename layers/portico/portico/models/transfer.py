"""Importing and exporting server configurations (seeds 002, 004)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ExportFormat = Literal["generic", "claude", "vscode"]
ImportFormat = Literal["generic", "claude", "vscode", "toml"]


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    format: ExportFormat = "generic"


class ImportEntry(BaseModel):
    name: str
    status: Literal["created", "skipped", "rejected"]
    server_id: str | None = None
    reason: str | None = None
    notes: list[str] = Field(default_factory=list)


class ImportResult(BaseModel):
    format: ImportFormat
    created: int
    skipped: int
    rejected: int
    results: list[ImportEntry]
