"""`portico dev` as a newcomer runs it: a separate process, plain HTTP, a clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import processes
from tests.factories.api import http

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


@pytest.fixture
def portico_dev(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any], Path]]:
    state = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-m", "portico.cli", "dev", "--port", "0", "--state-dir", str(state)],
        cwd=processes.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(processes.ROOT / "layers" / "portico")},
    )
    local = state / "local.json"
    deadline = time.monotonic() + 180  # a bound for loaded CI machines, not a timing assertion
    while not local.exists():
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        assert time.monotonic() < deadline, "portico dev was not ready within 180 s"
        time.sleep(0.1)
    info = json.loads(local.read_text())
    try:
        yield process, info, local
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the way out a newcomer takes: Portico stops what it started
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def test_a_newcomer_registers_lists_and_invokes_server_everything(portico_dev: Any, everything_url: str) -> None:
    _, info, local = portico_dev
    assert {"api_url", "mcp_url", "org_id", "admin_api_key", "operator_api_key"} <= info.keys()
    assert info["api_url"].startswith("http://127.0.0.1:")
    assert oct(local.stat().st_mode & 0o777) == "0o600"
    base, key = info["api_url"], info["admin_api_key"]
    assert http("GET", f"{base}/health").data["status"] == "ok"
    assert http("GET", f"{base}/v1/org", key).data["id"] == info["org_id"]
    server = http("POST", f"{base}/v1/mcp/servers", key, {"name": "everything", "url": everything_url}).data
    assert http("POST", f"{base}/v1/mcp/servers/{server['id']}/sync", key).data["tools_count"] >= 10
    tools = http("GET", f"{base}/v1/mcp/servers/{server['id']}/tools", key).data["tools"]
    assert "echo" in {t["name"] for t in tools}
    result = http(
        "POST",
        f"{base}/v1/mcp/servers/{server['id']}/invoke",
        key,
        {"tool_name": "echo", "arguments": {"message": "e2e"}},
    ).data
    assert result["result"][0]["text"] == "Echo: e2e"
    assert http("GET", f"{base}/v1/org").status == 401


def test_the_bootstrap_admin_logs_in_with_the_password_from_local_json(portico_dev: Any) -> None:
    _, info, _ = portico_dev
    base = info["api_url"]
    login = {"username": info["admin_username"], "password": info["admin_password"]}
    token = http("POST", f"{base}/v1/auth/login", None, login).data
    assert token["token_type"] == "bearer" and token["expires_in"] > 0
    me = http("GET", f"{base}/v1/auth/me", token["access_token"]).data
    assert me["principal"]["user_id"] == info["admin_user_id"] and me["principal"]["role"] == "admin"
    assert http("POST", f"{base}/v1/auth/login", None, {**login, "password": "Wrong-password-1"}).status == 401


def test_the_demo_server_is_registered_and_its_tools_are_callable(portico_dev: Any) -> None:
    _, info, _ = portico_dev
    base, key, demo = info["api_url"], info["admin_api_key"], info["demo_server_id"]
    assert info["demo_tools"] >= 10
    servers = http("GET", f"{base}/v1/mcp/servers?tags=demo", key).data["servers"]
    assert [s["id"] for s in servers] == [demo]
    result = http("POST", f"{base}/v1/mcp/servers/{demo}/invoke", key, {"tool_name": "get-env"}).data
    environment = result["result"][0]["text"]
    assert "AWS_" not in environment and "PORTICO_" not in environment  # the demo sees no platform settings


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (moto, the SQS poller process, the demo MCP server)."""
    listed = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in listed.stdout.split()]


def gone(pids: list[int], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{p}").exists() and "zombie" not in _state(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_portico_dev_stops_cleanly_on_a_signal(portico_dev: Any, sig: signal.Signals) -> None:
    process, info, local = portico_dev
    started = children(process.pid)
    assert len(started) >= 3  # moto, the SQS pollers and the demo server
    process.send_signal(sig)
    assert process.wait(timeout=30) == 0
    assert not local.exists()
    assert gone(started)
    with pytest.raises(OSError):
        processes.wait_for_port(int(info["api_url"].rsplit(":", 1)[1]), timeout=0.5)
    # nothing left in its process group
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)


def test_a_killed_portico_takes_its_processes_with_it(portico_dev: Any) -> None:
    process, _, _ = portico_dev
    started = children(process.pid)
    assert len(started) >= 3
    process.kill()  # no chance to clean up: the children must still go (parent-death signal)
    process.wait(timeout=10)
    assert gone(started)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_hosted_server_processes_stop_with_portico(portico_dev: Any, sig: signal.Signals) -> None:
    from tests.factories.hosting import processes_with, wait_no_processes

    process, info, _ = portico_dev
    base, key = info["api_url"], info["admin_api_key"]
    marker = f"hosted-{os.getpid()}-{time.monotonic_ns()}"
    body = {
        "name": "outlives-nothing",
        "source_type": "package",
        "command": "python3",
        "args": ["-c", f"import time  # {marker}\ntime.sleep(900)"],
    }
    assert http("POST", f"{base}/v1/mcp/servers", key, body).status == 201
    deadline = time.monotonic() + 120
    while not processes_with(marker):  # the workflow deployed it: a bridge and its stdio server run
        assert time.monotonic() < deadline, "the hosted server never started"
        time.sleep(0.2)
    process.send_signal(sig)
    process.wait(timeout=30)
    wait_no_processes(marker)
