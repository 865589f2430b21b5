"""Authentication and authorization: the only module that reads credentials.

Credentials accepted on every request:
* ``Authorization: Bearer <key_id>.<secret>`` (an API key, as printed once at creation), or
* ``X-API-KEY: <key_id>`` with ``X-API-SECRET: <secret>`` (seed 003), or
* ``Authorization: Bearer <JWT>``: an access token from ``POST /v1/auth/login`` (the user pool) or from
  an external OIDC issuer the organization trusts; verified in ``portico.oidc``, on behalf of this module.

The Lambda authorizer turns them into a ``Principal`` whose fields travel to the endpoint in the
authorizer context; endpoints read the principal from there and never from the request body.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

from portico.errors import ForbiddenError, TierRequiredError, UnauthorizedError
from portico.ids import now_iso
from portico.models.common import Role, Tier
from portico.models.identity import Principal, PrincipalKind
from portico.repositories.main import MainRepository
from portico.settings import get_settings

KEY_ID = re.compile(r"^key_[a-f0-9]{24}$")
SECRET = re.compile(r"^pts_[A-Za-z0-9_-]{20,100}$")


def hash_secret(secret: str) -> str:
    """SHA-256 of a high-entropy secret (256 random bits: a slow KDF adds nothing here)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def bearer_token(key_id: str, secret: str) -> str:
    return f"{key_id}.{secret}"


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def _bearer(headers: Mapping[str, str] | None) -> str | None:
    scheme, _, token = (_header(headers, "authorization") or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def credentials(headers: Mapping[str, str] | None) -> tuple[str, str]:
    """Extract ``(key_id, secret)`` from the request headers.

    Raises:
        UnauthorizedError: no credentials, or malformed ones.
    """
    authorization = _header(headers, "authorization")
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise UnauthorizedError("expected 'Authorization: Bearer <token>'")
        key_id, _, secret = token.strip().partition(".")
    else:
        key_id, secret = _header(headers, "x-api-key") or "", _header(headers, "x-api-secret") or ""
    if not key_id and not secret:
        raise UnauthorizedError("missing credentials")
    if not KEY_ID.match(key_id) or not SECRET.match(secret):
        raise UnauthorizedError("malformed credentials")
    return key_id, secret


class _PrincipalCache:
    """Recently established principals, per credential, for ``auth_cache_seconds`` (the role of API
    Gateway's authorizer cache, which cannot be used here: credentials may come in two header forms).

    A revocation made in this process takes effect at once (``forget``); elsewhere within the TTL.
    """

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, Principal, str | None]] = {}
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    def get(self, fingerprint: str, grace: float = 1.0) -> Principal | None:
        """A principal checked within ``auth_cache_seconds`` (times ``grace``), or None."""
        ttl = get_settings().auth_cache_seconds
        with self._lock:
            found = self._items.get(fingerprint)
        if found is None or ttl <= 0 or time.monotonic() - found[0] > ttl * grace:
            return None
        if found[2] is not None and found[2] <= now_iso():
            return None  # the key expired meanwhile
        return found[1]

    def claim_refresh(self, fingerprint: str) -> bool:
        with self._lock:
            if fingerprint in self._refreshing:
                return False  # already being re-checked
            self._refreshing.add(fingerprint)
            return True

    def release_refresh(self, fingerprint: str) -> None:
        with self._lock:
            self._refreshing.discard(fingerprint)

    def drop(self, fingerprint: str) -> None:
        with self._lock:
            self._items.pop(fingerprint, None)

    def put(self, fingerprint: str, principal: Principal, expires_at: str | None) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[fingerprint] = (time.monotonic(), principal, expires_at)

    def forget(self, *, key_id: str | None = None, user_id: str | None = None, org_id: str | None = None) -> None:
        with self._lock:
            for fingerprint, (_, principal, _) in list(self._items.items()):
                if (
                    (key_id is None and user_id is None and org_id is None)
                    or principal.key_id == key_id
                    or (user_id is not None and principal.user_id == user_id)
                    or (org_id is not None and principal.org_id == org_id)
                ):
                    self._items.pop(fingerprint)


