"""Portico: host, govern and serve MCP servers for an organization."""

__version__ = "0.1.0"
