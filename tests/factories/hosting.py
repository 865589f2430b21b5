"""Hosted servers for tests: wait for a status, build a git repository fixture, find processes."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.factories.api import Api

EVERYTHING = {
    "source_type": "package",
    "command": "npx",
    "args": ["-y", "@modelcontextprotocol/server-everything"],
}

PYTHON_SERVER = '''
from mcp.server import MCPServer

mcp = MCPServer("hello-git")


@mcp.tool()
def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper()


def main() -> None:
    mcp.run("stdio")


if __name__ == "__main__":
    main()
'''


def wait_for(api: Api, key: str, server_id: str, statuses: set[str], bound: float = 240) -> dict[str, Any]:
    """Poll the server until its status is one of ``statuses`` (a bounded wait, not a timing assertion)."""
    deadline = time.monotonic() + bound
    while True:
        reply = api.get(f"/v1/mcp/servers/{server_id}", key)
        if reply.status == 200 and reply.data["status"] in statuses:
            return dict(reply.data)
        if time.monotonic() > deadline:
            raise AssertionError(f"server {server_id} did not reach {statuses}: {reply.body}")
        time.sleep(0.5)


def wait_gone(api: Api, key: str, server_id: str, bound: float = 120) -> None:
    deadline = time.monotonic() + bound
    while api.get(f"/v1/mcp/servers/{server_id}", key).status != 404:
        if time.monotonic() > deadline:
            raise AssertionError(f"server {server_id} was not removed")
        time.sleep(0.5)


def git_repo(path: Path, files: dict[str, str]) -> Path:
    """A committed git repository holding ``files``."""
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    for argv in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "fixture"]):
        subprocess.run(argv, cwd=path, env=env, check=True, capture_output=True)
    return path


def python_server_repo(path: Path) -> Path:
    """A Python MCP server project as many are laid out: requirements.txt and server.py."""
    return git_repo(path, {"requirements.txt": "mcp\n", "server.py": PYTHON_SERVER})


def processes_with(marker: str) -> list[int]:
    """Live processes whose command line contains ``marker``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in text and state != "Z" and int(cmdline.parent.name) != os.getpid():
            found.append(int(cmdline.parent.name))
    return found


def wait_no_processes(marker: str, bound: float = 30) -> None:
    deadline = time.monotonic() + bound
    while processes_with(marker):
        if time.monotonic() > deadline:
            raise AssertionError(f"processes still running with {marker!r}: {processes_with(marker)}")
        time.sleep(0.2)
