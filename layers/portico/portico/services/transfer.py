"""Import and export of server configurations: Claude Desktop, VS Code, Portico's generic array and a
gateway TOML (``[mcp.servers.NAME]`` tables).

Secrets travel as references only: an export shows ``{{ secrets.NAME }}`` (literal values masked), and an
import maps ``{{ env.X }}`` (and VS Code's ``${env:X}``) to the org secret ``{{ secrets.X }}``. Every entry
is created through ``ServerService.create`` (validation, secret references, quota); one bad entry is
reported and the others still go in.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from portico import auth
from portico.errors import ConflictError, PorticoError, ValidationError
from portico.gateway.credentials import MASK, public_config
from portico.models.common import Role
from portico.models.identity import Principal
from portico.models.servers import ServerCreate
from portico.models.transfer import ExportFormat, ImportEntry, ImportFormat, ImportResult
from portico.services.servers import ServerService

MAX_ENTRIES = 100
_ENV_REF = re.compile(r"\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}|\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_INPUT_REF = re.compile(r"\$\{input:[^}]*\}")
_SECRET_FIELDS = {"headers", "auth", "tls"}
# What a generic entry may carry: the create fields, plus what a GET or an export adds (ignored).
_READ_ONLY = {
    "id",
    "org_id",
    "status",
    "endpoint_url",
    "disabled_tools",
    "tool_approval_hashes",
    "tools_count",
    "last_synced_at",
    "last_checked_at",
    "last_error",
    "created_by",
    "created_at",
    "updated_at",
    "is_creator",
    "role",
    "access_info",
}


class Rejected(Exception):
    """One entry cannot be imported; the message says why."""


def create_hosted(servers: ServerService, principal: Principal, payload: dict[str, Any]) -> str:
    """Create a hosted ``package`` server from ``{name, source_type: "package", command, args, env}``
    (provisioned like any hosted server: studio tier, admins, the hosted quota) and return its id."""
    from portico.models.hosting import HostedServerCreate
    from portico.wiring import hosting

    try:
        body = HostedServerCreate.model_validate(payload)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "entry"
        raise Rejected(f"{where}: {first.get('msg', 'invalid')}") from exc
    return hosting().create(principal, body).id


def _stdio(name: Any, command: Any, args: Any, env: Any) -> dict[str, Any]:
    """The hosted ``package`` payload of a stdio entry (whatever format it came in)."""
    return {"name": name, "source_type": "package", "command": command, "args": list(args or []), "env": env or {}}


def env_to_secrets(value: Any) -> Any:
    """``{{ env.X }}`` / ``${env:X}`` → ``{{ secrets.X }}``, recursively; VS Code inputs are refused."""
    if isinstance(value, str):
        if _INPUT_REF.search(value):
            raise Rejected("VS Code ${input:…} variables cannot be imported: store the value as an org secret")
        return _ENV_REF.sub(lambda m: f"{{{{ secrets.{m.group(1) or m.group(2)} }}}}", value)
    if isinstance(value, dict):
        return {k: env_to_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [env_to_secrets(v) for v in value]
    return value


def _reference(value: Any) -> str:
    """A configured value as a client-config string: references as ``{{ secrets.NAME }}``, literals masked."""
    if isinstance(value, dict) and "secret_id" in value:
        return f"{{{{ secrets.{value['secret_id']} }}}}"
    return str(value)


def _transport(kind: Any) -> str:
    if kind in (None, "http", "streamable-http", "streamableHttp", "streamable_http"):
        return "streamable-http"
    if kind == "sse":
        return "sse"
    raise Rejected(f"unsupported transport type {kind!r} (use http or sse)")


class ServerTransfer:
    def __init__(self, servers: ServerService) -> None:
        self.servers = servers

    # ------------------------------------------------------------- export
    def export(self, principal: Principal, fmt: ExportFormat) -> Any:
        """Every server of the org in ``fmt``; secret values never leave, only references."""
        org_id = auth.require_member(principal)
        servers = sorted(self.servers.repo.org_servers(org_id), key=lambda s: s["name"].lower())
        if fmt == "generic":
            return [self._generic(s) for s in servers]
        entries = {s["name"]: self._client_entry(s, fmt) for s in servers}
        return {"mcpServers": entries} if fmt == "claude" else {"mcp": {"servers": entries}}

    @staticmethod
    def _generic(server: dict[str, Any]) -> dict[str, Any]:
        shown = {**server, **public_config(server)}
        out = {k: v for k, v in shown.items() if k not in _READ_ONLY and v not in (None, [], {})}
        return out

    @staticmethod
    def _client_entry(server: dict[str, Any], fmt: ExportFormat) -> dict[str, Any]:
        shown = public_config(server)
        if server.get("command"):
            entry: dict[str, Any] = {"command": server["command"], "args": list(server.get("args") or [])}
            if shown.get("env"):
                entry["env"] = {k: _reference(v) for k, v in shown["env"].items()}
            if fmt == "vscode":
                entry = {"type": "stdio", **entry}
            return entry
        headers = {k: _reference(v) for k, v in shown["headers"].items()}
        auth_config = shown.get("auth") or {}
        if auth_config.get("type") == "token":
            headers["Authorization"] = f"Bearer {_reference(auth_config['token'])}"
        elif auth_config.get("type") == "headers":
            headers.update({k: _reference(v) for k, v in auth_config["headers"].items()})
        url = server.get("url") or server.get("endpoint_url")
        entry = {"type": "sse" if server.get("transport") == "sse" else "http", "url": url}
        if headers:
            entry["headers"] = headers
        return entry

    # ------------------------------------------------------------- import
    def import_(self, principal: Principal, body: str, content_type: str | None) -> ImportResult:
        """Create a server for each entry of a configuration document; report each entry's outcome.

        Raises:
            ForbiddenError: not an admin.  ValidationError: the document is unreadable or of no known shape.
        """
        auth.require_member(principal, Role.ADMIN)
        fmt, entries = self.parse(body, content_type)
        if len(entries) > MAX_ENTRIES:
            raise ValidationError(f"at most {MAX_ENTRIES} servers per import", field="body", count=len(entries))
        results = [self._import_one(principal, fmt, name, entry) for name, entry in entries]
        count = {s: sum(1 for r in results if r.status == s) for s in ("created", "skipped", "rejected")}
        return ImportResult(format=fmt, results=results, **count)

    @staticmethod
    def parse(body: str, content_type: str | None) -> tuple[ImportFormat, list[tuple[str, Any]]]:
        """Detect the document's format and split it into ``(name, entry)`` pairs.

        Raises:
            ValidationError: malformed JSON/TOML, or a shape that is none of the supported formats.
        """
        if "toml" in (content_type or "").lower():
            try:
                document = tomllib.loads(body)
            except tomllib.TOMLDecodeError as exc:
                raise ValidationError(f"body: malformed TOML ({exc})", field="body") from exc
            servers = (document.get("mcp") or {}).get("servers")
            if not isinstance(servers, dict):
                raise ValidationError("body: a gateway TOML needs [mcp.servers.NAME] tables", field="body")
            return "toml", list(servers.items())
        try:
            document = json.loads(body or "null")
        except ValueError as exc:
            raise ValidationError("body: malformed JSON", field="body") from exc
        if isinstance(document, dict) and set(document) == {"data"}:
            document = document["data"]  # an export response pasted whole
        if isinstance(document, list):
            return "generic", [(str(e.get("name", "")) if isinstance(e, dict) else "", e) for e in document]
        if isinstance(document, dict):
            if isinstance(document.get("mcpServers"), dict):
                return "claude", list(document["mcpServers"].items())
            if isinstance(document.get("servers"), dict):
                return "vscode", list(document["servers"].items())
            if isinstance((document.get("mcp") or {}).get("servers"), dict):
                return "vscode", list(document["mcp"]["servers"].items())
            if isinstance(document.get("servers"), list):
                return "generic", [
                    (str(e.get("name", "")) if isinstance(e, dict) else "", e) for e in document["servers"]
                ]
        raise ValidationError(
            "body: expected Claude Desktop {mcpServers}, VS Code {servers} or {mcp: {servers}}, a JSON array of "
            "servers, or a gateway TOML sent as application/toml",
            field="body",
        )

    def _import_one(self, principal: Principal, fmt: ImportFormat, name: str, entry: Any) -> ImportEntry:
        notes: list[str] = []
        try:
            if not isinstance(entry, dict):
                raise Rejected("an entry must be an object")
            payload = self._payload(fmt, name, entry, notes)
            if payload.get("source_type") == "package":
                server_id = create_hosted(self.servers, principal, payload)
                return ImportEntry(name=name, status="created", server_id=server_id, notes=notes)
            _no_masked_values(payload)
            try:
                body = ServerCreate.model_validate(payload)
            except PydanticValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first.get("loc", ())) or "entry"
                raise Rejected(f"{where}: {first.get('msg', 'invalid')}") from exc
            server = self.servers.create(principal, body)
            return ImportEntry(name=name, status="created", server_id=server.id, notes=notes)
        except Rejected as exc:
            return ImportEntry(name=name, status="rejected", reason=str(exc), notes=notes)
        except ConflictError as exc:
            if exc.details.get("field") == "name":
                return ImportEntry(name=name, status="skipped", reason=f"a server named {name!r} already exists")
            return ImportEntry(name=name, status="rejected", reason=exc.message, notes=notes)
        except PorticoError as exc:  # quota, missing secrets, forbidden: this entry only
            return ImportEntry(name=name, status="rejected", reason=exc.message, notes=notes)

    def _payload(self, fmt: ImportFormat, name: str, entry: dict[str, Any], notes: list[str]) -> dict[str, Any]:
        if fmt == "toml":
            return self._from_toml(name, entry, notes)
        if fmt == "generic":
            return self._from_generic(entry, notes)
        return self._from_client(name, entry, notes)

    @staticmethod
    def _from_generic(entry: dict[str, Any], notes: list[str]) -> dict[str, Any]:
        payload = {k: v for k, v in entry.items() if k not in _READ_ONLY}
        payload = {k: env_to_secrets(v) if k in (*_SECRET_FIELDS, "env") else v for k, v in payload.items()}
        if payload.get("command") or payload.get("source_type") == "package":
            return _stdio(payload.get("name"), payload.get("command"), payload.get("args"), payload.get("env"))
        return payload

    @staticmethod
    def _from_client(name: str, entry: dict[str, Any], notes: list[str]) -> dict[str, Any]:
        """A Claude Desktop / VS Code entry: ``command``+``args``+``env`` (stdio) or ``type``+``url``+``headers``."""
        known = {"type", "transport", "url", "headers", "command", "args", "env", "description"}
        ignored = sorted(set(entry) - known)
        if ignored:
            notes.append(f"ignored: {', '.join(ignored)}")
        if entry.get("command") or entry.get("type") == "stdio":
            return _stdio(name, entry.get("command"), entry.get("args"), env_to_secrets(entry.get("env") or {}))
        if not entry.get("url"):
            raise Rejected("an entry needs a url (remote) or a command (stdio)")
        payload: dict[str, Any] = {
            "name": name,
            "url": entry["url"],
            "transport": _transport(entry.get("type") or entry.get("transport")),
            "headers": env_to_secrets(entry.get("headers") or {}),
        }
        if entry.get("description"):
            payload["description"] = entry["description"]
        return payload

    @staticmethod
    def _from_toml(name: str, table: dict[str, Any], notes: list[str]) -> dict[str, Any]:
        """A ``[mcp.servers.NAME]`` table: ``url``/``protocol`` or ``cmd``/``env``; ``auth``, ``tls``, ``rate_limits``.

        Unknown keys are reported as ignored in the entry's notes.
        """
        known = {"url", "protocol", "cmd", "env", "auth", "tls", "rate_limits", "cwd", "stderr", "message_url"}
        ignored = sorted(set(table) - known) + sorted(k for k in ("cwd", "stderr", "message_url") if k in table)
        if ignored:
            notes.append(f"ignored: {', '.join(ignored)}")
        if table.get("cmd") or table.get("protocol") == "stdio":
            cmd = table.get("cmd")
            if not isinstance(cmd, list) or not cmd or not all(isinstance(c, str) for c in cmd):
                raise Rejected("cmd: a command array is required")
            stdio = _stdio(name, cmd[0], cmd[1:], env_to_secrets(table.get("env") or {}))
            if "rate_limits" in table:
                stdio["rate_limits"] = table["rate_limits"]
            return stdio
        if not table.get("url"):
            raise Rejected("an entry needs url (remote) or cmd (stdio)")
        payload: dict[str, Any] = {
            "name": name,
            "url": table["url"],
            "transport": _transport(table.get("protocol")),
        }
        auth_table = table.get("auth")
        if isinstance(auth_table, dict):
            if auth_table.get("type") == "forward":
                payload["auth"] = {"type": "forward"}
            elif "token" in auth_table:
                payload["auth"] = {"type": "token", "token": env_to_secrets(auth_table["token"])}
            else:
                raise Rejected('auth: expected token = "…" or type = "forward"')
        tls = table.get("tls")
        if isinstance(tls, dict):
            paths = sorted(k for k in tls if k.endswith("_path"))
            if paths:
                raise Rejected(
                    f"tls.{paths[0]}: file paths cannot be imported; store the PEM as an org secret and set "
                    "tls.ca_cert / tls.client_cert / tls.client_key to {{ secrets.NAME }}"
                )
            payload["tls"] = env_to_secrets(tls)
        if "rate_limits" in table:
            payload["rate_limits"] = table["rate_limits"]
        return payload


def _no_masked_values(payload: dict[str, Any]) -> None:
    """A masked value (from an export) is not a credential: ask for a reference instead of storing it."""

    def walk(value: Any, where: str) -> None:
        if value == MASK:
            raise Rejected(f"{where}: the value is masked; use a secret reference ({{{{ secrets.NAME }}}})")
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{where}.{key}")

    for key in _SECRET_FIELDS:
        walk(payload.get(key), key)
