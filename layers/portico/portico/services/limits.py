"""What each tier may have (SPEC §2: quotas come from the tier)."""

from __future__ import annotations

from portico.models.common import Tier

REMOTE_SERVERS = {Tier.FREE: 3, Tier.PRO: 50, Tier.STUDIO: 200}


def remote_server_limit(tier: Tier | None) -> int:
    return REMOTE_SERVERS[tier or Tier.FREE]


# Hosted servers (seed 000): Studio only, at most 5 per organization.
HOSTED_SERVERS = {Tier.FREE: 0, Tier.PRO: 0, Tier.STUDIO: 5}


def hosted_server_limit(tier: Tier | None) -> int:
    return HOSTED_SERVERS[tier or Tier.FREE]
