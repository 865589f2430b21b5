"""Per-invocation context that services may read without knowing about HTTP: the API's public base URL,
and the caller's bearer token (for downstream servers configured to forward it)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from portico.settings import get_settings

_base_url: ContextVar[str | None] = ContextVar("portico_base_url", default=None)
_caller_token: ContextVar[str | None] = ContextVar("portico_caller_token", default=None)


def set_from_event(event: dict[str, Any]) -> None:
    """Remember the public base URL for this invocation: configured, or the request's domain and stage."""
    _caller_token.set(_bearer(event))
    configured = get_settings().public_base_url
    if configured:
        _base_url.set(configured.rstrip("/"))
        return
    context = event.get("requestContext") or {}
    domain = context.get("domainName")
    _base_url.set(f"https://{domain}/{context.get('stage', '')}".rstrip("/") if domain else None)


def public_base_url() -> str:
    return _base_url.get() or (get_settings().public_base_url or "").rstrip("/")


def _bearer(event: dict[str, Any]) -> str | None:
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "authorization" and isinstance(value, str):
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() != "bearer":
                return None
            return token.strip() or None
    return None


def caller_token() -> str | None:
    """The bearer token the current request came with (``auth: forward`` passes it downstream)."""
    return _caller_token.get()
