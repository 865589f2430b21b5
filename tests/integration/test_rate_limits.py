"""Rate limits (seeds 001, 004; SPEC §4): per principal, per server, per tool; all must pass; exact under
concurrency and across instances; 429 with Retry-After on REST, a JSON-RPC error on MCP; receipts."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from portico.errors import RateLimitedError
from portico.gateway.ratelimit import Limit, RateLimiter
from portico.local.runtime import LocalRuntime
from portico.repositories.main import main_repository
from tests.factories.api import Api, Reply, http
from tests.factories.orgs import OrgCtx
from tests.factories.wait import wait_until


def limited_server(api: Api, org: OrgCtx, url: str, rate_limits: dict[str, Any], name: str = "limited") -> str:
    reply = api.post("/v1/mcp/servers", org.admin_key, {"name": name, "url": url, "rate_limits": rate_limits})
    assert reply.status == 201, reply.body
    server_id = str(reply.data["id"])
    api.post(f"/v1/mcp/servers/{server_id}/sync", org.admin_key)
    return server_id


def invoke(api: Api, key: str, server_id: str, tool: str = "echo") -> Reply:
    arguments = {"message": "hi"} if tool == "echo" else {"a": 1, "b": 2}
    return api.post(f"/v1/mcp/servers/{server_id}/invoke", key, {"tool_name": tool, "arguments": arguments})


def mcp_call(api: Api, key: str, path: str, name: str, session: str | None = None) -> Reply:
    headers = {"Mcp-Session-Id": session} if session else None
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": {}}}
    return api.post(path, key, message, headers=headers)


def initialize(api: Api, key: str, path: str) -> str:
    message = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    reply = api.post(path, key, message)
    assert reply.status == 200, reply.body
    return reply.headers["Mcp-Session-Id"]


def test_a_server_limit_admits_exactly_its_limit_under_concurrency(
    api: Api, org: OrgCtx, runtime: LocalRuntime, demo_http_url: str
) -> None:
    server_id = limited_server(api, org, demo_http_url, {"limit": 7, "interval": "1d"})
    url = f"{runtime.api_url}/v1/mcp/servers/{server_id}/invoke"
    body = {"tool_name": "echo", "arguments": {"message": "hi"}}
    with ThreadPoolExecutor(max_workers=12) as pool:
        replies = list(pool.map(lambda _: http("POST", url, org.admin_key, body), range(30)))
    statuses = sorted(r.status for r in replies)
    assert statuses.count(200) == 7 and statuses.count(429) == 23, statuses
    refused = next(r for r in replies if r.status == 429)
    assert refused.code == "RATE_LIMITED" and refused.body["details"]["scope"] == "server"
    assert 0 < int(refused.headers["Retry-After"]) <= 86400
    assert refused.body["details"]["retry_after"] == int(refused.headers["Retry-After"])


def test_tool_and_server_limits_must_all_pass(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    server_id = limited_server(
        api, org, demo_http_url, {"limit": 4, "interval": 3600, "tools": {"echo": {"limit": 2, "interval": "1h"}}}
    )
    server = api.get(f"/v1/mcp/servers/{server_id}", org.admin_key).data
    assert server["rate_limits"] == {"limit": 4, "interval": 3600, "tools": {"echo": {"limit": 2, "interval": 3600}}}
    assert [invoke(api, org.admin_key, server_id).status for _ in range(3)] == [200, 200, 429]
    assert invoke(api, org.admin_key, server_id).body["details"]["scope"] == "tool"
    # The refused echo calls took nothing from the server's limit: two more calls fit, then the server is full.
    assert [invoke(api, org.admin_key, server_id, "add").status for _ in range(3)] == [200, 200, 429]
    assert invoke(api, org.admin_key, server_id, "add").body["details"]["scope"] == "server"


def test_limits_are_validated_and_can_be_removed(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    for bad, field in (
        ({"limit": 0}, "rate_limits.limit"),
        ({"limit": 5, "interval": "soon"}, "rate_limits.interval"),
        ({"limit": 5, "interval": 0}, "rate_limits.interval"),
        ({"tools": {"echo": {"interval": "1m"}}}, "rate_limits.tools.echo.limit"),
        ({"limit": 5, "burst": 2}, "rate_limits.burst"),
    ):
        reply = api.post("/v1/mcp/servers", org.admin_key, {"name": "bad", "url": demo_http_url, "rate_limits": bad})
        assert reply.status == 400 and reply.body["details"]["field"] == field, (bad, reply.body)
    server_id = limited_server(api, org, demo_http_url, {"limit": 1, "interval": "5m"})
    assert api.get(f"/v1/mcp/servers/{server_id}", org.admin_key).data["rate_limits"]["interval"] == 300
    assert [invoke(api, org.admin_key, server_id).status for _ in range(2)] == [200, 429]
    patched = api.patch(f"/v1/mcp/servers/{server_id}", org.admin_key, {"rate_limits": None}).data
    assert patched["rate_limits"] is None
    assert invoke(api, org.admin_key, server_id).status == 200


def test_the_principal_limit_holds_across_mcp_sessions_and_paths(api: Api, org: OrgCtx, demo_http_url: str) -> None:
    server_id = limited_server(api, org, demo_http_url, {"tools": {}})
    setting = api.put("/v1/settings/default_rate_limits", org.admin_key, {"value": {"limit": 3, "interval": "1d"}})
    assert setting.data["default_rate_limits"] == {"limit": 3, "interval": 86400}
    path = f"/mcp/servers/{server_id}"
    session = initialize(api, org.admin_key, path)
    outcomes = [mcp_call(api, org.admin_key, path, "echo", session) for _ in range(4)]
    assert all("result" in r.body for r in outcomes[:3]), [r.body for r in outcomes]
    error = outcomes[3].body["error"]
    assert error["code"] == -32005 and error["data"]["error_code"] == "RATE_LIMITED"
    assert 0 < error["data"]["retry_after"] <= 86400 and error["data"]["details"]["scope"] == "principal"

    # A new session, no session, and the REST paths count against the same identity.
    fresh = initialize(api, org.admin_key, path)
    assert mcp_call(api, org.admin_key, path, "echo", fresh).code == "RATE_LIMITED"
    assert mcp_call(api, org.admin_key, "/mcp", "limited__echo").code == "RATE_LIMITED"
    rest = invoke(api, org.admin_key, server_id)
    assert rest.status == 429 and int(rest.headers["Retry-After"]) > 0
    # Another principal of the same org has its own budget.
    assert invoke(api, org.member_key("member"), server_id).status == 200

    def rate_limited() -> list[dict[str, Any]]:
        return list(api.get("/v1/receipts?status=rate_limited&limit=200", org.admin_key).data["items"])

    receipts = wait_until(lambda: (found := rate_limited()) and len(found) >= 4 and found)
    assert {r["source"] for r in receipts} == {"mcp", "rest_invoke"}
    assert all(r["policy_decision"] == "deny" and r["error_code"] == "RATE_LIMITED" for r in receipts)


@pytest.mark.parametrize("limit", [1, 25, 640])
def test_leases_across_instances_never_admit_more_than_the_limit(runtime: LocalRuntime, limit: int) -> None:
    """Two warm instances (two limiters, as two Lambda instances would have) share one counter."""
    table = main_repository().table
    instances = [RateLimiter(table), RateLimiter(table)]
    rule = Limit("server", f"S#test-{time.time_ns()}", limit, 86400)
    admitted = [0, 0]
    lock = threading.Lock()

    def caller(n: int) -> None:
        limiter = instances[n % 2]
        for _ in range(2 * limit // 8 + 2):
            try:
                limiter.acquire([rule])
            except RateLimitedError:
                continue
            with lock:
                admitted[n % 2] += 1

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Each instance's callers keep calling past the limit, so every leased token gets used: exact.
    assert sum(admitted) == limit, admitted
    window = int(time.time() // 86400) * 86400
    stored = table.get(f"RATE#{rule.key}#86400", f"W#{window}")
    assert stored is not None and stored["used"] == limit and stored["expires_at_epoch"] > window + 86400


def test_a_new_window_admits_again_and_retry_after_counts_to_its_end(runtime: LocalRuntime) -> None:
    now = [999_999_960.0 + 10]  # 10 s into a one-minute window (999_999_960 = 60 * 16_666_666)
    limiter = RateLimiter(main_repository().table, clock=lambda: now[0])
    rule = Limit("tool", f"T#test-{time.time_ns()}", 2, 60)
    limiter.acquire([rule])
    limiter.acquire([rule])
    with pytest.raises(RateLimitedError) as refused:
        limiter.acquire([rule])
    assert refused.value.retry_after == 50 and refused.value.details["scope"] == "tool"
    now[0] += 49.5
    with pytest.raises(RateLimitedError) as later:
        limiter.acquire([rule])
    assert later.value.retry_after == 1
    now[0] += 1  # the next window
    limiter.acquire([rule])
    limiter.acquire([rule])
    with pytest.raises(RateLimitedError):
        limiter.acquire([rule])


def test_a_refusal_by_one_limit_gives_back_the_tokens_taken_from_the_others(runtime: LocalRuntime) -> None:
    limiter = RateLimiter(main_repository().table)
    stamp = time.time_ns()
    wide = Limit("server", f"S#wide-{stamp}", 3, 86400)
    narrow = Limit("principal", f"P#narrow-{stamp}", 1, 86400)
    limiter.acquire([wide, narrow])
    for _ in range(5):
        with pytest.raises(RateLimitedError):
            limiter.acquire([wide, narrow])
    # The five refused calls took nothing from `wide`: two of its three tokens are still there.
    limiter.acquire([wide])
    limiter.acquire([wide])
    with pytest.raises(RateLimitedError):
        limiter.acquire([wide])


def test_a_hot_lease_is_renewed_in_the_background(runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the first small batches, the next batch is leased off the caller's path: every later
    UpdateItem runs on a renewal thread, the calls never outrun their leases, and the count is exact."""
    table = main_repository().table
    updates: list[tuple[str, int]] = []
    real_update = table.update

    def spied(update: Any) -> Any:
        updates.append((threading.current_thread().name, int(update.expression.values[":n"])))
        return real_update(update)

    monkeypatch.setattr(table, "update", spied)
    limiter = RateLimiter(table)
    rule = Limit("principal", f"P#hot-{time.time_ns()}", 10_000, 86400)
    for _ in range(300):
        limiter.acquire([rule])
    wait_until(lambda: not limiter._lease_of(rule, int(time.time() // 86400) * 86400).renewing)
    sizes = [n for _, n in updates]
    assert sizes[:5] == [1, 2, 4, 8, 16]
    # The first small batches are leased by the calls themselves; from a batch of 8 on, in the background.
    assert [name for name, _ in updates[:3]] == [threading.current_thread().name] * 3
    assert all(name.startswith("rate-lease") for name, _ in updates[3:]), updates
    window = int(time.time() // 86400) * 86400
    stored = table.get(f"RATE#{rule.key}#86400", f"W#{window}")
    assert stored is not None and stored["used"] == sum(sizes) >= 300