principals = _PrincipalCache()


def bearer_jwt(headers: Mapping[str, str] | None) -> str | None:
    """The bearer token of a request if it is a JWT (a member's login or an external identity)."""
    from portico.oidc import looks_like_jwt

    scheme, _, token = (_header(headers, "authorization") or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and looks_like_jwt(token) else None


def is_login_token(token: str) -> bool:
    """Whether a (verified) JWT was issued by Portico's own user pool."""
    from portico.oidc import unverified_claims

    issuer = get_settings().user_pool_issuer
    return issuer is not None and unverified_claims(token).get("iss") == issuer


def _authenticate_jwt(token: str, headers: Mapping[str, str] | None, repo: MainRepository) -> Principal:
    """A JWT's principal, cached per token (and org hint) for ``auth_cache_seconds``, never past its ``exp``."""
    from datetime import UTC, datetime

    from portico import oidc
    from portico.ids import iso

    org_hint = (_header(headers, "x-portico-org") or "").strip() or None
    fingerprint = hashlib.sha256(f"jwt|{org_hint}|{token}".encode()).hexdigest()
    cached = principals.get(fingerprint)
    if cached is not None:
        return cached
    verified = oidc.principal_for(token, repo, org_hint)
    principals.put(fingerprint, verified.principal, iso(datetime.fromtimestamp(verified.expires_at, UTC)))
    return verified.principal


def authenticate(headers: Mapping[str, str] | None, repo: MainRepository) -> Principal:
    """Resolve the caller of a request (briefly cached per credential in a warm process).

    Raises:
        UnauthorizedError: missing, malformed, unknown, wrong, expired or orphaned credentials.
    """
    jwt_token = bearer_jwt(headers)
    if jwt_token is not None:
        return _authenticate_jwt(jwt_token, headers, repo)
    token = _bearer(headers)
    if token is not None and token.startswith("mcp_conn_"):
        from portico.hosting import tokens  # connect tokens: checked afresh on every use, never cached

        return tokens.authenticate(token, repo)
    key_id, secret = credentials(headers)
    fingerprint = hashlib.sha256(f"{key_id}.{secret}".encode()).hexdigest()
    cached = principals.get(fingerprint)
    if cached is not None:
        return cached
    recent = principals.get(fingerprint, grace=2.0)
    if recent is not None:
        # Checked a moment ago: answer now, re-check once in the background (a revocation made in
        # another process lands within 2 TTLs; one made in this process, at once).
        if principals.claim_refresh(fingerprint):
            threading.Thread(target=_recheck, args=(fingerprint, key_id, secret, repo), daemon=True).start()
        return recent
    principal, expires_at = _authenticate(key_id, secret, repo)
    principals.put(fingerprint, principal, expires_at)
    return principal


def _recheck(fingerprint: str, key_id: str, secret: str, repo: MainRepository) -> None:
    try:
        principal, expires_at = _authenticate(key_id, secret, repo)
        principals.put(fingerprint, principal, expires_at)
    except UnauthorizedError:
        principals.drop(fingerprint)
    finally:
        principals.release_refresh(fingerprint)


def _authenticate(key_id: str, secret: str, repo: MainRepository) -> tuple[Principal, str | None]:
    found = repo.get_key(key_id)
    if found is None:
        raise UnauthorizedError("unknown API key")
    key, secret_hash = found
    if not hmac.compare_digest(secret_hash, hash_secret(secret)):
        raise UnauthorizedError("invalid API key secret")
    if key.get("expires_at") and key["expires_at"] <= now_iso():
        raise UnauthorizedError("API key expired")
    if key.get("kind") == PrincipalKind.OPERATOR:
        return Principal(kind=PrincipalKind.OPERATOR, principal_id=key_id, key_id=key_id), key.get("expires_at")
    org = repo.get_org(key["org_id"])
    if org is None:
        raise UnauthorizedError("API key belongs to no organization")
    role = Role(key["role"])
    if key.get("user_id"):
        member = repo.get_member(key["org_id"], key["user_id"])
        if member is None:
            raise UnauthorizedError("API key owner is no longer a member")
        # A key never carries more than its owner's current role.
        owner_role = Role(member[0]["role"])
        role = role if role.rank <= owner_role.rank else owner_role
    principal = Principal(
        kind=PrincipalKind.API_KEY,
        principal_id=key.get("user_id") or key_id,
        org_id=key["org_id"],
        user_id=key.get("user_id"),
        role=role,
        tier=Tier(org[0]["tier"]),
        key_id=key_id,
    )
    return principal, key.get("expires_at")


# ---------------------------------------------------------------- authorizer context round trip
def to_context(principal: Principal) -> dict[str, str]:
    """Flatten a principal into an API Gateway authorizer context (string values only)."""
    return {k: str(v) for k, v in principal.model_dump(mode="json").items() if v is not None}


def from_context(context: Mapping[str, Any] | None) -> Principal:
    """Rebuild the principal the authorizer established.

    Raises:
        UnauthorizedError: the request did not pass the authorizer.
    """
    if not context or "kind" not in context:
        raise UnauthorizedError("request was not authorized")
    fields = {k: v for k, v in context.items() if k in Principal.model_fields and v not in ("", None)}
    return Principal.model_validate(fields)


def policy(principal: Principal, method_arn: str) -> dict[str, Any]:
    """An Allow policy for the whole API stage (authorizer caching is off, so scope by stage)."""
    parts = method_arn.split(":")
    api_stage = "/".join(parts[5].split("/")[:2]) if len(parts) > 5 else "*/*"
    resource = ":".join([*parts[:5], f"{api_stage}/*"]) if len(parts) > 5 else "*"
    return {
        "principalId": principal.principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}],
        },
        "context": to_context(principal),
    }


