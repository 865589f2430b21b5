"""Org secrets (seeds 003, 004): write-only values in Secrets Manager, referenced by name.

A reference is ``{"secret_id": "NAME"}`` or ``{{ secrets.NAME }}`` inside a string.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

SECRET_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$"
SecretName = Annotated[str, StringConstraints(pattern=SECRET_NAME_PATTERN)]
# {{ secrets.NAME }} inside any string value; names as above.
TEMPLATE = re.compile(r"\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_-]{0,127})\s*\}\}")
# Secrets Manager stores at most 64 KiB per value.
MAX_VALUE_BYTES = 65536


class SecretRef(BaseModel):
    """``{"secret_id": "NAME"}``: the whole value comes from an org secret."""

    model_config = ConfigDict(extra="forbid")

    secret_id: SecretName


def _only_reference(value: Any) -> Any:
    """A field that can only hold a secret: ``{"secret_id": ...}`` or a string that is exactly a reference."""
    if isinstance(value, str):
        found = TEMPLATE.fullmatch(value.strip())
        if found is None:
            raise ValueError('must be a secret reference ({{ secrets.NAME }} or {"secret_id": "NAME"})')
        return {"secret_id": found.group(1)}
    return value


SecretOnly = Annotated[SecretRef, BeforeValidator(_only_reference)]


class SecretPut(BaseModel):
    """The new value (kept exactly as sent: PEM files keep their line breaks)."""

    model_config = ConfigDict(extra="forbid")

    value: Annotated[str, StringConstraints(min_length=1, max_length=MAX_VALUE_BYTES)]


class SecretInfo(BaseModel):
    """What anyone may know of a secret: its name and when it was written. Never its value."""

    name: str
    created_at: str
    updated_at: str


class SecretList(BaseModel):
    secrets: list[SecretInfo]
    total: int
    limit: int
    offset: int


class SecretWritten(SecretInfo):
    created: bool = Field(description="true when this PUT created the secret, false when it added a version")
