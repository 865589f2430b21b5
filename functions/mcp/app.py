"""POST/GET/DELETE /mcp, /mcp/toolsets/{toolset_id}, /mcp/servers/{server_id}: the MCP endpoint."""

from typing import Any

from portico.gateway.protocol import serve


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serve(event)
