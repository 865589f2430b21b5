"""Loading an organization's record for a caller: the role check and the other-org 404 in one place."""

from __future__ import annotations

from typing import Any

from portico import auth
from portico.errors import NotFoundError
from portico.models.common import Role
from portico.models.identity import Principal
from portico.repositories.main import MainRepository


def owned(
    repo: MainRepository, principal: Principal, kind: str, resource_id: str, role: Role = Role.VIEWER
) -> tuple[dict[str, Any], int]:
    """The caller's org's ``kind`` record (and its version), if the caller has at least ``role``.

    Raises:
        ForbiddenError: the caller's role is below ``role`` (or it is no org member).
        NotFoundError: no such record in the caller's organization (another org's id included).
    """
    org_id = auth.require_member(principal, role)
    found = repo.get_owned(kind, org_id, resource_id)
    if found is None:
        raise NotFoundError(kind, resource_id)
    return found
