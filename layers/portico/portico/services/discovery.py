"""Discovery documents for MCP clients."""

from __future__ import annotations

from typing import Any


def protected_resource(base: str) -> dict[str, Any]:
    """RFC 9728 metadata for the MCP endpoint: bearer tokens in the Authorization header.

    Portico's bearer tokens are API keys (and, with OIDC configured, JWTs of those issuers).
    """
    return {
        "resource": f"{base}/mcp",
        "authorization_servers": [],
        "bearer_methods_supported": ["header"],
        "resource_name": "Portico MCP gateway",
        "resource_documentation": f"{base}/health",
    }
