"""The container-platform port: what the provisioning workflow asks of ECS (in AWS) or local processes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Phase = Literal["pending", "running", "succeeded", "failed"]


@dataclass(frozen=True)
class Workload:
    """Everything a platform needs to build and run one hosted MCP server."""

    server_id: str
    org_id: str
    name: str
    source_type: Literal["git", "image", "package"]
    repository: str | None = None  # git: URL (https://, file://, or a local path locally)
    ref: str | None = None  # git: branch, tag or commit
    subdirectory: str | None = None  # git: project directory inside the repository
    image: str | None = None  # image: reference; git: set from the build's result
    command: str | None = None  # package: executable (npx, uvx, python, node…)
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)  # values already resolved (secrets included); never logged
    cpu: int = 256  # ECS CPU units
    memory: int = 512  # MiB
    port: int = 8080  # the port the MCP server (or the stdio bridge) listens on in the task
    log_group: str = ""  # CloudWatch Logs group the platform writes the server's output to
    log_stream: str = ""  # stream name (prefix) for this server


@dataclass(frozen=True)
class Progress:
    phase: Phase
    message: str = ""  # human-readable; goes to the server's logs on failure
    image: str | None = None  # build: the built image reference
    endpoint_url: str | None = None  # deployment: the MCP URL the gateway reaches (…/mcp), when running


class Platform(Protocol):
    name: str  # "ecs" | "local"

    def start_build(self, w: Workload) -> str:
        """git sources: start building an image; returns a build id. (CodeBuild / local clone+install)"""

    def build_status(self, build_id: str) -> Progress:
        """pending | succeeded (image set) | failed (message says why)."""

    def deploy(self, w: Workload) -> None:
        """Create (or update) what runs the server with one desired instance. Idempotent."""

    def deployment_status(self, w: Workload) -> Progress:
        """pending | running (endpoint_url set) | failed (message says why: exited, no container engine…)."""

    def scale(self, w: Workload, desired: int) -> None:
        """stop = 0, start = 1. Idempotent."""

    def remove(self, w: Workload) -> None:
        """Delete everything deploy/start_build created for this server. Idempotent; safe after partial failure."""
