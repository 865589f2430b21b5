"""Organization settings (seed 002): an allow-listed set of keys, each validated, each taking effect
where it applies — toolset creation (``default_exposure_mode``), receipt TTLs
(``receipt_retention_days``), the per-principal rate limit (``default_rate_limits``) and the MCP
endpoint's Origin check (``allowed_origins``, added to the platform's list)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError as PydanticValidationError

from portico import auth
from portico.errors import ConflictError, ValidationError
from portico.ids import now_iso
from portico.models.common import Role, Tier
from portico.models.identity import Principal
from portico.models.policy import SETTING_KEYS, OrgSettings, OrgSettingsValues, RateLimit, SettingUpdate
from portico.repositories.main import MainRepository
from portico.services.limits import principal_rate_limit
from portico.settings import get_settings

if TYPE_CHECKING:
    from portico.gateway.service import Gateway


def platform_origins() -> list[str]:
    return [o.strip().lower() for o in get_settings().allowed_origins.split(",") if o.strip()]


def exposure_mode(stored: dict[str, Any]) -> str:
    return str(stored.get("default_exposure_mode") or "full")


def retention_days(stored: dict[str, Any]) -> int:
    return int(stored.get("receipt_retention_days") or get_settings().receipt_retention_days)


def principal_limit(stored: dict[str, Any], tier: Tier | None) -> tuple[int, int]:
    """``(limit, interval)`` per principal: the org's default_rate_limits, else the tier's."""
    custom = stored.get("default_rate_limits")
    if custom:
        return int(custom["limit"]), int(custom["interval"])
    return principal_rate_limit(tier)


def origins(stored: dict[str, Any]) -> list[str]:
    return list(stored.get("allowed_origins") or [])


class OrgSettingsService:
    def __init__(self, repo: MainRepository, gateway: Gateway) -> None:
        self.repo = repo
        self.gateway = gateway

    def stored(self, org_id: str) -> dict[str, Any]:
        found = self.repo.get_org_settings(org_id)
        return found[0] if found else {}

    def _view(self, stored: dict[str, Any], tier: Tier | None) -> OrgSettings:
        limit, interval = principal_limit(stored, tier)
        return OrgSettings(
            default_exposure_mode=exposure_mode(stored),  # type: ignore[arg-type]
            receipt_retention_days=retention_days(stored),
            default_rate_limits=RateLimit(limit=limit, interval=interval),
            allowed_origins=origins(stored),
            platform_allowed_origins=platform_origins(),
            sources={k: "org" if stored.get(k) is not None else "default" for k in SETTING_KEYS},
            updated_at=stored.get("updated_at"),
            updated_by=stored.get("updated_by"),
        )

    def get(self, principal: Principal) -> OrgSettings:
        """Every setting's effective value; members and viewers may read them."""
        org_id = auth.require_member(principal)
        return self._view(self.stored(org_id), principal.tier)

    def put(self, principal: Principal, key: str, body: SettingUpdate) -> OrgSettings:
        """Set one allow-listed setting (``value: null`` puts it back to its default).

        Raises:
            ForbiddenError: not an admin.  ValidationError: an unknown key, or a bad value (naming the field).
            ConflictError: concurrent changes kept colliding.
        """
        org_id = auth.require_member(principal, Role.ADMIN)
        if key not in SETTING_KEYS:
            raise ValidationError(f"unknown setting {key!r}", field="key", key=key, allowed=list(SETTING_KEYS))
        try:
            checked = OrgSettingsValues.model_validate({key: body.value})
        except PydanticValidationError as exc:
            error = exc.errors()[0]
            path = ".".join(str(p) for p in error.get("loc", ())[1:])
            field = f"value.{path}" if path else "value"
            raise ValidationError(f"{field}: {error.get('msg')}", field=field, key=key) from exc
        value = checked.model_dump(mode="json")[key]
        for attempt in range(3):
            found = self.repo.get_org_settings(org_id)
            stored, version = found if found else ({}, None)
            stored = {**stored, key: value, "updated_at": now_iso(), "updated_by": principal.principal_id}
            try:
                self.repo.put_org_settings(org_id, stored, version)
                break
            except ConflictError:
                if attempt == 2:
                    raise
        self.gateway.invalidate(org_id)
        return self._view(stored, principal.tier)
