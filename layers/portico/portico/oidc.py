"""JWT principals: members' own logins (the Cognito user pool) and organizations' external OIDC issuers.

``portico.auth`` is the only caller: it hands over a bearer token that looks like a JWT and gets back a
``Principal`` (or ``UnauthorizedError``). The rules, for every token:

* the algorithm is fixed: RS256 or ES256, matching the signing key's type (never ``none``, never HS*:
  an HMAC "signed" with a public key is refused before any key is looked at);
* the signing key comes from the issuer's JWKS, fetched from configuration (never from the token),
  cached, and refetched on an unknown key id at most once per ``jwks_refetch_seconds``;
* issuer pinned, audience (or, for Cognito access tokens, ``client_id`` and ``token_use``) pinned,
  ``exp`` required with a small leeway;
* the token names a member, whose current role and org tier make the principal (checked again once the
  principal cache entry lapses, so a removed member's token stops working within that TTL).

Cognito tokens map to a member through the pool ``sub`` stored on the member record. External tokens
(Google, Entra ID, another Cognito pool…) are accepted for an organization only if its admins configured
that issuer and audience (``PUT /v1/org/identity-providers``), and only for a member of that organization
whose e-mail equals the token's verified e-mail claim. Every organization that configured the token's
issuer is tried with its own key source: one organization's configuration never vouches for another's.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from jwt import PyJWK, PyJWKSet

from portico.errors import PorticoError, UnauthorizedError
from portico.models.common import Role, Tier
from portico.models.identity import Principal, PrincipalKind
from portico.repositories.main import MainRepository
from portico.settings import get_settings

ALGORITHMS = ("RS256", "ES256")
KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}
LEEWAY_SECONDS = 30
MAX_DOCUMENT_BYTES = 256 * 1024
FETCH_TIMEOUT_SECONDS = 5.0


def looks_like_jwt(token: str) -> bool:
    """Three base64url segments with a JSON header (API keys and connect tokens never look like this)."""
    parts = token.split(".")
    return len(parts) == 3 and token.startswith("eyJ") and all(parts[:2])


# ---------------------------------------------------------------- key sources
class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Key documents are fetched from the configured URL only: a redirect could lead past the SSRF check."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _fetch_json(url: str) -> dict[str, Any]:
    """GET a small JSON document from an issuer (bounded in time and size, SSRF-checked).

    Raises:
        UnauthorizedError: unreachable, refused, too large or not a JSON object.
    """
    from portico.gateway.downstream import check_destination

    settings = get_settings()
    if not url.startswith("https://") and not (settings.allow_private_targets and url.startswith("http://")):
        raise UnauthorizedError("issuer key location must be https")
    try:
        check_destination(url)
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        with _OPENER.open(request, timeout=FETCH_TIMEOUT_SECONDS) as response:
            body = response.read(MAX_DOCUMENT_BYTES + 1)
        if len(body) > MAX_DOCUMENT_BYTES:
            raise ValueError("document too large")
        document = json.loads(body)
    except (OSError, ValueError, PorticoError) as exc:  # URLError and timeouts are OSErrors
        from portico.observability import logger

        logger.warning("issuer document unavailable", url=url, error=type(exc).__name__)
        raise UnauthorizedError("the token issuer's keys are unavailable") from exc
    if not isinstance(document, dict):
        raise UnauthorizedError("the token issuer's keys are unavailable")
    return document


class KeyCache:
    """Signing keys per JWKS URL and discovered JWKS URLs per issuer, shared by a warm process."""

    def __init__(self) -> None:
        self._sets: dict[str, tuple[float, dict[str, PyJWK]]] = {}
        self._discovered: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def key(self, jwks_url: str, kid: str | None) -> PyJWK:
        """The key ``kid`` of the set at ``jwks_url``.

        Raises:
            UnauthorizedError: no such key (after at most one bounded refetch), or the set is unavailable.
        """
        settings = get_settings()
        now = time.monotonic()
        with self._lock:
            entry = self._sets.get(jwks_url)
        stale = entry is None or now - entry[0] >= settings.jwks_cache_seconds
        unknown = entry is not None and (kid is None or kid not in entry[1])
        if stale or (unknown and entry is not None and now - entry[0] >= settings.jwks_refetch_seconds):
            try:
                entry = (now, self._load(jwks_url))
            except UnauthorizedError:
                if entry is None:
                    raise
                # The issuer is unreachable: keep verifying with the keys it last published.
                entry = (now - settings.jwks_cache_seconds + settings.jwks_refetch_seconds, entry[1])
            with self._lock:
                if len(self._sets) > 1000:
                    self._sets.clear()
                self._sets[jwks_url] = entry
        assert entry is not None
        keys = entry[1]
        if kid is None:
            if len(keys) == 1:
                return next(iter(keys.values()))
            raise UnauthorizedError("token names no signing key")
        found = keys.get(kid)
        if found is None:
            raise UnauthorizedError("token signing key is unknown or revoked")
        return found

    def jwks_url(self, issuer: str) -> str:
        """The ``jwks_uri`` an issuer publishes in its discovery document (which must name that issuer).

        Raises:
            UnauthorizedError: no usable discovery document.
        """
        now = time.monotonic()
        with self._lock:
            entry = self._discovered.get(issuer)
        if entry is not None and now - entry[0] < get_settings().jwks_cache_seconds:
            return entry[1]
        try:
            document = _fetch_json(f"{issuer.rstrip('/')}/.well-known/openid-configuration")
        except UnauthorizedError:
            if entry is None:
                raise
            return entry[1]  # the issuer is unreachable: keep the location it last published
        uri = document.get("jwks_uri")
        if document.get("issuer") != issuer or not isinstance(uri, str):
            raise UnauthorizedError("the issuer's discovery document does not match it")
        with self._lock:
            self._discovered[issuer] = (now, uri)
        return uri

    def forget(self) -> None:
        with self._lock:
            self._sets.clear()
            self._discovered.clear()

    @staticmethod
    def _load(jwks_url: str) -> dict[str, PyJWK]:
        document = _fetch_json(jwks_url)
        keys: dict[str, PyJWK] = {}
        for raw in document.get("keys") or []:
            if not isinstance(raw, dict) or raw.get("use", "sig") != "sig" or raw.get("kty") not in ("RSA", "EC"):
                continue  # encryption keys and symmetric keys never verify a signature here
            try:
                keys[str(raw.get("kid", ""))] = PyJWKSet.from_dict({"keys": [raw]}).keys[0]
            except jwt.PyJWKError:
                continue
        return keys


keys = KeyCache()


# ---------------------------------------------------------------- verification
def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a token, read without trusting them (only to pick which configuration to verify with).

    Raises:
        UnauthorizedError: not a decodable JWT.
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise UnauthorizedError("malformed token") from exc
    return dict(claims)


def verify(token: str, *, jwks_url: str, issuer: str, audience: str | None) -> dict[str, Any]:
    """Verify signature, algorithm, issuer, audience (when given) and lifetime; return the claims.

    Raises:
        UnauthorizedError: any check failed.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise UnauthorizedError("malformed token") from exc
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise UnauthorizedError("token algorithm is not accepted")
    kid = header.get("kid")
    key = keys.key(jwks_url, kid if isinstance(kid, str) else None)
    # The key's own algorithm (declared, or implied by its type and curve) must be the token's.
    if key.algorithm_name != algorithm or key.key_type != KEY_TYPES[algorithm]:
        raise UnauthorizedError("token algorithm does not match its key")
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[algorithm],
            issuer=issuer,
            audience=audience,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "sub"], "verify_aud": audience is not None},
        )
    except jwt.ExpiredSignatureError as exc:
        raise UnauthorizedError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise UnauthorizedError(f"token refused: {type(exc).__name__}") from exc
    return dict(claims)


