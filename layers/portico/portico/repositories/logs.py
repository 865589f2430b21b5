"""Hosted servers' logs in CloudWatch Logs: one stream prefix per server, written by the platform
(ECS's awslogs driver in AWS, the local process registry locally) and by the workflow's own steps."""

from __future__ import annotations

import contextlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from portico.repositories.aws import client

LEVELS = ("debug", "info", "warning", "error")


def entry(event: dict[str, Any]) -> dict[str, str]:
    """A log event as the API shows it: Portico's own lines are JSON with a level; process output is info."""
    text = str(event.get("message", "")).rstrip("\n")
    level = "info"
    try:
        parsed = json.loads(text) if text.startswith("{") else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("level") in LEVELS and isinstance(parsed.get("message"), str):
        level, text = parsed["level"], parsed["message"]
    stamp = datetime.fromtimestamp(int(event.get("timestamp", 0)) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"timestamp": stamp[:-4] + "Z", "level": level, "message": text[:8192]}


class LogStore:
    """Port over one CloudWatch Logs group."""

    def __init__(self, group: str) -> None:
        self.group = group

    @property
    def _logs(self) -> Any:
        return client("logs")

    def write(self, stream: str, messages: list[str]) -> None:
        """Append lines to ``stream`` (created on first use)."""
        if not messages:
            return
        logs = self._logs
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": m[:200_000]} for m in messages]
        try:
            logs.put_log_events(logGroupName=self.group, logStreamName=stream, logEvents=events)
        except logs.exceptions.ResourceNotFoundException:
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_stream(logGroupName=self.group, logStreamName=stream)
            logs.put_log_events(logGroupName=self.group, logStreamName=stream, logEvents=events)

    def event(self, stream: str, level: str, message: str) -> None:
        """One of Portico's own lines about a server (its lifecycle, a failure's cause)."""
        self.write(stream, [json.dumps({"level": level, "message": message, "source": "portico"})])

    def page(self, prefix: str, limit: int, token: str | None = None) -> tuple[list[dict[str, str]], str | None]:
        """Oldest-first events of every stream under ``prefix``, ``limit`` at a time."""
        logs = self._logs
        request: dict[str, Any] = {"logGroupName": self.group, "logStreamNamePrefix": prefix, "limit": limit}
        if token:
            request["nextToken"] = token
        try:
            response = logs.filter_log_events(**request)
        except logs.exceptions.ResourceNotFoundException:
            return [], None
        events = sorted(response.get("events", []), key=lambda e: (e.get("timestamp", 0), e.get("eventId", "")))
        return [entry(e) for e in events], response.get("nextToken")

    def latest(self, prefix: str, count: int) -> list[dict[str, str]]:
        """The last ``count`` events under ``prefix`` (oldest first)."""
        out: list[dict[str, str]] = []
        token = None
        for _ in range(50):  # bounded: a server's log is paged through at most 50 times here
            page, token = self.page(prefix, 1000, token)
            out = (out + page)[-count:]
            if not token or not page:
                break
        return out

    def delete(self, prefix: str) -> None:
        """Remove every stream under ``prefix`` (a deprovisioned server's data)."""
        logs = self._logs
        try:
            streams = logs.describe_log_streams(logGroupName=self.group, logStreamNamePrefix=prefix).get(
                "logStreams", []
            )
        except logs.exceptions.ResourceNotFoundException:
            return
        for stream in streams:
            with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
                logs.delete_log_stream(logGroupName=self.group, logStreamName=stream["logStreamName"])
