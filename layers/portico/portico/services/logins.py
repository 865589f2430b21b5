"""Members' password logins (a Cognito user pool) and organizations' trusted external OIDC issuers."""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from portico import auth
from portico.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
    UpstreamError,
    ValidationError,
)
from portico.ids import now_iso
from portico.models.common import Role
from portico.models.identity import (
    IdentityProvider,
    IdentityProvidersPut,
    LoginGrant,
    LoginGranted,
    LoginRequest,
    LoginResult,
    PasswordChange,
    Principal,
    PrincipalKind,
)
from portico.observability import logger
from portico.repositories.main import MainRepository
from portico.repositories.users import BAD_LOGIN, UserDirectory
from portico.settings import get_settings

_ALPHABET = string.ascii_letters + string.digits


def temporary_password(length: int = 20) -> str:
    """A random password that satisfies the pool's policy (lower, upper, digit; 20 characters)."""
    while True:
        candidate = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if (
            any(c.islower() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.isdigit() for c in candidate)
        ):
            return candidate


class LoginService:
    def __init__(self, repo: MainRepository, directory: UserDirectory) -> None:
        self.repo = repo
        self.directory = directory

    # ------------------------------------------------------------- logins of members
    def create_login(
        self, member: dict[str, Any], username: str | None, password: str | None = None
    ) -> tuple[dict[str, Any], str]:
        """Create the user for a member not yet stored; return the member with its login and the password.

        Without ``password`` a temporary one is generated (to be replaced at first login).

        Raises:
            ConflictError: the username is taken.  ValidationError: the username is refused.
        """
        name = username or member["email"]
        secret = password or temporary_password()
        sub = self.directory.create_user(name, member["email"], secret)
        if password:
            self.directory.set_password(name, password, permanent=True)
        return {**member, "username": name, "login_sub": sub}, secret

    def discard_login(self, member: Mapping[str, Any]) -> None:
        """Delete a member's user (after the member record is gone: a leftover user can log in to nothing)."""
        if not member.get("username"):
            return
        try:
            self.directory.delete_user(str(member["username"]))
        except UpstreamError:  # the member is already gone; a stray user opens no door (login checks membership)
            logger.exception("login not deleted", member_id=member.get("id"))

    def grant(self, principal: Principal, member_id: str, body: LoginGrant) -> LoginGranted:
        """Give a member a login, or reset its password: a new temporary password, shown once.

        Raises:
            ForbiddenError: not an admin.  NotFoundError: no such member here.
            ConflictError: the username is taken, or the member changed meanwhile.
            ValidationError: a username for a member that already has one.
        """
        org_id = auth.require_member(principal, Role.ADMIN)
        found = self.repo.get_owned("member", org_id, member_id)
        if found is None:
            raise NotFoundError("member", member_id)
        member, version = found
        if member.get("username"):
            if body.username and body.username != member["username"]:
                raise ValidationError("this member already has a login; its username stays", field="username")
            password = temporary_password()
            self.directory.set_password(member["username"], password, permanent=False)
            return LoginGranted(member_id=member_id, username=member["username"], temporary_password=password)
        username, password = self._attach(member, version, body.username, None)
        return LoginGranted(member_id=member_id, username=username, temporary_password=password)

    def bootstrap_login(self, org_id: str, member_id: str, username: str, password: str) -> None:
        """Give a stored member a login with a permanent password (the local bootstrap's admin).

        Raises:
            NotFoundError: no such member.  ConflictError: the username is taken.
        """
        found = self.repo.get_member(org_id, member_id)
        if found is None:
            raise NotFoundError("member", member_id)
        self._attach(found[0], found[1], username, password)

    def _attach(
        self, member: dict[str, Any], version: int, username: str | None, password: str | None
    ) -> tuple[str, str]:
        updated, secret = self.create_login(member, username, password)
        updated["updated_at"] = now_iso()
        try:
            self.repo.put_member(updated, version)
        except ConflictError:
            self.directory.delete_user(updated["username"])
            raise
        auth.principals.forget(user_id=member["id"])
        return str(updated["username"]), secret

    def login(self, body: LoginRequest) -> LoginResult:
        """Exchange a username and password for an access token of a current member.

        Raises:
            UnauthorizedError: wrong credentials, or the login belongs to no member (one message).
            PasswordChangeRequiredError: a temporary password without ``new_password``.
            ValidationError: ``new_password`` breaks the policy.
        """
        tokens = self.directory.login(body.username, body.password, body.new_password)
        try:
            # Verify what we hand out exactly as every later request will (and warm the principal cache).
            auth.authenticate({"authorization": f"Bearer {tokens.access_token}"}, self.repo)
        except UnauthorizedError as exc:
            logger.info("login refused", reason=exc.message)
            raise UnauthorizedError(BAD_LOGIN) from exc
        return LoginResult(access_token=tokens.access_token, expires_in=tokens.expires_in)

    def change_password(self, principal: Principal, body: PasswordChange, headers: Mapping[str, str] | None) -> None:
        """Change the logged-in member's password (the caller proves the old one).

        Raises:
            ForbiddenError: the caller did not log in with a password of this API.
            ValidationError: ``old_password`` is wrong or ``new_password`` breaks the policy.
        """
        token = auth.bearer_jwt(headers)
        if principal.kind is not PrincipalKind.USER or token is None or not auth.is_login_token(token):
            raise ForbiddenError("log in with a username and password (POST /v1/auth/login) to change it")
        if body.new_password == body.old_password:
            raise ValidationError("new_password must differ from old_password", field="new_password")
        self.directory.change_password(token, body.old_password, body.new_password)

    # ------------------------------------------------------------- trusted external issuers
    def set_identity_providers(self, principal: Principal, body: IdentityProvidersPut) -> list[IdentityProvider]:
        """Replace the external OIDC issuers whose tokens the caller's organization accepts.

        Raises:
            ForbiddenError: not an admin.  ValidationError: a bad or duplicate entry (``field`` names it).
            ConflictError: the organization changed meanwhile.
        """
        org_id = auth.require_member(principal, Role.ADMIN)
        settings = get_settings()
        seen: set[tuple[str, str]] = set()
        providers: list[dict[str, Any]] = []
        for n, entry in enumerate(body.identity_providers):
            for name in ("issuer", "jwks_uri"):
                url = getattr(entry, name)
                if url is None:
                    continue
                parts = urlsplit(url)
                if not parts.hostname or (parts.scheme != "https" and not settings.allow_private_targets):
                    raise ValidationError(f"{name} must be an https URL", field=f"identity_providers.{n}.{name}")
            if entry.issuer == settings.user_pool_issuer:
                raise ValidationError(
                    "Portico's own user pool is always trusted", field=f"identity_providers.{n}.issuer"
                )
            if (entry.issuer, entry.audience) in seen:
                raise ValidationError("duplicate issuer and audience", field=f"identity_providers.{n}")
            seen.add((entry.issuer, entry.audience))
            providers.append(entry.model_dump(mode="json"))
        found = self.repo.get_org(org_id)
        if found is None:
            raise NotFoundError("organization", org_id)
        org, version = found
        before = list(org.get("identity_providers") or [])
        org.update(identity_providers=providers, updated_at=now_iso())
        self.repo.put_identity_providers(org, version, before)
        auth.principals.forget(org_id=org_id)
        return [IdentityProvider.model_validate(p) for p in providers]
