"""Tools backed by a plain HTTP call (`origin: http`): arguments fill the URL template, the rest go
to the JSON body or the query string; the response comes back as MCP content."""

from __future__ import annotations

import json
import re
import time
from functools import cache
from typing import Any
from urllib.parse import quote, urlencode

import urllib3

from portico.errors import UpstreamError, UpstreamTimeoutError, ValidationError
from portico.gateway.downstream import check_destination
from portico.settings import get_settings

MAX_BODY = 1024 * 1024
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@cache
def _pool() -> urllib3.PoolManager:
    return urllib3.PoolManager(num_pools=50, maxsize=16)


def execute_http_tool(tool: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """Perform the tool's HTTP request; a 4xx/5xx answer is a tool error (``isError``), not an exception.

    Raises:
        ValidationError: an argument the URL needs is missing.
        UpstreamError / UpstreamTimeoutError: the request could not be made or timed out.
    """
    spec = tool["http"]
    missing = [p for p in _PLACEHOLDER.findall(spec["url"]) if p not in arguments]
    if missing:
        raise ValidationError(
            f"missing arguments for the URL: {', '.join(missing)}", field="arguments", missing=missing
        )
    url = _PLACEHOLDER.sub(lambda m: quote(str(arguments[m.group(1)]), safe=""), spec["url"])
    rest = {k: v for k, v in arguments.items() if k not in set(_PLACEHOLDER.findall(spec["url"]))}
    body: bytes | None = None
    headers = dict(spec.get("headers") or {})
    if rest and spec.get("body_mapping") == "json" and spec["method"] in ("POST", "PUT", "PATCH"):
        body = json.dumps(rest).encode()
        headers["Content-Type"] = "application/json"
    elif rest and spec.get("body_mapping") in ("json", "query"):
        url += ("&" if "?" in url else "?") + urlencode(
            {k: v if isinstance(v, str) else json.dumps(v) for k, v in rest.items()}
        )
    check_destination(url)
    settings = get_settings()
    started = time.monotonic()
    try:
        response = _pool().request(
            spec["method"],
            url,
            body=body,
            headers=headers,
            retries=False,
            redirect=False,
            preload_content=False,
            timeout=urllib3.Timeout(connect=settings.downstream_connect_timeout, read=settings.downstream_timeout),
        )
        data = response.read(MAX_BODY + 1)
        response.release_conn()
    except urllib3.exceptions.TimeoutError as exc:
        raise UpstreamTimeoutError(
            f"{tool['name']}: no answer within {settings.downstream_timeout:g}s", tool=tool["name"]
        ) from exc
    except urllib3.exceptions.HTTPError as exc:
        raise UpstreamError(f"{tool['name']}: request failed ({type(exc).__name__})", tool=tool["name"]) from exc
    text = data[:MAX_BODY].decode(errors="replace")
    result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": response.status >= 400}
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        result["structuredContent"] = parsed
    result["_meta"] = {
        "portico/http": {"status": response.status, "elapsed_ms": round((time.monotonic() - started) * 1000, 1)}
    }
    return result
