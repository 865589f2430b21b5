"""The main table: organizations, members, API keys, MCP servers and their tools.

Key design (single table):

| record | pk | sk | gsi1pk / gsi1sk | gsi2pk / gsi2sk |
|---|---|---|---|---|
| org | ORG#<org> | ORG | ORGS / <created>#<org> | |
| member | ORG#<org> | MEMBER#<usr> | ORG#<org>#MEMBER / <created>#<usr> | |
| member e-mail guard | ORG#<org> | EMAIL#<email> | | |
| member with a login | (as member) | | | LOGIN#<pool sub> / <usr> |
| trusted OIDC issuer | TRUST#<sha256 of issuer, audience> | ORG#<org> | | |
| API key | KEY#<key> | KEY | ORG#<org>#KEY (or OPERATOR#KEY) / <created>#<key> | USER#<usr> / <key> |
| server | ORG#<org> | SERVER#<mcp> | ORG#<org>#SERVER / <created>#<mcp> | |
| server name guard | ORG#<org> | SERVERNAME#<name> | | |
| tool | ORG#<org> | TOOL#<tool> | ORG#<org>#TOOL / <created>#<tool> | SERVER#<mcp> / <name> |
| org settings | ORG#<org> | SETTINGS | | |
| rate-limit window | RATE#<key>#<interval> | W#<window start> | | |  (gateway/ratelimit.py; TTL)

Every list is a Query on a key or an index; filters narrow within it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from functools import cache
from typing import Any

from portico.errors import ConflictError
from portico.ids import iso
from portico.models.common import ListQuery
from portico.repositories.dynamo import Check, Delete, Expr, Item, Put, Table, Update, dumps
from portico.settings import get_settings


def record(pk: str, sk: str, kind: str, doc: dict[str, Any], *, version: int = 1, **attrs: Any) -> Item:
    """Build an item: keys, the JSON document, and top-level attributes for conditions and filters."""
    item: Item = {"pk": pk, "sk": sk, "type": kind, "doc": dumps(doc), "version": version}
    item.update({k: v for k, v in attrs.items() if v is not None})
    return item


def org_record(kind: str, body: dict[str, Any], version: int = 1, **attrs: Any) -> Item:
    """An organization's named record: keyed under the org, listed newest-first on gsi1, searchable."""
    org_id = body["org_id"]
    return record(
        f"ORG#{org_id}",
        f"{kind.upper()}#{body['id']}",
        kind,
        body,
        version=version,
        gsi1pk=f"ORG#{org_id}#{kind.upper()}",
        gsi1sk=f"{body['created_at']}#{body['id']}",
        search_text=f"{body['name']} {body.get('description') or ''}".lower(),
        tags=body.get("tags") or [],
        created_at=body["created_at"],
        **attrs,
    )


def doc(item: Item) -> dict[str, Any]:
    return dict(json.loads(item["doc"]))


def if_absent() -> Expr:
    return Expr("attribute_not_exists(pk)")


def if_version(version: int) -> Expr:
    return Expr("#version = :version", {"#version": "version"}, {":version": version})


def _list_filter(query: ListQuery, search_attr: str = "search_text") -> Expr:
    expr = Expr("")
    if query.status:
        expr = expr & Expr("#status = :status", {"#status": "status"}, {":status": query.status})
    if query.search:
        expr = expr & Expr("contains(#s, :search)", {"#s": search_attr}, {":search": query.search.lower()})
    for n, tag in enumerate(query.tags):
        expr = expr & Expr(f"contains(#tags, :tag{n})", {"#tags": "tags"}, {f":tag{n}": tag})
    return expr


def _created_range(query: ListQuery) -> Expr | None:
    """Key condition on ``gsi1sk`` (``<created_at>#<id>``): created_after inclusive, created_before exclusive."""
    names = {"#sk": "gsi1sk"}
    after = iso(query.created_after) if query.created_after else None
    before = iso(query.created_before) if query.created_before else None
    if after and before:
        return Expr("#sk BETWEEN :low AND :high", names, {":low": after, ":high": before})
    if after:
        return Expr("#sk >= :low", names, {":low": after})
    if before:
        return Expr("#sk < :high", names, {":high": before})
    return None


