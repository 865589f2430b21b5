"""Test factories: API clients, organizations and keys, downstream MCP servers, Lambda events."""
