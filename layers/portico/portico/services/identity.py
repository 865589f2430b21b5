"""Organizations, members and API keys."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from portico import auth
from portico.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from portico.ids import iso, new_id, new_secret, now, now_iso
from portico.models.common import ListQuery, Page, Role
from portico.models.identity import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    Member,
    MemberCreate,
    MemberCreated,
    MemberPatch,
    Org,
    OrgCreate,
    OrgCreated,
    OrgPatch,
    OrgTierPatch,
    Principal,
    PrincipalKind,
)
from portico.repositories.main import MainRepository

if TYPE_CHECKING:
    from portico.services.logins import LoginService


def _new_key(
    name: str,
    org_id: str | None,
    role: Role | None,
    user_id: str | None,
    created_by: str | None,
    expires_at: str | None = None,
    kind: PrincipalKind = PrincipalKind.API_KEY,
) -> tuple[dict[str, Any], str, str]:
    """A key record, its secret and the secret's hash."""
    key_id = new_id("key")
    secret = "pts_" + new_secret()
    key = {
        "id": key_id,
        "org_id": org_id,
        "name": name,
        "role": role.value if role else None,
        "user_id": user_id,
        "prefix": secret[:8],
        "created_at": now_iso(),
        "expires_at": expires_at,
        "created_by": created_by,
        "kind": kind.value,
    }
    return key, secret, auth.hash_secret(secret)


