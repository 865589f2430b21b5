"""What each tier may have (SPEC §2: quotas come from the tier)."""

from __future__ import annotations

from portico.models.common import Tier

REMOTE_SERVERS = {Tier.FREE: 3, Tier.PRO: 50, Tier.STUDIO: 200}


def remote_server_limit(tier: Tier | None) -> int:
    return REMOTE_SERVERS[tier or Tier.FREE]


# Calls per minute per principal (a user, or a service key), unless the org sets default_rate_limits.
PRINCIPAL_CALLS_PER_MINUTE = {Tier.FREE: 600, Tier.PRO: 6_000, Tier.STUDIO: 60_000}


def principal_rate_limit(tier: Tier | None) -> tuple[int, int]:
    """The tier's default per-principal limit as ``(limit, interval seconds)``."""
    return PRINCIPAL_CALLS_PER_MINUTE[tier or Tier.FREE], 60


# Hosted servers (seed 000): Studio only, at most 5 per organization.
HOSTED_SERVERS = {Tier.FREE: 0, Tier.PRO: 0, Tier.STUDIO: 5}


def hosted_server_limit(tier: Tier | None) -> int:
    return HOSTED_SERVERS[tier or Tier.FREE]
