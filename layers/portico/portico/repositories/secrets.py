"""Org secrets: values in Secrets Manager, and one index record per secret in the main table.

| record | pk | sk | gsi1pk / gsi1sk |
|---|---|---|---|
| secret index | ORG#<org> | SECRET#<name> | ORG#<org>#SECRET / <created>#<name> |

The index holds the name, timestamps and the current Secrets Manager version id (never the value),
so listing is a DynamoDB Query and a warm resolver can tell a rotated value by its version.
Secrets Manager names are ``portico/<stage>/<org>/<NAME>``, tagged with the org and stage.
"""

from __future__ import annotations

import contextlib
from functools import cache
from typing import Any

from portico.errors import ConflictError, NotFoundError
from portico.models.common import ListQuery
from portico.repositories.aws import client
from portico.repositories.dynamo import Expr, Table
from portico.repositories.main import MainRepository, doc, org_record
from portico.settings import get_settings


class SecretValues:
    """Port over Secrets Manager."""

    def __init__(self, stage: str) -> None:
        self.stage = stage

    def secret_id(self, org_id: str, name: str) -> str:
        return f"portico/{self.stage}/{org_id}/{name}"

    def put(self, org_id: str, name: str, value: str) -> str:
        """Create the secret or add a new current version; returns the version id."""
        sm = client("secretsmanager")
        secret_id = self.secret_id(org_id, name)
        tags = [{"Key": "portico:org", "Value": org_id}, {"Key": "portico:stage", "Value": self.stage}]
        try:
            return str(sm.create_secret(Name=secret_id, SecretString=value, Tags=tags)["VersionId"])
        except sm.exceptions.ResourceExistsException:
            return str(sm.put_secret_value(SecretId=secret_id, SecretString=value)["VersionId"])
        except sm.exceptions.InvalidRequestException:
            # Scheduled for deletion (a recent DELETE that AWS has not finished): bring it back.
            sm.restore_secret(SecretId=secret_id)
            sm.tag_resource(SecretId=secret_id, Tags=tags)
            return str(sm.put_secret_value(SecretId=secret_id, SecretString=value)["VersionId"])

    def get(self, org_id: str, name: str, version_id: str | None) -> str | None:
        sm = client("secretsmanager")
        kwargs: dict[str, Any] = {"SecretId": self.secret_id(org_id, name)}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            return str(sm.get_secret_value(**kwargs)["SecretString"])
        except sm.exceptions.ResourceNotFoundException:
            return None

    def delete(self, org_id: str, name: str) -> None:
        sm = client("secretsmanager")
        with contextlib.suppress(sm.exceptions.ResourceNotFoundException):
            sm.delete_secret(SecretId=self.secret_id(org_id, name), ForceDeleteWithoutRecovery=True)


class SecretIndex:
    """The index records of an org's secrets in the main table."""

    def __init__(self, repo: MainRepository) -> None:
        self.repo = repo
        self.table: Table = repo.table

    @staticmethod
    def record(info: dict[str, Any]) -> dict[str, Any]:
        return org_record("secret", {**info, "id": info["name"]}, status="active")

    def get(self, org_id: str, name: str) -> dict[str, Any] | None:
        found = self.repo.get_doc(f"ORG#{org_id}", f"SECRET#{name}")
        return found[0] if found else None

    def put(self, info: dict[str, Any]) -> None:
        self.table.put(self.record(info))

    def delete(self, org_id: str, name: str) -> None:
        """Raises: NotFoundError: no such secret."""
        try:
            self.table.delete(f"ORG#{org_id}", f"SECRET#{name}", Expr("attribute_exists(pk)"))
        except ConflictError as exc:
            raise NotFoundError("secret", name) from exc

    def page(self, org_id: str, query: ListQuery) -> tuple[list[dict[str, Any]], int]:
        return self.repo.page(f"ORG#{org_id}#SECRET", query)

    def names(self, org_id: str) -> set[str]:
        items = self.table.query("gsi1pk", f"ORG#{org_id}#SECRET", index="gsi1")
        return {doc(i)["name"] for i in items}


@cache
def secret_values() -> SecretValues:
    return SecretValues(get_settings().stage)