@dataclass(frozen=True)
class Verified:
    principal: Principal
    expires_at: int  # the token's exp (epoch seconds): no cache keeps the principal beyond it


def principal_for(token: str, repo: MainRepository, org_hint: str | None = None) -> Verified:
    """The principal a JWT establishes: a member of exactly one organization.

    ``org_hint`` (the ``X-Portico-Org`` header) picks the organization when one external identity is a
    member of several organizations that trust the same issuer.

    Raises:
        UnauthorizedError: the token does not verify, or names no (single) current member.
    """
    claims = unverified_claims(token)
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise UnauthorizedError("token names no issuer")
    settings = get_settings()
    if settings.user_pool_issuer and issuer == settings.user_pool_issuer:
        return _pool_principal(token, repo)
    return _external_principal(token, claims, repo, org_hint)


def _pool_principal(token: str, repo: MainRepository) -> Verified:
    settings = get_settings()
    assert settings.user_pool_issuer is not None and settings.user_pool_jwks is not None
    claims = verify(token, jwks_url=settings.user_pool_jwks, issuer=settings.user_pool_issuer, audience=None)
    # Access tokens carry the app client in `client_id` (no `aud`); ID tokens are not API credentials.
    if claims.get("token_use") != "access" or claims.get("client_id") != settings.user_pool_client_id:
        raise UnauthorizedError("token is not an access token of this API")
    member = repo.member_by_login(str(claims["sub"]))
    if member is None:
        raise UnauthorizedError("token owner is not a member")
    return Verified(_member_principal(member, repo), int(claims["exp"]))


