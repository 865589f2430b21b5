"""Organizations, members, API keys and the authenticated principal."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

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


Username = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\w.@+=,-]+$")]


def _password_policy(value: str) -> str:
    """The user pool's policy (template.yaml UserPool PasswordPolicy), checked before Cognito sees it."""
    if not (any(c.islower() for c in value) and any(c.isupper() for c in value) and any(c.isdigit() for c in value)):
        raise ValueError("needs a lowercase letter, an uppercase letter and a digit")
    return value


Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]
NewPassword = Annotated[str, StringConstraints(min_length=12, max_length=256), AfterValidator(_password_policy)]


class IdentityProviderIn(Request):
    """An external OIDC issuer whose tokens this organization accepts for its members."""

    issuer: str = Field(min_length=8, max_length=512, pattern=r"^https?://[^\s]+$")
    audience: str = Field(min_length=1, max_length=512, description="The `aud` tokens must carry (client id).")
    jwks_uri: str | None = Field(
        default=None, max_length=1024, pattern=r"^https?://[^\s]+$", description="Default: OIDC discovery."
    )
    email_claim: str = Field(default="email", pattern=r"^[A-Za-z0-9_:./-]{1,100}$")


class IdentityProvider(BaseModel):
    issuer: str
    audience: str
    jwks_uri: str | None = None
    email_claim: str = "email"


class IdentityProvidersPut(Request):
    identity_providers: list[IdentityProviderIn] = Field(max_length=10)


class Org(BaseModel):
    id: str
    name: str
    tier: Tier
    created_at: str
    updated_at: str
    identity_providers: list[IdentityProvider] = Field(default_factory=list)


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
    username: str | None = Field(default=None, description="The member's login (POST /v1/auth/login), if any.")
    created_at: str
    updated_at: str


class MemberCreate(Request):
    email: Email
    name: Name | None = None
    role: Role = Role.MEMBER
    login: bool = Field(default=False, description="Also create a password login (temporary password shown once).")
    username: Username | None = Field(default=None, description="The login's username; default: the e-mail.")


class MemberCreated(Member):
    temporary_password: str | None = Field(
        default=None, description="Shown once, with `login: true`: the first login must set a new password."
    )


class LoginGrant(Request):
    username: Username | None = Field(default=None, description="For a member without a login; default: e-mail.")


class LoginGranted(BaseModel):
    member_id: str
    username: str
    temporary_password: str = Field(description="Shown once; the first login with it must set new_password.")


class LoginRequest(Request):
    username: Username
    password: Password
    new_password: NewPassword | None = Field(default=None, description="Required when password is temporary.")


class LoginResult(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class PasswordChange(Request):
    old_password: Password
    new_password: NewPassword


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
