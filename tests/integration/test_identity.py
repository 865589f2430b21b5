"""Organizations, operators, members and API keys through the API (authorizer + handlers on moto)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.factories.api import Api
from tests.factories.orgs import OrgCtx, new_org


def test_operator_creates_an_org_whose_admin_key_works(api: Api, operator_key: str) -> None:
    reply = api.post("/v1/orgs", operator_key, {"name": "Acme", "tier": "pro"})
    assert reply.status == 201
    data = reply.data
    assert data["org"]["tier"] == "pro" and data["org"]["id"].startswith("org_")
    me = api.get("/v1/auth/me", data["admin_api_key"]).data
    assert me["principal"]["role"] == "admin"
    assert me["principal"]["org_id"] == data["org"]["id"]
    assert me["org"]["name"] == "Acme"


def test_only_operators_create_list_and_retier_orgs(api: Api, org: OrgCtx, operator_key: str) -> None:
    assert api.post("/v1/orgs", org.admin_key, {"name": "x"}).code == "FORBIDDEN"
    assert api.get("/v1/orgs", org.admin_key).code == "FORBIDDEN"
    assert api.patch(f"/v1/orgs/{org.org_id}", org.admin_key, {"tier": "free"}).code == "FORBIDDEN"
    assert api.post("/v1/orgs", None, {"name": "x"}).status == 401
    listed = api.get("/v1/orgs?limit=200", operator_key).data
    assert org.org_id in [o["id"] for o in listed["items"]]
    assert api.patch(f"/v1/orgs/{org.org_id}", operator_key, {"tier": "free"}).data["tier"] == "free"
    assert api.get("/v1/auth/me", org.admin_key).data["principal"]["tier"] == "free"


def test_retiering_an_unknown_org_is_not_found(api: Api, operator_key: str) -> None:
    assert api.patch("/v1/orgs/org_000000000000000000000000", operator_key, {"tier": "pro"}).status == 404


def test_operators_are_not_members_of_any_org(api: Api, operator_key: str) -> None:
    assert api.get("/v1/org", operator_key).code == "FORBIDDEN"
    assert api.get("/v1/mcp/servers", operator_key).code == "FORBIDDEN"


def test_requests_without_valid_credentials_are_unauthorized(api: Api, org: OrgCtx) -> None:
    key_id, _secret = org.admin_key.split(".", 1)
    assert api.get("/v1/org").status == 401
    assert api.get("/v1/org", "garbage").status == 401
    assert api.get("/v1/org", f"{key_id}.pts_{'x' * 43}").status == 401
    assert api.get("/v1/org", headers={"Authorization": f"Basic {org.admin_key}"}).status == 401
    reply = api.get("/v1/org")
    assert reply.code == "UNAUTHORIZED" and "WWW-Authenticate" in reply.headers


def test_key_and_secret_headers_are_accepted(api: Api, org: OrgCtx) -> None:
    key_id, secret = org.admin_key.split(".", 1)
    reply = api.get("/v1/org", headers={"X-API-KEY": key_id, "X-API-SECRET": secret})
    assert reply.data["id"] == org.org_id
    assert api.get("/v1/org", headers={"X-API-KEY": key_id, "X-API-SECRET": secret[:-2] + "zz"}).status == 401


def test_admins_rename_their_org_and_others_cannot(api: Api, org: OrgCtx) -> None:
    member = org.member_key("member")
    assert api.patch("/v1/org", org.admin_key, {"name": "Renamed"}).data["name"] == "Renamed"
    assert api.patch("/v1/org", member, {"name": "Nope"}).code == "FORBIDDEN"
    assert api.get("/v1/org", member).data["name"] == "Renamed"
    assert api.patch("/v1/org", org.admin_key, {"name": ""}).code == "VALIDATION_ERROR"
    assert api.patch("/v1/org", org.admin_key, {"tier": "studio"}).code == "VALIDATION_ERROR"


def test_members_are_managed_by_admins_only(api: Api, org: OrgCtx) -> None:
    viewer = org.member_key("viewer")
    member = org.member_key("member")
    created = api.post("/v1/org/members", org.admin_key, {"email": "New@Example.com", "role": "viewer"})
    assert created.status == 201 and created.data["email"] == "new@example.com"
    new_id = created.data["id"]
    for key in (viewer, member):
        assert api.post("/v1/org/members", key, {"email": "x@example.com"}).code == "FORBIDDEN"
        assert api.patch(f"/v1/org/members/{new_id}", key, {"role": "admin"}).code == "FORBIDDEN"
        assert api.delete(f"/v1/org/members/{new_id}", key).code == "FORBIDDEN"
    listed = api.get("/v1/org/members", viewer).data
    assert listed["total"] == 4
    assert api.get("/v1/org/members?status=viewer", viewer).data["total"] == 2
    assert api.get("/v1/org/members?search=new@", viewer).data["items"][0]["id"] == new_id
    assert api.patch(f"/v1/org/members/{new_id}", org.admin_key, {"role": "member"}).data["role"] == "member"
    assert api.delete(f"/v1/org/members/{new_id}", org.admin_key).status == 204
    assert api.delete(f"/v1/org/members/{new_id}", org.admin_key).status == 404


def test_a_duplicate_member_email_is_a_conflict(api: Api, org: OrgCtx) -> None:
    assert api.post("/v1/org/members", org.admin_key, {"email": "dup@example.com"}).status == 201
    assert api.post("/v1/org/members", org.admin_key, {"email": "DUP@example.com"}).code == "CONFLICT"


def test_concurrent_adds_of_one_email_create_exactly_one_member(api: Api, org: OrgCtx) -> None:
    def add(_: int) -> int:
        return api.post("/v1/org/members", org.admin_key, {"email": "race@example.com"}).status

    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(add, range(6)))
    assert statuses.count(201) == 1 and statuses.count(409) == 5
    assert api.get("/v1/org/members?search=race@", org.admin_key).data["total"] == 1


def test_bad_member_input_names_the_field(api: Api, org: OrgCtx) -> None:
    reply = api.post("/v1/org/members", org.admin_key, {"email": "not-an-email"})
    assert reply.status == 400 and reply.body["details"]["field"] == "email"
    reply = api.post("/v1/org/members", org.admin_key, {"email": "a@b.co", "role": "owner"})
    assert reply.status == 400 and reply.body["details"]["field"] == "role"
    reply = api.post("/v1/org/members", org.admin_key, {"email": "a@b.co", "org_id": "org_x"})
    assert reply.status == 400 and reply.body["details"]["field"] == "org_id"


def test_the_last_admin_cannot_be_demoted_or_removed(api: Api, org: OrgCtx) -> None:
    assert api.patch(f"/v1/org/members/{org.admin_user_id}", org.admin_key, {"role": "member"}).code == "CONFLICT"
    assert api.delete(f"/v1/org/members/{org.admin_user_id}", org.admin_key).code == "CONFLICT"


def test_another_orgs_member_is_not_found(api: Api, org: OrgCtx, other_org: OrgCtx) -> None:
    assert api.patch(f"/v1/org/members/{other_org.admin_user_id}", org.admin_key, {"name": "x"}).status == 404
    assert api.delete(f"/v1/org/members/{other_org.admin_user_id}", org.admin_key).status == 404


def test_removing_a_member_revokes_its_keys(api: Api, org: OrgCtx) -> None:
    member = api.post("/v1/org/members", org.admin_key, {"email": "leaver@example.com", "role": "member"}).data
    secret = api.post("/v1/api-keys", org.admin_key, {"name": "k", "user_id": member["id"]}).data["secret"]
    assert api.get("/v1/org", secret).status == 200
    assert api.delete(f"/v1/org/members/{member['id']}", org.admin_key).status == 204
    assert api.get("/v1/org", secret).status == 401


def test_demoting_a_member_lowers_what_its_keys_may_do(api: Api, org: OrgCtx) -> None:
    member = api.post("/v1/org/members", org.admin_key, {"email": "demoted@example.com", "role": "admin"}).data
    secret = api.post("/v1/api-keys", org.admin_key, {"name": "k", "user_id": member["id"]}).data["secret"]
    assert api.get("/v1/auth/me", secret).data["principal"]["role"] == "admin"
    api.patch(f"/v1/org/members/{member['id']}", org.admin_key, {"role": "viewer"})
    assert api.get("/v1/auth/me", secret).data["principal"]["role"] == "viewer"
    assert api.post("/v1/org/members", secret, {"email": "x@example.com"}).code == "FORBIDDEN"


def test_api_keys_are_shown_once_and_only_their_prefix_is_listed(api: Api, org: OrgCtx) -> None:
    created = api.post("/v1/api-keys", org.admin_key, {"name": "ci", "expires_in_days": 30})
    assert created.status == 201
    secret = created.data["secret"]
    key = created.data["api_key"]
    assert key["expires_at"] and secret.startswith(key["id"] + ".pts_")
    listed = api.get("/v1/api-keys", org.admin_key)
    assert key["id"] in [k["id"] for k in listed.data["items"]]
    text = str(listed.body)
    assert secret.split(".", 1)[1] not in text and "secret_hash" not in text
    assert api.get("/v1/auth/me", secret).status == 200
    assert api.delete(f"/v1/api-keys/{key['id']}", org.admin_key).status == 204
    assert api.get("/v1/auth/me", secret).status == 401
    assert api.delete(f"/v1/api-keys/{key['id']}", org.admin_key).status == 404


def test_a_key_cannot_exceed_its_owners_role(api: Api, org: OrgCtx) -> None:
    member = org.member_key("member")
    assert api.post("/v1/api-keys", member, {"name": "up", "role": "admin"}).code == "FORBIDDEN"
    down = api.post("/v1/api-keys", member, {"name": "down", "role": "viewer"}).data["secret"]
    assert api.get("/v1/auth/me", down).data["principal"]["role"] == "viewer"
    viewer = org.member_key("viewer")
    assert api.post("/v1/api-keys", viewer, {"name": "v"}).code == "FORBIDDEN"
    assert api.post("/v1/api-keys", member, {"name": "other", "user_id": org.admin_user_id}).code == "FORBIDDEN"


def test_non_admins_see_and_revoke_only_their_own_keys(api: Api, org: OrgCtx) -> None:
    member = org.member_key("member")
    own = api.get("/v1/api-keys", member).data
    assert own["total"] == 1
    admin_key_id = org.admin_key.split(".")[0]
    assert api.delete(f"/v1/api-keys/{admin_key_id}", member).status == 404
    assert api.get("/v1/auth/me", org.admin_key).status == 200


def test_another_orgs_key_cannot_be_revoked(api: Api, org: OrgCtx, other_org: OrgCtx) -> None:
    other_key_id = other_org.admin_key.split(".")[0]
    assert api.delete(f"/v1/api-keys/{other_key_id}", org.admin_key).status == 404
    assert api.get("/v1/auth/me", other_org.admin_key).status == 200


def test_expired_and_past_expiries_are_refused(api: Api, org: OrgCtx) -> None:
    reply = api.post("/v1/api-keys", org.admin_key, {"name": "old", "expires_at": "2001-01-01T00:00:00Z"})
    assert reply.status == 400 and reply.body["details"]["field"] == "expires_at"
    reply = api.post("/v1/api-keys", org.admin_key, {"name": "x", "expires_in_days": 0})
    assert reply.status == 400 and reply.body["details"]["field"] == "expires_in_days"


def test_an_expired_key_is_unauthorized(api: Api, org: OrgCtx) -> None:
    from portico.repositories.main import main_repository

    created = api.post("/v1/api-keys", org.admin_key, {"name": "short", "expires_in_days": 1}).data
    repo = main_repository()
    key, secret_hash = repo.get_key(created["api_key"]["id"])  # type: ignore[misc]
    key["expires_at"] = "2001-01-01T00:00:00.000Z"
    repo.table.put(repo.key_record(key, secret_hash))
    from portico import auth

    auth.principals.forget()  # a change made behind the API's back: drop what this process remembers
    assert api.get("/v1/auth/me", created["secret"]).status == 401


def test_org_of_a_free_tier_is_reported(api: Api, operator_key: str) -> None:
    free = new_org(api, operator_key, "free")
    assert api.get("/v1/org", free.admin_key).data["tier"] == "free"
