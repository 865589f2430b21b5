"""Call Portico's API: in-process through the local API gateway (real API Gateway events, the
authorizer, the endpoint's lambda_handler), or over HTTP against a running `portico dev`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from portico.local.apigw import LocalApiGateway


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def data(self) -> Any:
        assert self.status < 400, f"expected success, got {self.status}: {self.body}"
        return self.body["data"]

    @property
    def code(self) -> str | None:
        """The error code: REST ``error_code``, or a JSON-RPC error's ``data.error_code``."""
        if not isinstance(self.body, dict):
            return None
        if "error_code" in self.body:
            return str(self.body["error_code"])
        data = (self.body.get("error") or {}).get("data") or {}
        return data.get("error_code") if isinstance(data, dict) else None


def _auth_headers(key: str | None, headers: dict[str, str] | None) -> dict[str, str]:
    out = dict(headers or {})
    if key:
        out.setdefault("Authorization", f"Bearer {key}")
    return out


class Api:
    """In-process: no sockets, same events and handlers as API Gateway would use."""

    def __init__(self, gateway: LocalApiGateway) -> None:
        self.gateway = gateway

    def call(
        self,
        method: str,
        path: str,
        key: str | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        all_headers = _auth_headers(key, headers)
        body = raw if raw is not None else (json.dumps(json_body).encode() if json_body is not None else b"")
        if body and "Content-Type" not in all_headers:
            all_headers["Content-Type"] = "application/json"
        status, out_headers, payload = self.gateway.handle(method, path, {k: [v] for k, v in all_headers.items()}, body)
        parsed = json.loads(payload) if payload else None
        return Reply(status, parsed, {k: v[-1] for k, v in out_headers.items()})

    def get(self, path: str, key: str | None = None, **kw: Any) -> Reply:
        return self.call("GET", path, key, **kw)

    def post(self, path: str, key: str | None = None, body: Any = None, **kw: Any) -> Reply:
        return self.call("POST", path, key, json_body=body, **kw)

    def patch(self, path: str, key: str | None = None, body: Any = None, **kw: Any) -> Reply:
        return self.call("PATCH", path, key, json_body=body, **kw)

    def put(self, path: str, key: str | None = None, body: Any = None, **kw: Any) -> Reply:
        return self.call("PUT", path, key, json_body=body, **kw)

    def delete(self, path: str, key: str | None = None, **kw: Any) -> Reply:
        return self.call("DELETE", path, key, **kw)


def http(method: str, url: str, key: str | None = None, body: Any = None, timeout: float = 30) -> Reply:
    """Plain HTTP, as a newcomer's curl would."""
    data = json.dumps(body).encode() if body is not None else None
    headers = _auth_headers(key, {"Content-Type": "application/json"} if data else None)
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
            status, out_headers = response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        payload, status, out_headers = exc.read(), exc.code, dict(exc.headers)
    return Reply(status, json.loads(payload) if payload else None, out_headers)
