"""The local API gateway's HTTP/1.1 handling over a raw socket: keep-alive, header parsing, Expect,
connection close, and the standard parser's answers to unusual request lines."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

from portico.local.runtime import LocalRuntime
from tests.factories.orgs import OrgCtx


def connect(runtime: LocalRuntime) -> socket.socket:
    parts = urlsplit(runtime.api_url)
    return socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=20)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response: status, headers (lower-cased), body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except OSError:
        return True


def test_keep_alive_serves_requests_in_turn_with_any_header_case(runtime: LocalRuntime, org: OrgCtx) -> None:
    with connect(runtime) as sock:
        for _ in range(2):
            sock.sendall(
                f"GET /v1/auth/me HTTP/1.1\r\nHost: local\r\nauthorization: Bearer {org.admin_key}\r\n\r\n".encode()
            )
            status, headers, body = read_response(sock)
            assert status == 200, body
            assert json.loads(body)["data"]["principal"]["org_id"] == org.org_id
            assert headers["content-type"].startswith("application/json") and "date" in headers


def test_a_body_after_expect_100_continue(runtime: LocalRuntime, org: OrgCtx) -> None:
    body = json.dumps({"name": "expect", "url": "http://a.example/mcp"}).encode()
    with connect(runtime) as sock:
        sock.sendall(
            (
                f"POST /v1/mcp/servers HTTP/1.1\r\nHost: local\r\nAuthorization: Bearer {org.admin_key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
            ).encode()
        )
        interim = sock.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100")
        sock.sendall(body)
        status, _, answer = read_response(sock)
        assert status == 201, answer
        assert json.loads(answer)["data"]["name"] == "expect"


def test_folded_and_duplicate_headers_and_connection_close(runtime: LocalRuntime, org: OrgCtx) -> None:
    with connect(runtime) as sock:
        sock.sendall(
            (
                "GET /v1/auth/me HTTP/1.1\r\nHost: local\r\nX-Note: one\r\n two\r\nX-Note: three\r\n"
                f"Authorization: Bearer {org.admin_key}\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        status, _, _ = read_response(sock)
        assert status == 200
        assert closed(sock)


def test_malformed_headers_and_request_lines_are_client_errors(runtime: LocalRuntime) -> None:
    for request, expected in (
        (b"GET /health HTTP/1.1\r\nHost: local\r\nno colon here\r\n\r\n", 400),
        (b"GET /health HTTP/1.1\r\nHost : local\r\n\r\n", 400),
        (b"GET /health extra HTTP/1.1\r\n\r\n", 400),
        (b"GET /health HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 120 + b"\r\n", 431),
    ):
        with connect(runtime) as sock:
            sock.sendall(request)
            status, _, _ = read_response(sock)
            assert status == expected, request[:40]


def test_http_1_0_closes_after_the_answer(runtime: LocalRuntime) -> None:
    with connect(runtime) as sock:
        sock.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        status, _, body = read_response(sock)
        assert status == 200 and json.loads(body)
        assert closed(sock)
