"""Hosted MCP servers: the container-platform port, its adapters, connect tokens and the stdio bridge."""
