"""Organization settings (seed 002): an allow-listed, validated set that takes effect where it applies."""

from __future__ import annotations

import time
from typing import Any

import pytest

from portico.local.runtime import LocalRuntime
from portico.repositories.aws import client
from tests.factories.api import Api
from tests.factories.orgs import OrgCtx
from tests.factories.wait import wait_until

TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


def test_members_read_the_effective_settings_and_their_sources(api: Api, org: OrgCtx) -> None:
    settings = api.get("/v1/settings", org.member_key("viewer")).data
    assert settings["default_exposure_mode"] == "full" and settings["allowed_origins"] == []
    assert settings["receipt_retention_days"] == 90
    assert settings["default_rate_limits"] == {"limit": 60000, "interval": 60}  # the studio tier's
    assert set(settings["sources"].values()) == {"default"}


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("default_exposure_mode", "partial", "value"),
        ("receipt_retention_days", 0, "value"),
        ("receipt_retention_days", "ninety", "value"),
        ("default_rate_limits", {"limit": -1}, "value.limit"),
        ("default_rate_limits", {"limit": 5, "interval": "often"}, "value.interval"),
        ("allowed_origins", ["ftp://files.example.com"], "value.0"),
        ("allowed_origins", "https://app.example.com", "value"),
    ],
)
def test_bad_values_are_rejected_naming_the_field(api: Api, org: OrgCtx, key: str, value: Any, field: str) -> None:
    reply = api.put(f"/v1/settings/{key}", org.admin_key, {"value": value})
    assert reply.status == 400 and reply.code == "VALIDATION_ERROR", reply.body
    assert reply.body["details"]["field"] == field and reply.body["details"]["key"] == key
    assert api.get("/v1/settings", org.admin_key).data["sources"][key] == "default"


def test_unknown_keys_and_missing_values_are_rejected(api: Api, org: OrgCtx) -> None:
    unknown = api.put("/v1/settings/admin_token", org.admin_key, {"value": "x"})
    assert unknown.status == 400 and unknown.body["details"]["field"] == "key"
    assert unknown.body["details"]["key"] == "admin_token" and "admin_token" in unknown.body["message"]
    missing = api.put("/v1/settings/receipt_retention_days", org.admin_key, {})
    assert missing.status == 400 and missing.body["details"]["field"] == "value"
    extra = api.put("/v1/settings/receipt_retention_days", org.admin_key, {"value": 7, "other": 1})
    assert extra.status == 400 and extra.body["details"]["field"] == "other"


def test_settings_belong_to_one_org_and_null_restores_the_default(api: Api, org: OrgCtx, other_org: OrgCtx) -> None:
    set_ = api.put("/v1/settings/receipt_retention_days", org.admin_key, {"value": 7}).data
    assert set_["receipt_retention_days"] == 7 and set_["sources"]["receipt_retention_days"] == "org"
    assert set_["updated_at"] and set_["updated_by"]
    assert api.get("/v1/settings", other_org.admin_key).data["receipt_retention_days"] == 90
    reset = api.put("/v1/settings/receipt_retention_days", org.admin_key, {"value": None}).data
    assert reset["receipt_retention_days"] == 90 and reset["sources"]["receipt_retention_days"] == "default"


def test_default_exposure_mode_applies_to_new_toolsets(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    api.put("/v1/settings/default_exposure_mode", org.admin_key, {"value": "progressive"})
    assert api.post("/v1/toolsets", org.admin_key, {"name": "implicit"}).data["exposure_mode"] == "progressive"
    explicit = api.post("/v1/toolsets", org.admin_key, {"name": "explicit", "exposure_mode": "full"}).data
    assert explicit["exposure_mode"] == "full"
    server = api.post("/v1/mcp/servers", org.admin_key, {"name": "demo", "url": demo_http_url}).data
    bundled = api.post("/v1/toolsets/from_servers", org.admin_key, {"name": "b", "server_ids": [server["id"]]}).data
    assert bundled["exposure_mode"] == "progressive"
    listed = api.post(f"/mcp/toolsets/{bundled['id']}", org.admin_key, TOOLS_LIST).body["result"]["tools"]
    assert [t["name"] for t in listed] == ["search_tools", "call_tool"]


def test_receipt_retention_sets_the_receipts_ttl(
    api: Api, org: OrgCtx, runtime: LocalRuntime, demo_http_url: str
) -> None:
    api.put("/v1/settings/receipt_retention_days", org.admin_key, {"value": 3})
    server = api.post("/v1/mcp/servers", org.admin_key, {"name": "demo", "url": demo_http_url}).data
    api.post(f"/v1/mcp/servers/{server['id']}/sync", org.admin_key)
    receipt_id = api.post(
        f"/v1/mcp/servers/{server['id']}/invoke", org.admin_key, {"tool_name": "echo", "arguments": {"message": "x"}}
    ).data["receipt_id"]
    table = runtime.physical("ReceiptsTable")["Ref"]

    def stored() -> dict[str, Any] | None:
        items = client("dynamodb").query(
            TableName=table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"RCPT#{receipt_id}"}},
        )["Items"]
        return items[0] if items else None

    item = wait_until(stored)
    expires = int(item["expires_at_epoch"]["N"])
    assert abs(expires - (time.time() + 3 * 86400)) < 3600


def test_allowed_origins_extend_the_platform_list_for_that_org_only(api: Api, org: OrgCtx, other_org: OrgCtx) -> None:
    origin = {"Origin": "https://app.example.com"}
    assert api.post("/mcp", org.admin_key, TOOLS_LIST, headers=origin).status == 403
    saved = api.put("/v1/settings/allowed_origins", org.admin_key, {"value": ["HTTPS://app.example.com"]}).data
    assert saved["allowed_origins"] == ["https://app.example.com"]
    assert api.post("/mcp", org.admin_key, TOOLS_LIST, headers=origin).status == 200
    assert api.post("/mcp", other_org.admin_key, TOOLS_LIST, headers=origin).status == 403
    assert api.post("/mcp", org.admin_key, TOOLS_LIST, headers={"Origin": "https://evil.example.com"}).status == 403
