"""The stdio ↔ Streamable HTTP bridge: ``python -m portico.hosting.bridge --port N -- command args…``

Built from the installed ``mcp`` SDK's own pieces, not a new protocol implementation: the SDK client
launches the stdio server (``StdioServerParameters``) and holds one session to it; an SDK low-level
``Server`` serves Streamable HTTP (stateless, JSON responses) on 127.0.0.1 and forwards tools,
resources and prompts to that session. It listens only once the stdio server has answered
``initialize``; a server that exits or never answers makes the bridge exit non-zero with the reason
on stderr (which the platform sends to the server's logs).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def _kill_children() -> None:
    """Stop the stdio server: the SDK starts it in its own session, so our process group misses it."""
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[1] == me:
                os.killpg(int(stat.parent.name), signal.SIGKILL)


async def serve(command: str, args: list[str], port: int, init_timeout: float) -> None:
    import uvicorn
    from mcp import Client, StdioServerParameters
    from mcp.server.lowlevel.server import Server

    params = StdioServerParameters(command=command, args=args, env=dict(os.environ))
    ready = threading.Event()

    def watchdog() -> None:
        if not ready.wait(init_timeout):
            print(f"portico-bridge: the server did not answer initialize within {init_timeout:g}s", file=sys.stderr)
            sys.stderr.flush()
            _kill_children()
            os._exit(3)

    # Until uvicorn installs its own (graceful) handler, a stop takes the stdio server down with us.
    def stop(*_: Any) -> None:
        _kill_children()
        os._exit(143)

    signal.signal(signal.SIGTERM, stop)
    threading.Thread(target=watchdog, daemon=True).start()
    async with Client(params, mode="legacy") as client:
        ready.set()
        capabilities = client.server_capabilities
        info = client.server_info
        handlers: dict[str, Any] = {}
        if capabilities.tools is not None:

            async def list_tools(ctx: Any, params: Any) -> Any:
                return await client.list_tools(cursor=params.cursor if params else None)

            async def call_tool(ctx: Any, params: Any) -> Any:
                return await client.call_tool(params.name, params.arguments or {})

            handlers.update(on_list_tools=list_tools, on_call_tool=call_tool)
        if capabilities.resources is not None:

            async def list_resources(ctx: Any, params: Any) -> Any:
                return await client.list_resources(cursor=params.cursor if params else None)

            async def read_resource(ctx: Any, params: Any) -> Any:
                return await client.read_resource(params.uri)

            handlers.update(on_list_resources=list_resources, on_read_resource=read_resource)
        if capabilities.prompts is not None:

            async def list_prompts(ctx: Any, params: Any) -> Any:
                return await client.list_prompts(cursor=params.cursor if params else None)

            async def get_prompt(ctx: Any, params: Any) -> Any:
                return await client.get_prompt(params.name, params.arguments)

            handlers.update(on_list_prompts=list_prompts, on_get_prompt=get_prompt)
        server: Server[Any] = Server(
            info.name if info else "hosted",
            version=(info.version if info else "") or "",
            instructions=client.instructions,
            **handlers,
        )
        app = server.streamable_http_app(stateless_http=True, json_response=True, host="127.0.0.1")
        print(f"portico-bridge: {info.name if info else command} ready on 127.0.0.1:{port}", file=sys.stderr)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        await uvicorn.Server(config).serve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="portico-bridge", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--init-timeout", type=float, default=30.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    ns = parser.parse_args(argv)
    command = [c for c in ns.command if c != "--"] if ns.command[:1] == ["--"] else ns.command
    if not command:
        parser.error("a command to run is required after --")
    import anyio

    try:
        anyio.run(serve, command[0], command[1:], ns.port, ns.init_timeout)
    except SystemExit:
        raise
    except BaseException as exc:  # the bridge's top-level edge: the reason goes to the server's logs
        inner: BaseException = exc
        while isinstance(inner, BaseExceptionGroup) and inner.exceptions:
            inner = inner.exceptions[0]
        print(f"portico-bridge: the server failed: {type(inner).__name__}: {inner}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