# ---------------------------------------------------------------- checks used by services
def require_member(principal: Principal, role: Role = Role.VIEWER) -> str:
    """Require an organization principal with at least ``role``; return its org id.

    Raises:
        ForbiddenError: an operator, or a role below ``role``.
    """
    if principal.org_id is None or principal.role is None:
        raise ForbiddenError("this endpoint needs an organization member")
    if principal.role.rank < role.rank:
        raise ForbiddenError(f"requires role {role.value}", required_role=role.value, role=principal.role.value)
    return principal.org_id


def require_tier(principal: Principal, tier: Tier) -> None:
    """Raises:
    TierRequiredError: the organization's tier is below ``tier``.
    """
    if principal.tier is None or principal.tier.rank < tier.rank:
        raise TierRequiredError(f"requires the {tier.value} tier", required_tier=tier.value)


def require_operator(principal: Principal) -> None:
    """Raises:
    ForbiddenError: the caller is not a platform operator.
    """
    if principal.kind is not PrincipalKind.OPERATOR:
        raise ForbiddenError("platform operators only")


class Unauthorized(Exception):
    def __init__(self) -> None:
        super().__init__("Unauthorized")


def authorize_request(event: Mapping[str, Any], repo: MainRepository) -> dict[str, Any]:
    """The REQUEST authorizer: an Allow policy carrying the principal, or ``Unauthorized`` (401).

    Raises:
        Unauthorized: the request's credentials do not establish a principal.
    """
    try:
        principal = authenticate(event.get("headers"), repo)
    except UnauthorizedError as exc:
        from portico.observability import logger

        logger.info("authorization refused", reason=exc.message)
        raise Unauthorized() from exc
    if principal.kind is PrincipalKind.CONNECT_TOKEN:
        from portico.hosting import tokens

        if not tokens.allowed_path(principal, str(event.get("path", ""))):
            return deny(principal, str(event.get("methodArn", "")))
    return policy(principal, str(event.get("methodArn", "")))


def deny(principal: Principal, method_arn: str) -> dict[str, Any]:
    """A Deny policy (API Gateway answers 403): the credentials are valid but not for this route."""
    return {
        "principalId": principal.principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": method_arn or "*"}],
        },
    }
