"""The data plane: talking MCP to downstream servers."""
