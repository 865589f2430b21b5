"""Connect tokens (seed 000 ``POST /v1/mcp/servers/{id}/connect``): one hour, one user, one server.

``mcp_conn_<payload>.<signature>``: the payload (base64url JSON: org, subject, server, expiry) is signed
with HMAC-SHA256 under a key kept in Secrets Manager. The signature proves Portico issued the token;
the caller's membership, role and the server are checked again on every use, so a removed member's
token stops working at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any

from portico.errors import UnauthorizedError
from portico.ids import now_iso
from portico.models.common import Role, Tier
from portico.models.identity import Principal, PrincipalKind
from portico.repositories.main import MainRepository
from portico.settings import get_settings

PREFIX = "mcp_conn_"
LIFETIME = 3600
_key: tuple[str, bytes] | None = None
_key_lock = threading.Lock()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_key() -> bytes:
    """The HMAC key (read once per warm process from Secrets Manager).

    Raises:
        ConfigurationError: no connect-token secret is configured.
    """
    global _key
    secret_id = get_settings().require("connect_token_secret")
    with _key_lock:
        if _key is None or _key[0] != secret_id:
            from portico.repositories.aws import client

            value = client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
            _key = (secret_id, hashlib.sha256(value.encode()).digest())
        return _key[1]


def issue(principal: Principal, server_id: str, lifetime: int = LIFETIME, now: float | None = None) -> str:
    """A token for ``principal`` (a member's user, or an org key without one) and one server."""
    payload = {
        "v": 1,
        "org": principal.org_id,
        "usr": principal.user_id,
        "key": None if principal.user_id else principal.key_id,
        "srv": server_id,
        "exp": int((now or time.time()) + lifetime),
        "jti": secrets.token_hex(8),
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    signature = _b64(hmac.new(signing_key(), body.encode(), hashlib.sha256).digest())
    return f"{PREFIX}{body}.{signature}"


def looks_like(token: str) -> bool:
    return token.startswith(PREFIX)


def _claims(token: str) -> dict[str, Any]:
    body, _, signature = token[len(PREFIX) :].partition(".")
    if not body or not signature or len(token) > 2048:
        raise UnauthorizedError("malformed connect token")
    expected = _b64(hmac.new(signing_key(), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        raise UnauthorizedError("invalid connect token")
    try:
        claims = json.loads(_unb64(body))
    except ValueError as exc:
        raise UnauthorizedError("malformed connect token") from exc
    if not isinstance(claims, dict) or claims.get("v") != 1:
        raise UnauthorizedError("malformed connect token")
    if int(claims.get("exp", 0)) <= time.time():
        raise UnauthorizedError("connect token expired")
    return claims


def authenticate(token: str, repo: MainRepository) -> Principal:
    """The principal of a connect token, with the subject's CURRENT role (RBAC on every use).

    Raises:
        UnauthorizedError: forged, expired, or its user/key, organization or server is gone.
    """
    claims = _claims(token)
    org_id, server_id = str(claims.get("org")), str(claims.get("srv"))
    org = repo.get_org(org_id)
    if org is None:
        raise UnauthorizedError("connect token's organization is gone")
    if claims.get("usr"):
        member = repo.get_member(org_id, str(claims["usr"]))
        if member is None:
            raise UnauthorizedError("connect token's user is no longer a member")
        role, subject, user_id = Role(member[0]["role"]), str(claims["usr"]), str(claims["usr"])
    else:
        key = repo.get_key(str(claims.get("key")))
        if key is None or key[0].get("org_id") != org_id:
            raise UnauthorizedError("connect token's API key is gone")
        if key[0].get("expires_at") and key[0]["expires_at"] <= now_iso():
            raise UnauthorizedError("connect token's API key expired")
        role, subject, user_id = Role(key[0]["role"]), str(claims["key"]), None
    if repo.get_server(org_id, server_id) is None:
        raise UnauthorizedError("connect token's server is gone")
    return Principal(
        kind=PrincipalKind.CONNECT_TOKEN,
        principal_id=subject,
        org_id=org_id,
        user_id=user_id,
        role=role,
        tier=Tier(org[0]["tier"]),
        scope_server_id=server_id,
    )


def allowed_path(principal: Principal, path: str) -> bool:
    """A connect token opens its server's MCP endpoint and nothing else."""
    if principal.kind is not PrincipalKind.CONNECT_TOKEN:
        return True
    return path.rstrip("/").endswith(f"/mcp/servers/{principal.scope_server_id}")
