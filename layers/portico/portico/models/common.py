"""Shared model pieces: strict request base, list queries, pages, roles and tiers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

T = TypeVar("T")


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        return {"viewer": 0, "member": 1, "admin": 2}[self.value]


class Tier(StrEnum):
    FREE = "free"
    PRO = "pro"
    STUDIO = "studio"

    @property
    def rank(self) -> int:
        return {"free": 0, "pro": 1, "studio": 2}[self.value]


class Request(BaseModel):
    """Base of request bodies: unknown fields are an error, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Name = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
Description = Annotated[str, StringConstraints(max_length=2000)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.:/-]+$")]


class ListQuery(BaseModel):
    """Common list parameters (SPEC §3): limit/offset plus filters."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=100_000)
    status: str | None = Field(default=None, max_length=40)
    search: str | None = Field(default=None, max_length=200)
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    created_after: datetime | None = None
    created_before: datetime | None = None

    @field_validator("tags", mode="before")
    @classmethod
    def _split_tags(cls, value: object) -> object:
        if isinstance(value, str):
            return [t for t in value.split(",") if t]
        return value


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, matches: list[Any], query: ListQuery, total: int | None = None) -> Page[Any]:
        """A page of ``matches`` (already the full, ordered match list unless ``total`` is given)."""
        items = matches if total is not None else matches[query.offset : query.offset + query.limit]
        return Page(items=items, total=len(matches) if total is None else total, limit=query.limit, offset=query.offset)
