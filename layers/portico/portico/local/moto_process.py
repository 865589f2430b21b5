"""The moto server process of the local runtime: `python -m portico.local.moto_process`.

Prints ``listening <port>`` once it serves on 127.0.0.1, and exits on SIGTERM/SIGINT.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any


def atomic_dynamodb(app: Any) -> Any:
    """Serialize DynamoDB requests: moto's conditional writes and transactions are not atomic across
    its request threads, while DynamoDB's are. Other services (SQS long polls) stay concurrent."""
    lock = threading.Lock()

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with lock:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return wrapped


def main() -> int:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per AWS call otherwise

    class Handler(MotoRequestHandler):
        disable_nagle_algorithm = True  # small responses: don't wait on the client's delayed ACK

    server = make_server(
        "127.0.0.1",
        0,
        atomic_dynamodb(DomainDispatcherApplication(create_backend_app)),
        True,
        request_handler=Handler,
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