def _external_principal(token: str, claims: Mapping[str, Any], repo: MainRepository, org_hint: str | None) -> Verified:
    issuer = str(claims["iss"])
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise UnauthorizedError("token names no audience")
    # Candidates by the (unverified) issuer and audience; each is then verified with its own key source.
    trusting = [t for audience in dict.fromkeys(audiences) for t in repo.orgs_trusting(issuer, audience)]
    if org_hint is not None:
        trusting = [(org_id, p) for org_id, p in trusting if org_id == org_hint]
    if not trusting:
        raise UnauthorizedError("token issuer and audience are not trusted")
    found: list[tuple[dict[str, Any], int]] = []
    refusal: UnauthorizedError | None = None
    for org_id, provider in trusting:
        try:
            jwks_url = provider.get("jwks_uri") or keys.jwks_url(issuer)
            verified = verify(token, jwks_url=jwks_url, issuer=issuer, audience=provider["audience"])
            email = _verified_email(verified, provider.get("email_claim") or "email")
        except UnauthorizedError as exc:
            refusal = exc
            continue
        member = repo.member_by_email(org_id, email)
        if member is not None and member["id"] not in {m["id"] for m, _ in found}:
            found.append((member, int(verified["exp"])))
    if len(found) > 1:
        raise UnauthorizedError("token matches members of several organizations: send X-Portico-Org")
    if not found:
        raise refusal or UnauthorizedError("token owner is not a member")
    member, expires = found[0]
    return Verified(_member_principal(member, repo), expires)


def _verified_email(claims: Mapping[str, Any], claim: str) -> str:
    email = claims.get(claim)
    if not isinstance(email, str) or "@" not in email:
        raise UnauthorizedError(f"token has no {claim} claim")
    if claims.get("email_verified") in (False, "false"):
        raise UnauthorizedError("token e-mail is not verified")
    return email.strip().lower()


def _member_principal(member: Mapping[str, Any], repo: MainRepository) -> Principal:
    org = repo.get_org(member["org_id"])
    if org is None:
        raise UnauthorizedError("token owner belongs to no organization")
    return Principal(
        kind=PrincipalKind.USER,
        principal_id=member["id"],
        org_id=member["org_id"],
        user_id=member["id"],
        role=Role(member["role"]),
        tier=Tier(org[0]["tier"]),
    )
