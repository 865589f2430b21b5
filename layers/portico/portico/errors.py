"""Domain errors. They know nothing of HTTP or JSON-RPC: ``portico.http`` and the gateway map them once."""

from __future__ import annotations

from typing import Any


class PorticoError(Exception):
    """Base of every error Portico reports to a caller."""

    code = "INTERNAL_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationError(PorticoError):
    code = "VALIDATION_ERROR"


class UnauthorizedError(PorticoError):
    code = "UNAUTHORIZED"


class ForbiddenError(PorticoError):
    code = "FORBIDDEN"


class TierRequiredError(PorticoError):
    code = "TIER_REQUIRED"


class QuotaExceededError(PorticoError):
    code = "QUOTA_EXCEEDED"


class NotFoundError(PorticoError):
    code = "RESOURCE_NOT_FOUND"

    def __init__(self, kind: str, resource_id: str) -> None:
        super().__init__(f"{kind} {resource_id} not found", resource=kind, id=resource_id)


class PasswordChangeRequiredError(PorticoError):
    """A temporary password was right, but a new one must be chosen before a token is issued."""

    code = "PASSWORD_CHANGE_REQUIRED"


class ConflictError(PorticoError):
    code = "CONFLICT"


class RateLimitedError(PorticoError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: int, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class ApprovalRequiredError(PorticoError):
    code = "APPROVAL_REQUIRED"


class UpstreamError(PorticoError):
    code = "UPSTREAM_ERROR"


class UpstreamTimeoutError(UpstreamError):
    code = "UPSTREAM_TIMEOUT"


class ConfigurationError(PorticoError):
    code = "INTERNAL_ERROR"


HTTP_STATUS: dict[str, int] = {
    "VALIDATION_ERROR": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "PASSWORD_CHANGE_REQUIRED": 403,
    "TIER_REQUIRED": 403,
    "QUOTA_EXCEEDED": 403,
    "RESOURCE_NOT_FOUND": 404,
    "CONFLICT": 409,
    "RATE_LIMITED": 429,
    "APPROVAL_REQUIRED": 403,
    "UPSTREAM_ERROR": 502,
    "UPSTREAM_TIMEOUT": 504,
    "INTERNAL_ERROR": 500,
}
