"""Executions leave receipts: EventBridge → rule → SQS → poller → receipt writer → receipts table.

Also the poller's Lambda semantics: batches and partial-batch failures, with poison messages
ending in the dead-letter queue.
"""

from __future__ import annotations

import json
from typing import Any

from portico.local.runtime import LocalRuntime
from portico.repositories.aws import client
from portico.repositories.main import doc
from tests.factories.api import Api
from tests.factories.orgs import OrgCtx
from tests.factories.wait import wait_until


def receipts_of(runtime: LocalRuntime, org_id: str) -> list[dict[str, Any]]:
    table = runtime.physical("ReceiptsTable")["Ref"]
    items = client("dynamodb").query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": f"ORG#{org_id}"}}
    )["Items"]
    return [doc({k: next(iter(v.values())) for k, v in item.items()}) for item in items]


def test_invocations_leave_receipts_for_success_and_denial(
    api: Api, org: OrgCtx, runtime: LocalRuntime, demo_http_url: str
) -> None:
    server_id = api.post("/v1/mcp/servers", org.admin_key, {"name": "r", "url": demo_http_url}).data["id"]
    api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key)
    ok = api.post(
        f"/v1/mcp/servers/{server_id}/invoke",
        org.admin_key,
        {"tool_name": "echo", "arguments": {"message": "hello", "api_token": "tok-123"}},
    ).data
    api.put(f"/v1/mcp/servers/{server_id}/tools/disabled", org.admin_key, {"disabled_tools": ["echo"]})
    api.post(f"/v1/mcp/servers/{server_id}/invoke", org.admin_key, {"tool_name": "echo", "arguments": {}})
    receipts = wait_until(lambda: (r := receipts_of(runtime, org.org_id)) and len(r) >= 2 and r)
    by_status = {r["status"]: r for r in receipts}
    success = by_status["ok"]
    assert success["receipt_id"] == ok["receipt_id"] and success["tool_name"] == "echo"
    assert success["server_id"] == server_id and success["source"] == "rest_invoke"
    assert len(success["arguments_digest"]) == 64 and success["result_size"] > 0
    assert "tok-123" not in json.dumps(receipts) and "[redacted]" in success["arguments_preview"]
    assert by_status["denied"]["policy_decision"] == "deny" and by_status["denied"]["error_code"] == "FORBIDDEN"


def _send(runtime: LocalRuntime, bodies: list[str]) -> None:
    queue = runtime.physical("ReceiptsQueue")["QueueUrl"]
    for body in bodies:
        client("sqs").send_message(QueueUrl=queue, MessageBody=body)


def test_a_poison_message_fails_alone_and_ends_in_the_dead_letter_queue(runtime: LocalRuntime, org: OrgCtx) -> None:
    good = {
        "detail": {
            "receipt_id": "rcpt_poller_good",
            "org_id": org.org_id,
            "principal_id": "usr_x",
            "principal_kind": "api_key",
            "source": "mcp",
            "tool_name": "t",
            "status": "ok",
            "arguments_digest": "0" * 64,
            "arguments_preview": "{}",
            "created_at": "2026-01-01T00:00:00.000Z",
        }
    }
    _send(runtime, ["{not json", json.dumps(good)])
    wait_until(lambda: any(r["receipt_id"] == "rcpt_poller_good" for r in receipts_of(runtime, org.org_id)))
    dlq = runtime.physical("ReceiptsDeadLetterQueue")["QueueUrl"]

    def poisoned() -> bool:
        messages = client("sqs").receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return any(m["Body"] == "{not json" for m in messages.get("Messages", []))

    wait_until(poisoned, timeout=30)
