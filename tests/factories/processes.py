"""Start helper processes (MCP servers) on loopback and wait for them with a bound, never a sleep."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


@contextlib.contextmanager
def running(command: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in its own process group until the block ends; it must listen on ``port``."""
    process = subprocess.Popen(
        command,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def demo_server(transport: str, port: int) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    return running([sys.executable, str(FIXTURES / "demo_server.py"), transport, str(port)], port)


def black_hole(port: int) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    return running([sys.executable, str(FIXTURES / "black_hole.py"), str(port)], port)


@contextlib.contextmanager
def server_everything() -> Iterator[str]:
    """`@modelcontextprotocol/server-everything` (installed by `make` from package-lock.json) on loopback,
    started exactly as `portico dev` starts its demo; yields its Streamable HTTP URL."""
    from portico.local import demo

    server = demo.start(ROOT)
    if server is None:
        raise RuntimeError("server-everything is not installed: run `make test` (it runs `npm ci`)")
    try:
        yield server.url
    finally:
        server.stop()


def tricky_server(port: int) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """`tests/fixtures/tricky_server.py`: a colliding tool name and hidden characters."""
    return running([sys.executable, str(FIXTURES / "tricky_server.py"), str(port)], port)


def guarded_server(port: int, *extra: str) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """``tests/fixtures/guarded_server.py``: bearer-token and/or (m)TLS guarded MCP server on loopback."""
    return running([sys.executable, str(FIXTURES / "guarded_server.py"), str(port), *extra], port)
