"""The local runtime's Lambda invoke endpoint (loopback only, token-guarded): moto's Lambda, driven by
a state machine's tasks, posts each invocation here and gets the handler's result back."""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from portico.local.lambdas import Lambdas
from portico.observability import logger


class InvokeServer:
    def __init__(self) -> None:
        self.token = secrets.token_urlsafe(24)
        self.lambdas: Lambdas | None = None  # set once the template's functions are known
        self.url = ""
        self._server: ThreadingHTTPServer | None = None

    def invoke(self, name: str, event: Any) -> tuple[bool, Any]:
        """Run ``name``'s handler; ``(errored, payload)`` in Lambda's shapes."""
        if self.lambdas is None or name not in self.lambdas.functions:
            return True, {"errorMessage": f"function {name} is not known locally", "errorType": "ResourceNotFound"}
        try:
            return False, self.lambdas.invoke(name, event)
        except Exception as exc:  # a handler's exception is the function's error result, as in Lambda
            logger.warning("local invocation failed", function=name, error_type=type(exc).__name__)
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            return True, {"errorMessage": message, "errorType": type(exc).__name__}

    def start(self) -> str:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                parts = self.path.strip("/").split("/")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("X-Portico-Invoke-Token") != owner.token or len(parts) != 3:
                    self.send_response(403)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                errored, payload = owner.invoke(parts[1], json.loads(body or b"{}"))
                out = json.dumps(payload, default=str).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if errored:
                    self.send_header("X-Portico-Function-Error", "Unhandled")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="local-invoke", daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
