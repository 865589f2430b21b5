"""Organizations and principals for tests: an org per test, keys per role."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from tests.factories.api import Api

_counter = itertools.count()


@dataclass
class OrgCtx:
    api: Api
    org_id: str
    admin_key: str
    admin_user_id: str

    def member_key(self, role: str) -> str:
        """A new member with ``role`` and an API key owned by it."""
        n = next(_counter)
        member = self.api.post(
            "/v1/org/members", self.admin_key, {"email": f"{role}{n}@example.com", "role": role}
        ).data
        created = self.api.post("/v1/api-keys", self.admin_key, {"name": f"{role} key", "user_id": member["id"]}).data
        return str(created["secret"])


def new_org(api: Api, operator_key: str, tier: str = "studio", name: str | None = None) -> OrgCtx:
    reply = api.post("/v1/orgs", operator_key, {"name": name or f"org {next(_counter)}", "tier": tier})
    data = reply.data
    return OrgCtx(api, data["org"]["id"], data["admin_api_key"], data["admin"]["id"])