class MainRepository:
    """Port over the main table; services depend on this, tests may pass another implementation."""

    def __init__(self, table: Table) -> None:
        self.table = table

    # ------------------------------------------------------------- generic
    def page(self, gsi1pk: str, query: ListQuery) -> tuple[list[dict[str, Any]], int]:
        """One page of a gsi1 list, newest first, with the total number of matches."""
        items = self.table.query(
            "gsi1pk", gsi1pk, index="gsi1", sk=_created_range(query), filter=_list_filter(query), newest_first=True
        )
        matches = [doc(i) for i in items]
        return matches[query.offset : query.offset + query.limit], len(matches)

    _OWNED = {
        "server": ("mcp_", "SERVER#"),
        "tool": ("tool_", "TOOL#"),
        "toolset": ("ts_", "TOOLSET#"),
        "member": ("usr_", "MEMBER#"),
    }

    def get_owned(self, kind: str, org_id: str, resource_id: str) -> tuple[dict[str, Any], int] | None:
        """An org's server/tool/toolset/member by id (None for a malformed id: no read)."""
        prefix, sort_prefix = self._OWNED[kind]
        if not resource_id.startswith(prefix):
            return None
        return self.get_doc(f"ORG#{org_id}", f"{sort_prefix}{resource_id}")

    def count(self, gsi1pk: str) -> int:
        return sum(r["count"] for r in self.table.query("gsi1pk", gsi1pk, index="gsi1", select_count=True))

    def get_doc(self, pk: str, sk: str) -> tuple[dict[str, Any], int] | None:
        item = self.table.get(pk, sk)
        return (doc(item), int(item["version"])) if item else None

    # ------------------------------------------------------------- orgs
    @staticmethod
    def org_record(org: dict[str, Any], version: int = 1) -> Item:
        return record(
            f"ORG#{org['id']}",
            "ORG",
            "org",
            org,
            version=version,
            gsi1pk="ORGS",
            gsi1sk=f"{org['created_at']}#{org['id']}",
            search_text=org["name"].lower(),
            status=org["tier"],
            created_at=org["created_at"],
        )

    @staticmethod
    def member_record(member: dict[str, Any], version: int = 1) -> Item:
        return record(
            f"ORG#{member['org_id']}",
            f"MEMBER#{member['id']}",
            "member",
            member,
            version=version,
            gsi1pk=f"ORG#{member['org_id']}#MEMBER",
            gsi1sk=f"{member['created_at']}#{member['id']}",
            search_text=f"{member['email']} {member.get('name') or ''}".lower(),
            status=member["role"],
            created_at=member["created_at"],
            gsi2pk=f"LOGIN#{member['login_sub']}" if member.get("login_sub") else None,
            gsi2sk=member["id"] if member.get("login_sub") else None,
        )

    @staticmethod
    def email_guard(org_id: str, email: str, member_id: str) -> Item:
        return {"pk": f"ORG#{org_id}", "sk": f"EMAIL#{email}", "type": "guard", "member_id": member_id}

    @staticmethod
    def key_record(key: dict[str, Any], secret_hash: str) -> Item:
        owner = f"ORG#{key['org_id']}#KEY" if key.get("org_id") else "OPERATOR#KEY"
        return record(
            f"KEY#{key['id']}",
            "KEY",
            "api_key",
            key,
            gsi1pk=owner,
            gsi1sk=f"{key['created_at']}#{key['id']}",
            gsi2pk=f"USER#{key['user_id']}" if key.get("user_id") else None,
            gsi2sk=key["id"] if key.get("user_id") else None,
            secret_hash=secret_hash,
            search_text=key["name"].lower(),
            created_at=key["created_at"],
        )

    def create_org(self, org: dict[str, Any], admin: dict[str, Any], key: dict[str, Any], secret_hash: str) -> None:
        self.table.transact(
            [
                Put(self.org_record(org), if_absent()),
                Put(self.member_record(admin), if_absent()),
                Put(self.email_guard(org["id"], admin["email"], admin["id"]), if_absent()),
                Put(self.key_record(key, secret_hash), if_absent()),
            ]
        )

    def put_org(self, org: dict[str, Any], expected_version: int) -> None:
        self.table.put(self.org_record(org, expected_version + 1), if_version(expected_version))

    def get_org(self, org_id: str) -> tuple[dict[str, Any], int] | None:
        return self.get_doc(f"ORG#{org_id}", "ORG")

    def get_org_settings(self, org_id: str) -> tuple[dict[str, Any], int] | None:
        return self.get_doc(f"ORG#{org_id}", "SETTINGS")

    def put_org_settings(self, org_id: str, settings: dict[str, Any], expected_version: int | None) -> None:
        """Write an org's settings if nobody changed them since ``expected_version`` (None: first write)."""
        version = 1 if expected_version is None else expected_version + 1
        item = record(f"ORG#{org_id}", "SETTINGS", "settings", settings, version=version)
        self.table.put(item, if_absent() if expected_version is None else if_version(expected_version))

    # ------------------------------------------------------------- members
    def get_member(self, org_id: str, member_id: str) -> tuple[dict[str, Any], int] | None:
        return self.get_doc(f"ORG#{org_id}", f"MEMBER#{member_id}")

    def add_member(self, member: dict[str, Any]) -> None:
        self.table.transact(
            [
                Check({"pk": f"ORG#{member['org_id']}", "sk": "ORG"}, Expr("attribute_exists(pk)")),
                Put(self.member_record(member), if_absent()),
                Put(self.email_guard(member["org_id"], member["email"], member["id"]), if_absent()),
            ]
        )

    def put_member(self, member: dict[str, Any], expected_version: int) -> None:
        self.table.put(self.member_record(member, expected_version + 1), if_version(expected_version))

    def delete_member(self, member: dict[str, Any], version: int) -> None:
        """Remove a member, its e-mail guard and every API key it owns, all at once."""
        keys = [i for i in self.table.query("gsi2pk", f"USER#{member['id']}", index="gsi2")]
        ops: list[Put | Delete | Update | Check] = [
            Delete({"pk": f"ORG#{member['org_id']}", "sk": f"MEMBER#{member['id']}"}, if_version(version)),
            Delete({"pk": f"ORG#{member['org_id']}", "sk": f"EMAIL#{member['email']}"}),
        ]
        ops += [Delete({"pk": k["pk"], "sk": k["sk"]}) for k in keys]
        self.table.transact(ops[:100])

    def admins(self, org_id: str) -> list[dict[str, Any]]:
        items = self.table.query(
            "gsi1pk",
            f"ORG#{org_id}#MEMBER",
            index="gsi1",
            filter=Expr("#status = :admin", {"#status": "status"}, {":admin": "admin"}),
        )
        return [doc(i) for i in items]

    def member_by_login(self, login_sub: str) -> dict[str, Any] | None:
        """The member whose login (user pool ``sub``) this is."""
        items = list(self.table.query("gsi2pk", f"LOGIN#{login_sub}", index="gsi2"))
        return doc(items[0]) if len(items) == 1 else None

    def member_by_email(self, org_id: str, email: str) -> dict[str, Any] | None:
        guard = self.table.get(f"ORG#{org_id}", f"EMAIL#{email}")
        if guard is None:
            return None
        found = self.get_member(org_id, str(guard["member_id"]))
        return found[0] if found else None

    # ------------------------------------------------------------- trusted identity providers
    @staticmethod
    def trust_key(issuer: str, audience: str) -> str:
        """The index key of one (issuer, audience) pair (hashed: either may hold any character)."""
        return "TRUST#" + hashlib.sha256(json.dumps([issuer, audience]).encode()).hexdigest()

    def orgs_trusting(self, issuer: str, audience: str) -> list[tuple[str, dict[str, Any]]]:
        """Every organization that trusts tokens of ``issuer`` for ``audience``, with its provider entry."""
        items = self.table.query("pk", self.trust_key(issuer, audience))
        return [(str(i["sk"]).removeprefix("ORG#"), doc(i)) for i in items]

    def put_identity_providers(self, org: dict[str, Any], expected_version: int, before: list[dict[str, Any]]) -> None:
        """Replace an org's trusted issuers: the org record and the (issuer, audience) index, all at once.

        ``before`` holds the providers the org trusted until now.
        """
        org_sk = f"ORG#{org['id']}"
        now = {self.trust_key(p["issuer"], p["audience"]): p for p in org.get("identity_providers") or []}
        old = {self.trust_key(p["issuer"], p["audience"]) for p in before}
        ops: list[Put | Delete | Update | Check] = [
            Put(self.org_record(org, expected_version + 1), if_version(expected_version))
        ]
        ops += [Put({"pk": k, "sk": org_sk, "type": "trust", "doc": dumps(p)}) for k, p in now.items()]
        ops += [Delete({"pk": k, "sk": org_sk}) for k in old - set(now)]
        self.table.transact(ops)

    # ------------------------------------------------------------- API keys
    def get_key(self, key_id: str) -> tuple[dict[str, Any], str] | None:
        item = self.table.get(f"KEY#{key_id}", "KEY")
        return (doc(item), str(item["secret_hash"])) if item else None

    def put_key(self, key: dict[str, Any], secret_hash: str) -> None:
        self.table.put(self.key_record(key, secret_hash), if_absent())

    def delete_key(self, key_id: str) -> None:
        self.table.delete(f"KEY#{key_id}", "KEY", Expr("attribute_exists(pk)"))

    def keys_of_user(self, user_id: str) -> list[dict[str, Any]]:
        return [doc(i) for i in self.table.query("gsi2pk", f"USER#{user_id}", index="gsi2")]

    # ------------------------------------------------------------- servers
    @staticmethod
    def server_record(server: dict[str, Any], version: int = 1) -> Item:
        return org_record("server", server, version, status=server["status"], source_type=server["source_type"])

    @staticmethod
    def name_guard(org_id: str, name: str, server_id: str) -> Item:
        return {"pk": f"ORG#{org_id}", "sk": f"SERVERNAME#{name.lower()}", "type": "guard", "server_id": server_id}

    def get_server(self, org_id: str, server_id: str) -> tuple[dict[str, Any], int] | None:
        return self.get_doc(f"ORG#{org_id}", f"SERVER#{server_id}")

    @staticmethod
    def quota_claim(org_id: str, counter: str, limit: int) -> Update:
        """Take one slot of an org counter, failing (atomically, in the caller's transaction) at ``limit``."""
        return Update(
            {"pk": f"ORG#{org_id}", "sk": f"QUOTA#{counter}"},
            Expr("ADD #used :one", {"#used": "used"}, {":one": 1}),
            Expr("attribute_not_exists(#used) OR #used < :limit", {"#used": "used"}, {":limit": limit}),
        )

    @staticmethod
    def quota_release(org_id: str, counter: str) -> Update:
        return Update(
            {"pk": f"ORG#{org_id}", "sk": f"QUOTA#{counter}"},
            Expr("ADD #used :minus", {"#used": "used"}, {":minus": -1}),
            Expr("#used > :zero", {"#used": "used"}, {":zero": 0}),
        )

    def quota_used(self, org_id: str, counter: str) -> int:
        item = self.table.get(f"ORG#{org_id}", f"QUOTA#{counter}")
        return int(item["used"]) if item else 0

    def create_server(self, server: dict[str, Any], quota: Update) -> None:
        """Insert a server, claim its name and one quota slot, all or nothing.

        Raises:
            ConflictError: ``details.reasons`` says which part failed (name taken, quota full).
        """
        self.table.transact(
            [
                Put(self.server_record(server), if_absent()),
                Put(self.name_guard(server["org_id"], server["name"], server["id"]), if_absent()),
                quota,
            ]
        )

    def put_server(self, server: dict[str, Any], expected_version: int, old_name: str | None = None) -> None:
        """Replace a server if nobody changed it since ``expected_version``; a rename moves the name guard."""
        ops: list[Put | Delete | Update | Check] = [
            Put(self.server_record(server, expected_version + 1), if_version(expected_version))
        ]
        if old_name is not None and old_name.lower() != server["name"].lower():
            ops.append(Put(self.name_guard(server["org_id"], server["name"], server["id"]), if_absent()))
            ops.append(Delete({"pk": f"ORG#{server['org_id']}", "sk": f"SERVERNAME#{old_name.lower()}"}))
        self.table.transact(ops)

    def put_server_with(self, server: dict[str, Any], expected_version: int, quota: Update) -> None:
        """Replace a server and move a quota counter in one transaction (a hosted server's slot).

        Raises:
            ConflictError: the server changed, or the counter's condition failed (quota full).
        """
        self.table.transact(
            [Put(self.server_record(server, expected_version + 1), if_version(expected_version)), quota]
        )

    def delete_server(self, server: dict[str, Any], version: int, quota: Update | None) -> None:
        org = server["org_id"]
        ops: list[Put | Delete | Update | Check] = [
            Delete({"pk": f"ORG#{org}", "sk": f"SERVER#{server['id']}"}, if_version(version)),
            Delete({"pk": f"ORG#{org}", "sk": f"SERVERNAME#{server['name'].lower()}"}),
        ]
        self.table.transact([*ops, quota] if quota is not None else ops)
        tools = self.table.query("gsi2pk", f"SERVER#{server['id']}", index="gsi2")
        self.table.batch_write(deletes=[{"pk": t["pk"], "sk": t["sk"]} for t in tools])

    def server_name_taken(self, org_id: str, name: str) -> bool:
        return self.table.get(f"ORG#{org_id}", f"SERVERNAME#{name.lower()}") is not None

    # ------------------------------------------------------------- tools
    @staticmethod
    def tool_record(tool: dict[str, Any]) -> Item:
        return record(
            f"ORG#{tool['org_id']}",
            f"TOOL#{tool['id']}",
            "tool",
            tool,
            gsi1pk=f"ORG#{tool['org_id']}#TOOL",
            gsi1sk=f"{tool['created_at']}#{tool['id']}",
            gsi2pk=f"SERVER#{tool['server_id']}",
            gsi2sk=tool["name"],
            search_text=f"{tool['name']} {tool.get('description') or ''}".lower(),
            status="active",
            created_at=tool["created_at"],
            definition_hash=tool["definition_hash"],
        )

    def server_tools(self, server_id: str) -> list[dict[str, Any]]:
        return [doc(i) for i in self.table.query("gsi2pk", f"SERVER#{server_id}", index="gsi2")]

    def replace_server_tools(self, upserts: Iterable[dict[str, Any]], removals: Iterable[dict[str, Any]]) -> None:
        self.table.batch_write(
            puts=[self.tool_record(t) for t in upserts],
            deletes=[{"pk": f"ORG#{t['org_id']}", "sk": f"TOOL#{t['id']}"} for t in removals],
        )

    def get_tool(self, org_id: str, tool_id: str) -> tuple[dict[str, Any], int] | None:
        return self.get_doc(f"ORG#{org_id}", f"TOOL#{tool_id}")

    def put_tool(self, tool: dict[str, Any], expected_version: int | None = None) -> None:
        """Insert (``expected_version`` None) or replace a tool if unchanged since ``expected_version``."""
        version = 1 if expected_version is None else expected_version + 1
        item = {**self.tool_record(tool), "version": version}
        self.table.put(item, if_absent() if expected_version is None else if_version(expected_version))

    def delete_tool(self, org_id: str, tool_id: str, version: int) -> None:
        self.table.delete(f"ORG#{org_id}", f"TOOL#{tool_id}", if_version(version))

    def org_tools(self, org_id: str) -> list[dict[str, Any]]:
        return [doc(i) for i in self.table.query("gsi1pk", f"ORG#{org_id}#TOOL", index="gsi1")]

    def org_servers(self, org_id: str) -> list[dict[str, Any]]:
        return [doc(i) for i in self.table.query("gsi1pk", f"ORG#{org_id}#SERVER", index="gsi1")]

    # ------------------------------------------------------------- toolsets
    @staticmethod
    def toolset_record(toolset: dict[str, Any], version: int = 1) -> Item:
        return org_record("toolset", toolset, version, status=toolset.get("status", "active"))

    def get_toolset(self, org_id: str, toolset_id: str) -> tuple[dict[str, Any], int] | None:
        return self.get_doc(f"ORG#{org_id}", f"TOOLSET#{toolset_id}")

    def put_toolset(self, toolset: dict[str, Any], expected_version: int | None = None) -> None:
        if expected_version is None:
            self.table.put(self.toolset_record(toolset), if_absent())
        else:
            self.table.put(self.toolset_record(toolset, expected_version + 1), if_version(expected_version))

    def delete_toolset(self, org_id: str, toolset_id: str, version: int) -> None:
        self.table.delete(f"ORG#{org_id}", f"TOOLSET#{toolset_id}", if_version(version))

    def org_toolsets(self, org_id: str) -> list[dict[str, Any]]:
        return [doc(i) for i in self.table.query("gsi1pk", f"ORG#{org_id}#TOOLSET", index="gsi1")]


@cache
def main_repository() -> MainRepository:
    """The process-wide repository over the configured main table."""
    return MainRepository(Table(get_settings().require("main_table")))


__all__ = ["ConflictError", "MainRepository", "main_repository"]
