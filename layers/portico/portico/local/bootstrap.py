"""First-run content of a local Portico: an operator key, a demo organization and its admin key."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from portico.models.common import Tier
from portico.models.identity import OrgCreate

ADMIN_USERNAME = "admin"


def bootstrap(api_url: str) -> dict[str, Any]:
    """Create the operator key, the demo organization and its admin's login; return what ``local.json`` holds."""
    from portico.services.logins import temporary_password
    from portico.wiring import identity, logins

    service = identity()
    _, operator_key = service.create_operator_key("local operator")
    created = service.bootstrap_org(OrgCreate(name="Demo", tier=Tier.STUDIO), "admin@portico.local", None)
    # The admin also logs in with a password (POST /v1/auth/login), as a person would.
    admin_password = temporary_password()
    logins().bootstrap_login(created.org.id, created.admin.id, ADMIN_USERNAME, admin_password)
    info = {
        "api_url": api_url,
        "mcp_url": f"{api_url}/mcp",
        "health_url": f"{api_url}/health",
        "org_id": created.org.id,
        "admin_user_id": created.admin.id,
        "admin_api_key": created.admin_api_key,
        "admin_username": ADMIN_USERNAME,
        "admin_password": admin_password,
        "operator_api_key": operator_key,
    }
    return info


def write_state(state_dir: Path, info: dict[str, Any]) -> None:
    """Write ``local.json`` readable by its owner only (it holds keys)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "local.json"
    partial = path.with_suffix(".json.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(info, out, indent=2)
    partial.replace(path)  # readers never see half a file


def remove_state(state_dir: Path, pid: int) -> None:
    """Remove ``local.json`` if this process wrote it."""
    path = state_dir / "local.json"
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError):
        pass
