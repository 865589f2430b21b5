"""A hosted server's environment: plain values pass through, ``{{ secrets.NAME }}`` references resolve.

References are the org's secrets (``portico.services.secrets``), resolved when the server is provisioned
or started, the same way a remote server's headers are resolved at call time. Values are never logged.
"""

from __future__ import annotations

from portico.errors import UpstreamError, ValidationError
from portico.gateway.credentials import resolve


def lookup_secret(org_id: str, name: str, field: str) -> str:
    """The value of an org secret.

    Raises:
        ValidationError: the secret does not exist (the field and the secret are named).
    """
    from portico.wiring import secrets

    try:
        return secrets().resolver.value(org_id, name)
    except UpstreamError:
        raise ValidationError(f"{field}: secret {name} does not exist", field=field, secret=name) from None


def resolve_env(org_id: str, env: dict[str, str]) -> dict[str, str]:
    """Resolve every reference in ``env``.

    Raises:
        ValidationError: a reference cannot be resolved (the field is named).
    """
    out = {}
    for key, value in env.items():

        def lookup(name: str, field: str = f"env.{key}") -> str:
            return lookup_secret(org_id, name, field)

        out[key] = resolve(value, lookup)
    return out