class IdentityService:
    def __init__(self, repo: MainRepository, logins: LoginService | None = None) -> None:
        self.repo = repo
        self.logins = logins  # members' password logins (None: no user pool configured)

    def _require_logins(self) -> LoginService:
        if self.logins is None:
            raise ValidationError("password logins are not configured here", field="login")
        return self.logins

    # ------------------------------------------------------------- operators
    def create_org(self, principal: Principal, body: OrgCreate, admin_email: str | None = None) -> OrgCreated:
        """Create an organization with its first admin member and that admin's API key.

        Raises:
            ForbiddenError: the caller is not a platform operator.
        """
        auth.require_operator(principal)
        return self.bootstrap_org(body, admin_email or "admin@example.com", principal.principal_id)

    def bootstrap_org(self, body: OrgCreate, admin_email: str, created_by: str | None) -> OrgCreated:
        stamp = now_iso()
        org = {
            "id": new_id("org"),
            "name": body.name,
            "tier": body.tier.value,
            "created_at": stamp,
            "updated_at": stamp,
        }
        admin = {
            "id": new_id("usr"),
            "org_id": org["id"],
            "email": admin_email.lower(),
            "name": "Administrator",
            "role": Role.ADMIN.value,
            "created_at": stamp,
            "updated_at": stamp,
        }
        key, secret, secret_hash = _new_key("bootstrap admin key", org["id"], Role.ADMIN, admin["id"], created_by)
        self.repo.create_org(org, admin, key, secret_hash)
        return OrgCreated(
            org=Org.model_validate(org),
            admin=Member.model_validate(admin),
            admin_api_key=auth.bearer_token(key["id"], secret),
            api_key=ApiKey.model_validate(key),
        )

    def create_operator_key(self, name: str) -> tuple[ApiKey, str]:
        """Mint a platform-operator key (used by the local bootstrap and the `portico operator-key` command)."""
        key, secret, secret_hash = _new_key(name, None, None, None, None, kind=PrincipalKind.OPERATOR)
        self.repo.put_key(key, secret_hash)
        return ApiKey.model_validate(key), auth.bearer_token(key["id"], secret)

    def list_orgs(self, principal: Principal, query: ListQuery) -> Page[Org]:
        auth.require_operator(principal)
        items, total = self.repo.page("ORGS", query)
        return Page(items=[Org.model_validate(i) for i in items], total=total, limit=query.limit, offset=query.offset)

    def retier_org(self, principal: Principal, org_id: str, body: OrgTierPatch) -> Org:
        """Raises:
        ForbiddenError: not an operator.  NotFoundError: no such org.  ConflictError: concurrent change.
        """
        auth.require_operator(principal)
        return self._patch_org(org_id, body.model_dump(exclude_none=True, mode="json"))

    # ------------------------------------------------------------- the caller's org
    def get_org(self, principal: Principal) -> Org:
        org_id = auth.require_member(principal)
        found = self.repo.get_org(org_id)
        if found is None:
            raise NotFoundError("organization", org_id)
        return Org.model_validate(found[0])

    def update_org(self, principal: Principal, body: OrgPatch) -> Org:
        org_id = auth.require_member(principal, Role.ADMIN)
        return self._patch_org(org_id, body.model_dump(exclude_none=True, mode="json"))

    def _patch_org(self, org_id: str, changes: dict[str, Any]) -> Org:
        found = self.repo.get_org(org_id)
        if found is None:
            raise NotFoundError("organization", org_id)
        org, version = found
        org.update(changes, updated_at=now_iso())
        self.repo.put_org(org, version)
        auth.principals.forget(org_id=org_id)
        return Org.model_validate(org)

    # ------------------------------------------------------------- members
    def add_member(self, principal: Principal, body: MemberCreate) -> MemberCreated:
        """Add a member; with ``login`` also its password login, whose temporary password is returned once.

        Raises:
            ForbiddenError: not an admin.  ConflictError: the e-mail is already a member, or the username taken.
            ValidationError: ``username`` without ``login``, or logins not configured.
        """
        org_id = auth.require_member(principal, Role.ADMIN)
        if body.username and not body.login:
            raise ValidationError("username needs login: true", field="username")
        stamp = now_iso()
        member: dict[str, Any] = {
            "id": new_id("usr"),
            "org_id": org_id,
            "email": body.email,
            "name": body.name,
            "role": body.role.value,
            "created_at": stamp,
            "updated_at": stamp,
        }
        password = None
        if body.login:
            if self.repo.member_by_email(org_id, body.email) is not None:
                raise ConflictError(f"{body.email} is already a member", email=body.email)
            # The user first (its `sub` goes on the record), removed again if the member cannot be stored.
            member, password = self._require_logins().create_login(member, body.username)
        try:
            self.repo.add_member(member)
        except ConflictError as exc:
            if body.login:
                self._require_logins().discard_login(member)
            raise ConflictError(f"{body.email} is already a member", email=body.email) from exc
        return MemberCreated.model_validate({**member, "temporary_password": password})

    def list_members(self, principal: Principal, query: ListQuery) -> Page[Member]:
        org_id = auth.require_member(principal)
        items, total = self.repo.page(f"ORG#{org_id}#MEMBER", query)
        return Page(
            items=[Member.model_validate(i) for i in items], total=total, limit=query.limit, offset=query.offset
        )

    def _member(self, org_id: str, member_id: str) -> tuple[dict[str, Any], int]:
        found = self.repo.get_member(org_id, member_id)
        if found is None:
            raise NotFoundError("member", member_id)
        return found

    def _keep_an_admin(self, org_id: str, member: dict[str, Any]) -> None:
        if member["role"] == Role.ADMIN and len(self.repo.admins(org_id)) <= 1:
            raise ConflictError("an organization keeps at least one admin", member_id=member["id"])

    def update_member(self, principal: Principal, member_id: str, body: MemberPatch) -> Member:
        """Raises:
        ForbiddenError: not an admin.  NotFoundError: no such member here.  ConflictError: last admin.
        """
        org_id = auth.require_member(principal, Role.ADMIN)
        member, version = self._member(org_id, member_id)
        if body.role is not None and body.role != Role.ADMIN:
            self._keep_an_admin(org_id, member)
        member.update(body.model_dump(exclude_none=True, mode="json"), updated_at=now_iso())
        self.repo.put_member(member, version)
        auth.principals.forget(user_id=member_id)
        return Member.model_validate(member)

    def remove_member(self, principal: Principal, member_id: str) -> None:
        """Remove a member and revoke every key it owns.

        Raises:
            ForbiddenError: not an admin.  NotFoundError: no such member.  ConflictError: the last admin.
        """
        org_id = auth.require_member(principal, Role.ADMIN)
        member, version = self._member(org_id, member_id)
        self._keep_an_admin(org_id, member)
        self.repo.delete_member(member, version)
        auth.principals.forget(user_id=member_id)
        if self.logins is not None:
            self.logins.discard_login(member)

    # ------------------------------------------------------------- API keys
    def create_key(self, principal: Principal, body: ApiKeyCreate) -> ApiKeyCreated:
        """Create a key for the caller (or, for an admin, for another member), never above the owner's role.

        Raises:
            ForbiddenError: a viewer, or a non-admin creating a key for someone else or above their role.
            NotFoundError: ``user_id`` is not a member of this organization.
            ValidationError: an expiry in the past, or both expiry forms.
        """
        org_id = auth.require_member(principal, Role.MEMBER)
        assert principal.role is not None
        owner_id = body.user_id or principal.user_id
        if body.user_id and body.user_id != principal.user_id and principal.role is not Role.ADMIN:
            raise ForbiddenError("only admins create keys for other members")
        owner_role = principal.role
        if owner_id and owner_id != principal.user_id:
            owner_role = Role(self._member(org_id, owner_id)[0]["role"])
        role = body.role or owner_role
        if role.rank > owner_role.rank or role.rank > principal.role.rank:
            raise ForbiddenError("a key cannot carry more than its owner's role", role=role.value)
        if body.expires_at and body.expires_in_days:
            raise ValidationError("give expires_at or expires_in_days, not both", field="expires_at")
        expires = body.expires_at or (now() + timedelta(days=body.expires_in_days) if body.expires_in_days else None)
        if expires is not None and expires.tzinfo is None:
            raise ValidationError("expires_at needs a timezone", field="expires_at")
        if expires is not None and expires <= now():
            raise ValidationError("expires_at is in the past", field="expires_at")
        key, secret, secret_hash = _new_key(
            body.name, org_id, role, owner_id, principal.principal_id, iso(expires) if expires else None
        )
        self.repo.put_key(key, secret_hash)
        return ApiKeyCreated(
            api_key=ApiKey.model_validate(key), secret=auth.bearer_token(key["id"], secret), key_secret=secret
        )

    def list_keys(self, principal: Principal, query: ListQuery) -> Page[ApiKey]:
        """Admins see every key of the org; others see their own."""
        org_id = auth.require_member(principal)
        if principal.role is Role.ADMIN:
            items, total = self.repo.page(f"ORG#{org_id}#KEY", query)
        else:
            own = [k for k in self.repo.keys_of_user(principal.user_id or "") if k["org_id"] == org_id]
            own.sort(key=lambda k: k["created_at"], reverse=True)
            items, total = own[query.offset : query.offset + query.limit], len(own)
        return Page(
            items=[ApiKey.model_validate(i) for i in items], total=total, limit=query.limit, offset=query.offset
        )

    def revoke_key(self, principal: Principal, key_id: str) -> None:
        """Raises:
        NotFoundError: no such key in this org (or not the caller's, for a non-admin).
        """
        org_id = auth.require_member(principal)
        found = self.repo.get_key(key_id) if auth.KEY_ID.match(key_id) else None
        key = found[0] if found else None
        if key is None or key.get("org_id") != org_id:
            raise NotFoundError("api_key", key_id)
        if principal.role is not Role.ADMIN and key.get("user_id") != principal.user_id:
            raise NotFoundError("api_key", key_id)
        self.repo.delete_key(key_id)
        auth.principals.forget(key_id=key_id)

    def me(self, principal: Principal) -> dict[str, Any]:
        """The caller, its org and member record (for `GET /v1/auth/me`)."""
        out: dict[str, Any] = {"principal": principal.model_dump(mode="json")}
        if principal.org_id:
            org = self.repo.get_org(principal.org_id)
            out["org"] = org[0] if org else None
        if principal.org_id and principal.user_id:
            member = self.repo.get_member(principal.org_id, principal.user_id)
            out["member"] = member[0] if member else None
        return out
