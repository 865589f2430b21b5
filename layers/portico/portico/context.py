"""Per-invocation context that services may read without knowing about HTTP: the API's public base URL."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from portico.settings import get_settings

_base_url: ContextVar[str | None] = ContextVar("portico_base_url", default=None)


def set_from_event(event: dict[str, Any]) -> None:
    """Remember the public base URL for this invocation: configured, or the request's domain and stage."""
    configured = get_settings().public_base_url
    if configured:
        _base_url.set(configured.rstrip("/"))
        return
    context = event.get("requestContext") or {}
    domain = context.get("domainName")
    _base_url.set(f"https://{domain}/{context.get('stage', '')}".rstrip("/") if domain else None)


def public_base_url() -> str:
    return _base_url.get() or (get_settings().public_base_url or "").rstrip("/")
