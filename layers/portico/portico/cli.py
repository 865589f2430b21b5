"""The `portico` command: `portico dev` runs Portico locally; `portico operator-key` mints an operator key."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path


def _dev(args: argparse.Namespace) -> int:
    from portico.local import demo as demo_server
    from portico.local.bootstrap import bootstrap, remove_state, write_state
    from portico.local.runtime import LocalRuntime

    started = time.perf_counter()
    runtime = LocalRuntime(host="127.0.0.1", port=args.port, endpoint=args.aws_endpoint)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    demo = None
    try:
        api_url = runtime.start()
        info = bootstrap(api_url)
        info["aws_endpoint"] = runtime.endpoint
        info["pid"] = os.getpid()
        demo = None if args.no_demo else demo_server.start(runtime.root)
        if demo is not None:
            info.update(demo_server.register(api_url, info["admin_api_key"], demo))
        write_state(Path(args.state_dir), info)
        elapsed = time.perf_counter() - started
        print(f"Portico is running on {api_url} (ready in {elapsed:.1f}s)", flush=True)
        print(json.dumps(info, indent=2), flush=True)
        print(f"Wrote {Path(args.state_dir) / 'local.json'}. Press Ctrl+C to stop.", flush=True)
        stop.wait()
    finally:
        if demo is not None:
            demo.stop()
        runtime.stop()
        # The keys in local.json die with this process's in-memory state: don't leave stale ones behind
        # (but leave another running instance's file alone).
        remove_state(Path(args.state_dir), os.getpid())
        print("Portico stopped.", flush=True)
    return 0


def _operator_key(args: argparse.Namespace) -> int:
    """Mint an operator key straight into a deployed main table (needs AWS credentials for that account)."""
    os.environ["PORTICO_MAIN_TABLE"] = args.table
    if args.region:
        os.environ["AWS_REGION"] = args.region
    from portico.wiring import identity

    key, secret = identity().create_operator_key(args.name)
    print(json.dumps({"key_id": key.id, "operator_api_key": secret}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="portico", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="run Portico locally on 127.0.0.1 (moto, no Docker, no AWS account)")
    dev.add_argument("--port", type=int, default=3000, help="API port (0 picks a free one); default 3000")
    dev.add_argument("--state-dir", default=".portico", help="where local.json is written; default .portico")
    dev.add_argument("--aws-endpoint", default=None, help="use this AWS endpoint (e.g. LocalStack) instead of moto")
    dev.add_argument("--no-demo", action="store_true", help="don't start and register the demo MCP server")
    dev.set_defaults(run=_dev)
    op = sub.add_parser("operator-key", help="create a platform-operator API key in a deployed stack")
    op.add_argument("--table", required=True, help="the stack's MainTableName output")
    op.add_argument("--region", default=None)
    op.add_argument("--name", default="operator")
    op.set_defaults(run=_operator_key)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
