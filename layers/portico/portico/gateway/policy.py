"""Tool approval and definition pinning (SPEC §6, seed 003), and the warnings an admin sees at sync.

A server's ``tool_approval_hashes`` are the definition hashes an admin (or, under
``require_approval_on_change``, the first sync) approved. Under a policy that requires approval a
tool is exposed only while its current ``definition_hash`` is one of them; anything else is pending
approval — or *quarantined* when an earlier definition of it was approved (its stored
``approved_definition`` lets the admin compare the two before re-approving).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from portico.models.policy import QuarantinedTool, ToolFlag

REQUIRES_APPROVAL = {"require_approval_all", "require_approval_on_change"}
DEFINITION_FIELDS = ("name", "title", "description", "input_schema", "output_schema", "annotations")

# Characters a human reviewer cannot see but a model reads: zero-width and joiners, invisible
# operators, the BOM, bidirectional overrides and isolates, and Unicode tag characters.
HIDDEN = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u202a-\u202e\u2066-\u2069\U000e0000-\U000e007f]")


def requires_approval(server: dict[str, Any] | None) -> bool:
    return server is not None and server.get("approval_policy") in REQUIRES_APPROVAL


def is_approved(tool: dict[str, Any], server: dict[str, Any] | None) -> bool:
    """Whether the tool's current definition may be exposed under its server's approval policy."""
    if not requires_approval(server):
        return True
    assert server is not None
    return tool.get("definition_hash") in set(server.get("tool_approval_hashes") or [])


def approval_status(tool: dict[str, Any], server: dict[str, Any] | None) -> str:
    """``not_required``, ``approved``, ``quarantined`` (an older definition was approved) or ``pending``."""
    if not requires_approval(server):
        return "not_required"
    if is_approved(tool, server):
        return "approved"
    return "quarantined" if tool.get("approved_definition") else "pending"


def definition(tool: dict[str, Any]) -> dict[str, Any]:
    """The hashed part of a tool: what a model sees."""
    return {k: tool.get(k) for k in DEFINITION_FIELDS}


def approve(tool: dict[str, Any]) -> None:
    """Pin the tool's current definition (kept beside the hash, for the diff of a later change)."""
    tool["approved_hash"] = tool["definition_hash"]
    tool["approved_definition"] = definition(tool)


def quarantine_view(tool: dict[str, Any]) -> QuarantinedTool:
    return QuarantinedTool(
        name=tool["name"],
        approved_hash=tool.get("approved_hash"),
        new_hash=tool["definition_hash"],
        approved_definition=tool.get("approved_definition"),
        new_definition=definition(tool),
    )


def approved_hashes(tools: list[dict[str, Any]]) -> list[str]:
    """The server's ``tool_approval_hashes``: one approved hash per current tool that has one."""
    return sorted({t["approved_hash"] for t in tools if t.get("approved_hash")})


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(str(key), f"{path}.{key}(key)")
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _strings(item, f"{path}[{n}]")


def hidden_characters(tool: dict[str, Any]) -> list[ToolFlag]:
    """Flags for invisible characters anywhere in the tool's name, texts and schemas."""
    flags = []
    for field in DEFINITION_FIELDS:
        for path, text in _strings(tool.get(field), field):
            found = sorted({f"U+{ord(c):04X}" for c in HIDDEN.findall(text)})
            if found:
                flags.append(
                    ToolFlag(
                        tool=tool["name"],
                        kind="hidden_characters",
                        field=path,
                        detail=f"invisible characters {', '.join(found[:8])}",
                    )
                )
    return flags[:20]


def collision_key(name: str) -> str:
    """Names that look the same to a reader collide: invisible characters dropped, NFKC, case-folded."""
    return unicodedata.normalize("NFKC", HIDDEN.sub("", name)).casefold()


def flags_for(
    tools: list[dict[str, Any]], server_id: str, org_tools: list[dict[str, Any]], server_names: dict[str, str]
) -> list[ToolFlag]:
    """Every flag for a server's tools: hidden characters, and names another server's tool (or an
    HTTP tool) of the same organization already uses."""
    others: dict[str, list[str]] = {}
    for other in org_tools:
        if other.get("server_id") == server_id:
            continue
        owner = server_names.get(other.get("server_id") or "", "an HTTP tool")
        others.setdefault(collision_key(other["name"]), []).append(
            owner if other.get("origin") == "http" else f"server {owner}"
        )
    flags: list[ToolFlag] = []
    for tool in tools:
        flags += hidden_characters(tool)
        owners = others.get(collision_key(tool["name"]))
        if owners:
            flags.append(
                ToolFlag(
                    tool=tool["name"],
                    kind="name_collision",
                    field="name",
                    detail=f"also the name of a tool of {', '.join(sorted(set(owners))[:5])}",
                )
            )
    return flags
