"""A hosted server's environment: plain values pass through, ``{{ secrets.NAME }}`` references resolve.

The single seam between hosting and org secrets: ``lookup_secret`` is replaced by the secrets
service's resolver when it lands; until then a reference is refused with a clear 400.
"""

from __future__ import annotations

from portico.errors import ValidationError
from portico.models.hosting import SECRET_REFERENCE


def lookup_secret(org_id: str, name: str, field: str) -> str:
    """The value of an org secret.

    Raises:
        ValidationError: secrets are not available yet (or the secret does not exist).
    """
    raise ValidationError(f"secrets are not available: {field} refers to secret {name!r}", field=field, secret=name)


def resolve_env(org_id: str, env: dict[str, str]) -> dict[str, str]:
    """Resolve every reference in ``env`` (values are never logged).

    Raises:
        ValidationError: a reference cannot be resolved (the field is named).
    """
    out = {}
    for key, value in env.items():
        found = SECRET_REFERENCE.match(value)
        out[key] = lookup_secret(org_id, found.group(1), f"env.{key}") if found else value
    return out
