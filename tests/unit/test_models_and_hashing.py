"""Models reject bad input at the edge; hashes and redaction behave."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from portico.models.common import ListQuery
from portico.models.servers import ServerCreate
from portico.repositories.dynamo import from_ddb, to_ddb
from portico.services.receipts import preview, redact
from portico.services.servers import definition_hash, tool_id


def test_tags_in_a_query_string_may_be_comma_separated() -> None:
    assert ListQuery.model_validate({"tags": "a,b"}).tags == ["a", "b"]
    with pytest.raises(ValidationError):
        ListQuery.model_validate({"limit": 500})


def test_server_headers_that_portico_owns_are_refused() -> None:
    with pytest.raises(ValidationError):
        ServerCreate(name="x", url="http://a.example/mcp", headers={"Mcp-Session-Id": "1"})
    assert ServerCreate(name="x", url="http://a.example/mcp", headers={"X-Key": "v"}).headers == {"X-Key": "v"}


def test_definition_hash_ignores_key_order_and_sees_every_change() -> None:
    tool = {"name": "t", "description": "d", "input_schema": {"type": "object", "properties": {"a": {}, "b": {}}}}
    reordered = {"input_schema": {"properties": {"b": {}, "a": {}}, "type": "object"}, "description": "d", "name": "t"}
    assert definition_hash(tool) == definition_hash(reordered)
    assert definition_hash(tool) != definition_hash({**tool, "description": "d2"})
    assert definition_hash(tool) != definition_hash({**tool, "annotations": {"readOnlyHint": True}})


def test_tool_ids_are_stable_per_server_and_name() -> None:
    assert tool_id("mcp_1", "echo") == tool_id("mcp_1", "echo") != tool_id("mcp_2", "echo")


def test_previews_redact_secrets_and_are_capped() -> None:
    assert redact({"password": "p", "nested": {"apiKey": "k", "ok": 1}}) == {
        "password": "[redacted]",
        "nested": {"apiKey": "[redacted]", "ok": 1},
    }
    assert len(preview({"text": "x" * 5000})) <= 512


def test_dynamodb_values_round_trip() -> None:
    item = {"s": "x", "n": 3, "f": 1.5, "b": True, "l": ["a", 1], "m": {"k": None}}
    assert from_ddb(to_ddb(item)) == {**item, "m": {"k": None}}
