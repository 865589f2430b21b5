"""Policy building blocks: interval parsing, invisible characters, look-alike names, approval states."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from portico.gateway import policy
from portico.models.policy import ApproveTools, RateLimit, RateLimits, parse_interval


@pytest.mark.parametrize(
    ("given", "seconds"),
    [(60, 60), ("60s", 60), ("300s", 300), ("1m", 60), ("5 min", 300), ("1h", 3600), ("1d", 86400), ("45", 45)],
)
def test_intervals_read_as_seconds(given: Any, seconds: int) -> None:
    assert RateLimit(limit=1, interval=given).interval == seconds


@pytest.mark.parametrize("given", ["soon", "", "1w", "-5s", True, 0, "2d", 1.5])
def test_bad_intervals_are_refused(given: Any) -> None:
    with pytest.raises((ValidationError, ValueError)):
        RateLimit(limit=1, interval=parse_interval(given))


def test_server_limits_default_to_a_minute_and_forbid_unknown_fields() -> None:
    limits = RateLimits.model_validate({"limit": 5, "tools": {"echo": {"limit": 2, "interval": "1h"}}})
    assert limits.interval == 60 and limits.tools["echo"].interval == 3600
    with pytest.raises(ValidationError):
        RateLimits.model_validate({"limit": 5, "per_ip": 2})


def test_approve_takes_names_or_all_but_not_both() -> None:
    assert ApproveTools(tools=["a"]).tools == ["a"] and ApproveTools(all=True).all
    for body in ({}, {"tools": ["a"], "all": True}, {"all": False}, {"tools": []}):
        with pytest.raises(ValidationError):
            ApproveTools.model_validate(body)


def _tool(name: str, **extra: Any) -> dict[str, Any]:
    tool = {"name": name, "description": "d", "input_schema": {"type": "object"}, **extra}
    tool["definition_hash"] = f"h-{name}-{extra.get('description', 'd')}"
    return tool


@pytest.mark.parametrize("char", ["\u200b", "\u200f", "\u2060", "\u2064", "\ufeff", "\u202e", "\u2066", "\U000e0041"])
def test_invisible_characters_are_flagged_wherever_they_hide(char: str) -> None:
    tool = _tool("t", input_schema={"properties": {"q": {"description": f"query{char}"}}})
    (flag,) = policy.hidden_characters(tool)
    assert flag.field == "input_schema.properties.q.description" and f"U+{ord(char):04X}" in flag.detail


def test_plain_text_and_ordinary_unicode_are_not_flagged() -> None:
    assert policy.hidden_characters(_tool("t", description="Grüße, 東京, emoji 🙂")) == []


def test_look_alike_names_collide_across_servers_only() -> None:
    mine = [_tool("Echo\u200b", server_id="a"), _tool("lookup", server_id="a")]
    org = [*mine, _tool("echo", server_id="b", origin="mcp"), _tool("lookup", server_id=None, origin="http")]
    flags = policy.flags_for(mine, "a", org, {"a": "one", "b": "two"})
    collisions = {f.tool: f.detail for f in flags if f.kind == "name_collision"}
    assert collisions == {"Echo\u200b": "also the name of a tool of server two", "lookup": collisions["lookup"]}
    assert "HTTP tool" in collisions["lookup"]


def test_approval_states() -> None:
    tool = _tool("t")
    auto = {"approval_policy": "auto_approve", "tool_approval_hashes": []}
    strict = {"approval_policy": "require_approval_all", "tool_approval_hashes": []}
    assert policy.approval_status(tool, auto) == "not_required" and policy.is_approved(tool, auto)
    assert policy.approval_status(tool, strict) == "pending"
    policy.approve(tool)
    strict["tool_approval_hashes"] = policy.approved_hashes([tool])
    assert policy.approval_status(tool, strict) == "approved"
    tool["definition_hash"] = "changed"
    assert policy.approval_status(tool, strict) == "quarantined"
    view = policy.quarantine_view(tool)
    assert view.approved_hash != view.new_hash and view.approved_definition == policy.definition(tool)
