"""A local API Gateway: template routes → REQUEST authorizer → the endpoint's handler, over real HTTP.

Each request becomes an API Gateway REST proxy event (v1). Authorizer failures answer as the
template's gateway responses do: 401 UNAUTHORIZED, 403 FORBIDDEN.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from portico.local.lambdas import Lambdas
from portico.local.template import ApiRoute
from portico.observability import logger

UNAUTHORIZED = {"error_code": "UNAUTHORIZED", "message": "Missing or invalid credentials.", "details": {}}
FORBIDDEN = {"error_code": "FORBIDDEN", "message": "Access denied.", "details": {}}
_REQUEST_PREFIX = uuid.uuid4().hex[:12]
_request_numbers = itertools.count(1)
ARN_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:local"
MAX_BODY = 6 * 1024 * 1024  # API Gateway's Lambda proxy payload limit
_MAX_LINE, _MAX_HEADERS = 65536, 100  # the standard library's bounds on request header lines


class _Headers:
    """Request headers in arrival order; ``get`` is case-insensitive and returns the first value."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields
        self._first: dict[str, str] = {}
        for name, value in fields:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: Any = None) -> Any:
        return self._first.get(name.lower(), default)

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)


class LocalApiGateway:
    def __init__(
        self,
        routes: list[ApiRoute],
        lambdas: Lambdas,
        authorizer: str | None,
        stage: str = "local",
        responses: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.routes = routes
        self.responses = responses or {}
        self.lambdas = lambdas
        self.authorizer = authorizer
        self.stage = stage
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ routing
    def match(self, method: str, path: str) -> tuple[ApiRoute | None, dict[str, str], bool]:
        """The route for a request, its path parameters, and whether the path exists under another method."""
        path_known = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found:
                path_known = True
                if route.method in (method, "ANY"):
                    return route, found.groupdict(), True
        return None, {}, path_known

    def event(
        self,
        method: str,
        raw_path: str,
        headers: dict[str, list[str]],
        body: bytes,
        route: ApiRoute,
        params: dict[str, str],
        source_ip: str,
    ) -> dict[str, Any]:
        split = urlsplit(raw_path)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        multi_query: dict[str, list[str]] = {}
        for k, v in pairs:
            multi_query.setdefault(k, []).append(v)
        try:
            text, is_b64 = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, is_b64 = base64.b64encode(body).decode(), True
        request_id = f"{_REQUEST_PREFIX}-{next(_request_numbers):08x}"
        return {
            "resource": route.path,
            "path": split.path,
            "httpMethod": method,
            "headers": {k: v[-1] for k, v in headers.items()},
            "multiValueHeaders": headers,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.path,
                "httpMethod": method,
                "path": f"/{self.stage}{split.path}",
                "stage": self.stage,
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTimeEpoch": int(time.time() * 1000),
                "protocol": "HTTP/1.1",
                "accountId": "123456789012",
                "apiId": "local",
                "domainName": headers.get("Host", ["localhost"])[-1],
                "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent", [""])[-1]},
            },
            "body": text or None,
            "isBase64Encoded": is_b64,
        }

    def authorize(self, event: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        """Run the REQUEST authorizer; return its context, or the status to answer with."""
        assert self.authorizer is not None
        request = {
            "type": "REQUEST",
            "methodArn": f"{ARN_PREFIX}/{self.stage}/{event['httpMethod']}{event['path']}",
            **{
                k: event[k]
                for k in (
                    "resource",
                    "path",
                    "httpMethod",
                    "headers",
                    "multiValueHeaders",
                    "queryStringParameters",
                    "multiValueQueryStringParameters",
                    "pathParameters",
                    "stageVariables",
                    "requestContext",
                )
            },
        }
        try:
            result = self.lambdas.invoke(self.authorizer, request)
        except Exception as exc:  # an authorizer that raises is a 401 (or 500) in API Gateway too
            return None, 401 if str(exc) == "Unauthorized" else 500
        statements = result.get("policyDocument", {}).get("Statement", [])
        if not any(s.get("Effect") == "Allow" for s in statements):
            return None, 403
        return {**result.get("context", {}), "principalId": result.get("principalId")}, 200

    def handle(
        self, method: str, raw_path: str, headers: dict[str, list[str]], body: bytes, source_ip: str = "127.0.0.1"
    ) -> tuple[int, dict[str, list[str]], bytes]:
        """One HTTP exchange through the gateway, as (status, headers, body)."""
        path = urlsplit(raw_path).path
        route, params, path_known = self.match(method, path)
        if route is None:
            status = 405 if path_known else 404
            code = "METHOD_NOT_ALLOWED" if path_known else "RESOURCE_NOT_FOUND"
            return _json(status, {"error_code": code, "message": f"no route for {method} {path}", "details": {}})
        if len(body) > MAX_BODY:
            return _json(413, {"error_code": "VALIDATION_ERROR", "message": "request body too large", "details": {}})
        event = self.event(method, raw_path, headers, body, route, params, source_ip)
        if route.authorized and self.authorizer:
            context, status = self.authorize(event)
            if context is None:
                kind = {401: "UNAUTHORIZED", 403: "ACCESS_DENIED"}.get(status, "DEFAULT_5XX")
                return self.gateway_response(kind, status)
            event["requestContext"]["authorizer"] = context
        try:
            response = self.lambdas.invoke(route.function, event)
        except Exception:  # a crashing Lambda is a 502 in API Gateway
            logger.exception("handler crashed", function=route.function)
            return _json(502, {"error_code": "INTERNAL_ERROR", "message": "Internal server error", "details": {}})
        return _to_http(response)

    def gateway_response(self, kind: str, status: int) -> tuple[int, dict[str, list[str]], bytes]:
        """API Gateway's own answer (as the template's GatewayResponse resources define it)."""
        spec = self.responses.get(kind) or {}
        fallback = {"UNAUTHORIZED": UNAUTHORIZED, "ACCESS_DENIED": FORBIDDEN}.get(
            kind, {"error_code": "INTERNAL_ERROR", "message": "Internal error.", "details": {}}
        )
        body = (spec.get("body") or json.dumps(fallback)).encode()
        headers = {"Content-Type": ["application/json"], **{k: [v] for k, v in (spec.get("headers") or {}).items()}}
        return spec.get("status") or status, headers, body

    # ------------------------------------------------------------ HTTP server
    def start(self, host: str, port: int) -> int:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as separate writes: without TCP_NODELAY, Nagle's algorithm and the
            # client's delayed ACK add ~40 ms to every keep-alive exchange.
            disable_nagle_algorithm = True
            raw_requestline: bytes

            def parse_request(self) -> bool:
                """The request line and headers. Plain HTTP/1.x requests are parsed here, without the
                email-message parser the standard library uses (a third of this gateway's time per request);
                anything unusual goes to the standard parser, which answers it."""
                words = self.raw_requestline.split()
                if len(words) != 3 or words[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
                    return bool(super().parse_request())
                command, path, version = (w.decode("iso-8859-1") for w in words)
                self.command, self.request_version = command, version
                self.requestline = f"{command} {path} {version}"
                self.path = "/" + path.lstrip("/") if path.startswith("//") else path
                self.close_connection = version == "HTTP/1.0"
                fields: list[tuple[str, str]] = []
                while True:
                    line = self.rfile.readline(_MAX_LINE + 1)
                    if len(line) > _MAX_LINE or len(fields) > _MAX_HEADERS:
                        self.send_error(431, "Request header fields too large")
                        return False
                    if line in (b"\r\n", b"\n", b""):
                        break
                    text = line.decode("iso-8859-1").rstrip("\r\n")
                    if text[:1] in (" ", "\t") and fields:  # an obsolete folded continuation
                        fields[-1] = (fields[-1][0], f"{fields[-1][1]} {text.strip()}")
                        continue
                    name, colon, value = text.partition(":")
                    if not colon or not name or name != name.strip():
                        self.send_error(400, "Bad header line")
                        return False
                    fields.append((name, value.strip()))
                self.headers = _Headers(fields)  # type: ignore[assignment]
                connection = self.headers.get("Connection", "").lower()
                if connection == "close":
                    self.close_connection = True
                elif connection == "keep-alive":
                    self.close_connection = False
                if self.headers.get("Expect", "").lower() == "100-continue" and version == "HTTP/1.1":
                    return bool(self.handle_expect_100())
                return True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers: dict[str, list[str]] = {}
                for key, value in self.headers.items():
                    headers.setdefault(key, []).append(value)
                status, out_headers, payload = gateway.handle(
                    self.command, self.path, headers, body, self.client_address[0]
                )
                # Status line, headers and body in one write (one segment on the wire for small answers).
                phrase = self.responses.get(status, ("",))[0]
                head = [
                    f"{self.protocol_version} {status} {phrase}\r\n",
                    f"Server: {self.version_string()}\r\nDate: {self.date_time_string()}\r\n",
                ]
                for key, values in out_headers.items():
                    if key.lower() == "content-length":
                        continue
                    if key.lower() == "connection" and any(v.lower() == "close" for v in values):
                        self.close_connection = True
                    head.extend(f"{key}: {value}\r\n" for value in values)
                head.append(f"Content-Length: {len(payload)}\r\n\r\n")
                out = "".join(head).encode("latin-1", "strict")
                self.wfile.write(out if self.command == "HEAD" else out + payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet; requests are logged by handlers
                return

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default 5 drops SYNs when clients connect at once (1 s retries)
            daemon_threads = True

        self._server = Server((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-apigw", daemon=True)
        self._thread.start()
        return int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()


def _json(
    status: int, body: dict[str, Any], headers: dict[str, list[str]] | None = None
) -> tuple[int, dict[str, list[str]], bytes]:
    return status, {"Content-Type": ["application/json"], **(headers or {})}, json.dumps(body).encode()


def _to_http(response: dict[str, Any]) -> tuple[int, dict[str, list[str]], bytes]:
    """Map a Lambda proxy response back to HTTP."""
    status = int(response.get("statusCode", 200))
    headers: dict[str, list[str]] = {k: [str(v)] for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers[key] = [str(v) for v in values]
    body = response.get("body") or ""
    payload = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode()
    return status, headers, payload
