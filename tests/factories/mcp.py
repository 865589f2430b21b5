"""Real MCP clients for tests: the `mcp` SDK client and the MCP Inspector CLI (from npm)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.factories.processes import ROOT

T = TypeVar("T")


@asynccontextmanager
async def connect(url: str, key: str, mode: str = "legacy") -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,  # type: ignore[arg-type]
    ):
        yield client


def with_client(url: str, key: str, mode: str, work: Callable[[Client], Awaitable[T]]) -> T:
    """Open an SDK client session to ``url``, run ``work(client)``, close, and return its result."""

    async def main() -> T:
        async with connect(url, key, mode) as client:
            return await work(client)

    return anyio.run(main)


def inspector(url: str, key: str, method: str, *args: str, tmp: Path) -> Any:
    """`@modelcontextprotocol/inspector --cli` against ``url``; returns its JSON output."""
    command = [
        str(ROOT / "node_modules" / ".bin" / "mcp-inspector"),
        "--cli",
        url,
        "--transport",
        "http",
        "--header",
        f"Authorization: Bearer {key}",
        "--method",
        method,
        *args,
    ]
    env = {**os.environ, "MCP_CATALOG_PATH": str(tmp / "inspector-catalog.json"), "HOME": str(tmp)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, env=env, check=False)
    try:
        return json.loads(done.stdout)
    except ValueError as exc:
        raise AssertionError(f"inspector said: {done.stdout[-500:]} {done.stderr[-500:]}") from exc
