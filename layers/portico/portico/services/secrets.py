"""Org secrets: write, list (names and timestamps only), delete; and resolving references at call time."""

from __future__ import annotations

import builtins
import re
import threading
import time
from collections import OrderedDict
from typing import Any

from portico import auth
from portico.errors import ConflictError, NotFoundError, UpstreamError, ValidationError
from portico.gateway.credentials import references
from portico.ids import now_iso
from portico.models.common import ListQuery, Role
from portico.models.identity import Principal
from portico.models.secrets import SECRET_NAME_PATTERN, SecretInfo, SecretList, SecretPut, SecretWritten
from portico.repositories.main import MainRepository
from portico.repositories.secrets import SecretIndex, SecretValues


class SecretResolver:
    """Secret values for call time, cached in the warm process: by (org, name, version), bounded.

    Which version is current is re-read from the index at most every ``ttl`` seconds, so a new value
    (or a deletion) is seen within ``ttl``; a value once fetched for a version is reused until evicted.
    """

    def __init__(self, index: SecretIndex, values: SecretValues, ttl: float = 5.0, max_size: int = 512) -> None:
        self.index = index
        self.values = values
        self.ttl = ttl
        self.max_size = max_size
        self._current: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._values: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def value(self, org_id: str, name: str, server: str | None = None) -> str:
        """The current value of ``name`` in ``org_id``.

        Raises:
            UpstreamError: the secret does not exist (any more); the message names it, never a value.
        """
        now = time.monotonic()
        with self._lock:
            seen = self._current.get((org_id, name))
        if seen is None or now - seen[0] >= self.ttl:
            info = self.index.get(org_id, name)
            seen = (now, (info.get("version_id") or "") if info else None)
            with self._lock:
                self._current[(org_id, name)] = seen
                while len(self._current) > 4 * self.max_size:
                    self._current.pop(next(iter(self._current)))
        version = seen[1]
        if version is None:
            raise self._missing(name, server)
        key = (org_id, name, version)
        with self._lock:
            cached = self._values.get(key)
            if cached is not None:
                self._values.move_to_end(key)
                return cached
        fetched = self.values.get(org_id, name, version or None)
        if fetched is None:
            raise self._missing(name, server)
        with self._lock:
            self._values[key] = fetched
            while len(self._values) > self.max_size:
                self._values.popitem(last=False)
        return fetched

    def known_values(self, org_id: str) -> list[str]:
        """Values of ``org_id`` held in this process (to scrub them from anything recorded)."""
        with self._lock:
            return [v for (org, _, _), v in self._values.items() if org == org_id]

    def forget(self, org_id: str, name: str) -> None:
        with self._lock:
            self._current.pop((org_id, name), None)
            for key in [k for k in self._values if k[0] == org_id and k[1] == name]:
                self._values.pop(key)

    @staticmethod
    def _missing(name: str, server: str | None) -> UpstreamError:
        where = f"server {server} references" if server else "reference to"
        return UpstreamError(f"{where} secret {name}, which does not exist", secret=name)


class SecretService:
    def __init__(self, repo: MainRepository, values: SecretValues, resolver: SecretResolver) -> None:
        self.repo = repo
        self.index = SecretIndex(repo)
        self.values = values
        self.resolver = resolver

    def put(self, principal: Principal, name: str, body: SecretPut) -> tuple[SecretWritten, bool]:
        """Create the secret or store a new version of it; returns the info and whether it was created.

        Raises:
            ValidationError: a name that is not ``[A-Za-z_][A-Za-z0-9_-]*`` (at most 128 characters).
        """
        org_id = auth.require_member(principal, Role.ADMIN)
        if not re.fullmatch(SECRET_NAME_PATTERN, name):
            raise ValidationError(
                "name: a secret name is a letter or _, then letters, digits, _ or - (at most 128)", field="name"
            )
        existing = self.index.get(org_id, name)
        version_id = self.values.put(org_id, name, body.value)
        stamp = now_iso()
        info = {
            "name": name,
            "org_id": org_id,
            "version_id": version_id,
            "created_at": existing["created_at"] if existing else stamp,
            "updated_at": stamp,
        }
        self.index.put(info)
        self.resolver.forget(org_id, name)
        created = existing is None
        return SecretWritten(name=name, created_at=info["created_at"], updated_at=stamp, created=created), created

    def list(self, principal: Principal, query: ListQuery) -> SecretList:
        org_id = auth.require_member(principal)
        items, total = self.index.page(org_id, query)
        return SecretList(
            secrets=[SecretInfo.model_validate(i) for i in items], total=total, limit=query.limit, offset=query.offset
        )

    def delete(self, principal: Principal, name: str) -> None:
        """Raises:
        NotFoundError: no such secret.  ConflictError: servers still reference it (named in details).
        """
        org_id = auth.require_member(principal, Role.ADMIN)
        if self.index.get(org_id, name) is None:
            raise NotFoundError("secret", name)
        users = sorted(s["name"] for s in self.repo.org_servers(org_id) if any(ref == name for _, ref in references(s)))
        if users:
            raise ConflictError(f"secret {name} is referenced by servers: {', '.join(users)}", servers=users)
        self.values.delete(org_id, name)
        self.index.delete(org_id, name)
        self.resolver.forget(org_id, name)

    def missing(self, org_id: str, server: dict[str, Any]) -> builtins.list[tuple[str, str]]:
        """The (field, secret name) references of ``server`` that name no existing secret."""
        refs = references(server)
        if not refs:
            return []
        known = self.index.names(org_id)
        return [(where, name) for where, name in refs if name not in known]
