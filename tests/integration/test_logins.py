"""Members' password logins against the user pool the template declares (moto's Cognito), end to end."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from portico.local.runtime import LocalRuntime
from portico.settings import get_settings
from tests.factories.api import Api
from tests.factories.mcp import with_client
from tests.factories.orgs import OrgCtx
from tests.factories.tokens import moto_pool_key, tampered

_n = itertools.count()
PASSWORD = "Correct-horse-42"


def member_with_login(api: Api, org: OrgCtx, role: str = "member") -> dict[str, Any]:
    """A new member with a login whose first password is already chosen; returns its record + password."""
    email = f"login{next(_n)}-{org.org_id[-6:]}@example.com"
    created = api.post("/v1/org/members", org.admin_key, {"email": email, "role": role, "login": True})
    assert created.status == 201, created.body
    member = created.data
    first = {"username": email, "password": member["temporary_password"], "new_password": PASSWORD}
    assert api.post("/v1/auth/login", None, first).status == 200
    return {**member, "password": PASSWORD}


def login(api: Api, username: str, password: str = PASSWORD) -> str:
    return str(api.post("/v1/auth/login", None, {"username": username, "password": password}).data["access_token"])


def test_a_new_member_logs_in_with_a_temporary_password_then_calls_the_api_and_mcp(
    api: Api, org: OrgCtx, runtime: LocalRuntime, demo_http_url: str
) -> None:
    created = api.post("/v1/org/members", org.admin_key, {"email": "Ada@Example.com", "role": "member", "login": True})
    assert created.status == 201
    member = created.data
    assert member["username"] == "ada@example.com" and len(member["temporary_password"]) >= 12
    assert "temporary_password" not in str(api.get("/v1/org/members", org.admin_key).body)

    first = {"username": "ada@example.com", "password": member["temporary_password"]}
    refused = api.post("/v1/auth/login", None, first)
    assert refused.status == 403 and refused.code == "PASSWORD_CHANGE_REQUIRED"
    weak = api.post("/v1/auth/login", None, {**first, "new_password": "alllowercase1"})
    assert weak.status == 400 and weak.body["details"]["field"] == "new_password"
    issued = api.post("/v1/auth/login", None, {**first, "new_password": PASSWORD})
    assert issued.status == 200, issued.body
    assert issued.data["token_type"] == "bearer" and issued.data["expires_in"] > 0
    token = issued.data["access_token"]

    me = api.get("/v1/auth/me", token).data
    assert me["principal"] == {**me["principal"], "kind": "user", "user_id": member["id"], "role": "member"}
    assert me["principal"]["org_id"] == org.org_id

    server = api.post("/v1/mcp/servers", org.admin_key, {"name": "demo", "url": demo_http_url}).data
    assert api.post(f"/v1/mcp/servers/{server['id']}/sync", org.admin_key).status == 200

    async def work(client: Any) -> Any:
        names = {t.name for t in (await client.list_tools()).tools}
        return names, await client.call_tool("demo__add", {"a": 2, "b": 3})

    names, added = with_client(f"{runtime.api_url}/mcp", token, "legacy", work)
    assert "demo__add" in names
    assert added.structured_content == {"result": 5}


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(api: Api, org: OrgCtx) -> None:
    member = member_with_login(api, org)
    wrong = api.post("/v1/auth/login", None, {"username": member["username"], "password": "Wrong-password-1"})
    unknown = api.post("/v1/auth/login", None, {"username": "nobody@example.com", "password": "Wrong-password-1"})
    assert wrong.status == unknown.status == 401
    assert wrong.body == unknown.body and wrong.code == "UNAUTHORIZED"
    assert api.post("/v1/auth/login", None, {"username": member["username"]}).code == "VALIDATION_ERROR"
    extra = {"username": "x", "password": "y", "role": "admin"}
    assert api.post("/v1/auth/login", None, extra).code == "VALIDATION_ERROR"


def test_a_member_changes_its_password(api: Api, org: OrgCtx) -> None:
    member = member_with_login(api, org)
    token = login(api, member["username"])
    change = {"old_password": PASSWORD, "new_password": "Another-horse-43"}
    short = api.post("/v1/auth/password", token, {**change, "new_password": "Short-1"})
    assert short.status == 400 and short.body["details"]["field"] == "new_password"
    no_digit = api.post("/v1/auth/password", token, {**change, "new_password": "No-digits-at-all"})
    assert no_digit.status == 400 and no_digit.body["details"]["field"] == "new_password"
    wrong_old = api.post("/v1/auth/password", token, {**change, "old_password": "Not-the-password-1"})
    assert wrong_old.status == 400 and wrong_old.body["details"]["field"] == "old_password"
    assert api.post("/v1/auth/password", token, change).status == 204
    assert api.post("/v1/auth/login", None, {"username": member["username"], "password": PASSWORD}).status == 401
    assert login(api, member["username"], "Another-horse-43")


def test_only_a_password_login_can_change_a_password(api: Api, org: OrgCtx) -> None:
    change = {"old_password": PASSWORD, "new_password": "Another-horse-43"}
    reply = api.post("/v1/auth/password", org.admin_key, change)
    assert reply.status == 403 and reply.code == "FORBIDDEN"
    assert api.post("/v1/auth/password", None, change).status == 401


def test_admins_give_a_login_to_an_existing_member_and_reset_it(api: Api, org: OrgCtx) -> None:
    plain = api.post("/v1/org/members", org.admin_key, {"email": f"plain{next(_n)}@example.com"}).data
    assert plain["username"] is None
    member_key = org.member_key("member")
    assert api.post(f"/v1/org/members/{plain['id']}/login", member_key).code == "FORBIDDEN"
    granted = api.post(f"/v1/org/members/{plain['id']}/login", org.admin_key, {"username": f"plain-{plain['id']}"})
    assert granted.status == 200 and granted.data["username"] == f"plain-{plain['id']}"
    first = {"username": granted.data["username"], "password": granted.data["temporary_password"]}
    assert api.post("/v1/auth/login", None, {**first, "new_password": PASSWORD}).status == 200
    # A reset: the chosen password stops working; the new temporary one must be replaced at login.
    reset = api.post(f"/v1/org/members/{plain['id']}/login", org.admin_key).data
    assert reset["username"] == granted.data["username"]
    assert api.post("/v1/auth/login", None, {**first, "password": PASSWORD}).status == 401
    again = {**first, "password": reset["temporary_password"]}
    assert api.post("/v1/auth/login", None, again).code == "PASSWORD_CHANGE_REQUIRED"
    renamed = api.post(f"/v1/org/members/{plain['id']}/login", org.admin_key, {"username": "someone-else"})
    assert renamed.status == 400 and renamed.body["details"]["field"] == "username"


def test_a_taken_username_is_a_conflict_and_leaves_no_member_behind(api: Api, org: OrgCtx, other_org: OrgCtx) -> None:
    member = member_with_login(api, org)
    body = {"email": "someone@example.com", "login": True, "username": member["username"]}
    reply = api.post("/v1/org/members", other_org.admin_key, body)
    assert reply.status == 409 and reply.code == "CONFLICT"
    listed = api.get("/v1/org/members?search=someone", other_org.admin_key).data
    assert listed["total"] == 0
    no_login = api.post("/v1/org/members", org.admin_key, {"email": "x@example.com", "username": "x"})
    assert no_login.status == 400 and no_login.body["details"]["field"] == "username"


def test_a_removed_member_can_neither_use_its_token_nor_log_in(api: Api, org: OrgCtx) -> None:
    member = member_with_login(api, org)
    token = login(api, member["username"])
    assert api.get("/v1/auth/me", token).status == 200
    assert api.delete(f"/v1/org/members/{member['id']}", org.admin_key).status == 204
    assert api.get("/v1/auth/me", token).status == 401
    assert api.post("/mcp", token, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).status == 401
    assert api.post("/v1/auth/login", None, {"username": member["username"], "password": PASSWORD}).status == 401


def test_a_login_carries_the_members_current_role(api: Api, org: OrgCtx) -> None:
    member = member_with_login(api, org, role="admin")
    token = login(api, member["username"])
    assert api.patch("/v1/org", token, {"name": "By login"}).status == 200
    assert api.patch(f"/v1/org/members/{member['id']}", org.admin_key, {"role": "viewer"}).status == 200
    assert api.patch("/v1/org", token, {"name": "Nope"}).code == "FORBIDDEN"
    assert api.get("/v1/org", token).data["name"] == "By login"


def _pool_claims(**changes: Any) -> dict[str, Any]:
    settings = get_settings()
    now = int(time.time())
    claims = {
        "iss": settings.user_pool_issuer,
        "sub": "0000",
        "client_id": settings.user_pool_client_id,
        "token_use": "access",
        "iat": now,
        "exp": now + 300,
    }
    return {**claims, **changes}


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": int(time.time()) - 3600},  # expired
        {"client_id": "another-app-client"},  # an access token for another app of the pool
        {"token_use": "id"},  # an ID token is not an API credential
        {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"},  # another pool
    ],
    ids=["expired", "other-client", "id-token", "other-pool"],
)
def test_pool_signed_tokens_that_are_not_this_apis_access_tokens_are_refused(
    api: Api, org: OrgCtx, changes: dict[str, Any]
) -> None:
    member = member_with_login(api, org)
    sub = api.get("/v1/auth/me", login(api, member["username"])).data["member"]["login_sub"]
    key = moto_pool_key()
    assert api.get("/v1/auth/me", key.sign(_pool_claims(sub=sub))).status == 200  # the forgery kit works
    reply = api.get("/v1/auth/me", key.sign(_pool_claims(sub=sub, **changes)))
    assert reply.status == 401 and reply.code == "UNAUTHORIZED"


def test_a_tampered_login_token_is_refused(api: Api, org: OrgCtx) -> None:
    viewer = member_with_login(api, org, role="viewer")
    admin = member_with_login(api, org, role="admin")
    token = login(api, viewer["username"])
    admin_sub = api.get("/v1/auth/me", login(api, admin["username"])).data["member"]["login_sub"]
    assert api.get("/v1/auth/me", tampered(token, sub=admin_sub)).status == 401
    assert api.get("/v1/auth/me", tampered(token, exp=int(time.time()) + 86400)).status == 401
    assert api.get("/v1/auth/me", token).data["principal"]["role"] == "viewer"
