"""Pydantic models for every boundary: requests, responses, items, events."""
