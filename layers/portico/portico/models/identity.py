"""Organizations, members, API keys and the authenticated principal."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from portico.models.common import Name, Request, Role, Tier

Email = Annotated[str, StringConstraints(max_length=254, to_lower=True, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class PrincipalKind(StrEnum):
    API_KEY = "api_key"
    USER = "user"
    OPERATOR = "operator"
    CONNECT_TOKEN = "connect_token"


class Principal(BaseModel):
    """Who is calling, as established by ``portico.auth`` (never taken from a request body)."""

    kind: PrincipalKind
    principal_id: str
    org_id: str | None = None
    user_id: str | None = None
    role: Role | None = None
    tier: Tier | None = None
    key_id: str | None = None
    scope_server_id: str | None = None


class Org(BaseModel):
    id: str
    name: str
    tier: Tier
    created_at: str
    updated_at: str


class OrgCreate(Request):
    name: Name
    tier: Tier = Tier.FREE


class OrgPatch(Request):
    name: Name | None = None


class OrgTierPatch(Request):
    name: Name | None = None
    tier: Tier | None = None


class Member(BaseModel):
    id: str
    org_id: str
    email: str
    name: str | None = None
    role: Role
    created_at: str
    updated_at: str


class MemberCreate(Request):
    email: Email
    name: Name | None = None
    role: Role = Role.MEMBER


class MemberPatch(Request):
    name: Name | None = None
    role: Role | None = None


KeyName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class ApiKey(BaseModel):
    """An API key as shown after creation: never the secret, never its hash."""

    id: str
    org_id: str | None
    name: str
    role: Role | None
    user_id: str | None
    prefix: str
    created_at: str
    expires_at: str | None = None
    created_by: str | None = None


class ApiKeyCreate(Request):
    name: KeyName
    role: Role | None = None
    user_id: str | None = Field(default=None, pattern=r"^usr_[a-f0-9]{24}$")
    expires_at: datetime | None = None
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class ApiKeyCreated(BaseModel):
    api_key: ApiKey
    secret: str = Field(description="Shown once: `Authorization: Bearer <secret>` or X-API-KEY/X-API-SECRET.")
    key_secret: str = Field(description="The secret part alone, for the X-API-SECRET header.")


class OrgCreated(BaseModel):
    org: Org
    admin: Member
    admin_api_key: str
    api_key: ApiKey
