"""The demo MCP server `portico dev` starts beside Portico: `@modelcontextprotocol/server-everything`
on a free loopback port, registered and synced in the demo organization through the public API."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portico.local.aws import die_with_parent

LOOPBACK_PRELOAD = Path(__file__).with_name("loopback.cjs")


@dataclass
class DemoServer:
    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(root: Path, timeout: float = 30.0) -> DemoServer | None:
    """Start server-everything if Node and the package are installed; None otherwise."""
    entry = root / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
    node = shutil.which("node")
    if node is None or not entry.exists():
        return None
    port = _free_port()
    # A clean environment: the demo's `get-env` tool prints everything it is given.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PORT": str(port), "HOME": str(root)}
    process = subprocess.Popen(
        [node, "--require", str(LOOPBACK_PRELOAD), str(entry), "streamableHttp"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,  # even a SIGKILLed Portico leaves no demo server behind
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return DemoServer(process, f"http://127.0.0.1:{port}/mcp")
        time.sleep(0.05)
    DemoServer(process, "").stop()
    return None


def register(api_url: str, admin_key: str, demo: DemoServer) -> dict[str, Any]:
    """Register and sync the demo server through Portico's own API."""

    def call(method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{api_url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["data"]

    server = call(
        "POST",
        "/v1/mcp/servers",
        {
            "name": "demo-everything",
            "url": demo.url,
            "tags": ["demo"],
            "description": "The MCP reference server, started by `portico dev`.",
        },
    )
    synced = call("POST", f"/v1/mcp/servers/{server['id']}/sync")
    return {"demo_server_id": server["id"], "demo_server_url": demo.url, "demo_tools": synced["tools_count"]}
