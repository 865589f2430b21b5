"""Identifiers and timestamps."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def new_id(prefix: str) -> str:
    """A resource id: ``prefix_`` + 12 random bytes (96 bits) as lowercase hex."""
    return f"{prefix}_{secrets.token_hex(12)}"


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe secret with ``nbytes`` of entropy."""
    return secrets.token_urlsafe(nbytes)


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with millisecond precision and a ``Z`` suffix (sorts lexically)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return iso(now())
