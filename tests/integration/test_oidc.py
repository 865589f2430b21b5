"""Tokens from external OIDC issuers an organization trusts, signed with keys generated here and verified
against a JWKS served over loopback HTTP: what is accepted, and every way a token is refused."""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from portico import oidc
from portico.local.runtime import LocalRuntime
from portico.settings import get_settings
from tests.factories.api import Api
from tests.factories.mcp import with_client
from tests.factories.orgs import OrgCtx
from tests.factories.tokens import (
    Issuer,
    IssuerServer,
    SigningKey,
    b64url,
    hs256_with,
    issuer_server,
    tampered,
    unsigned,
)

AUDIENCE = "portico-test-client"
_n = itertools.count()


@pytest.fixture(scope="module")
def issuers() -> Iterator[IssuerServer]:
    with issuer_server() as server:
        yield server


def trust(api: Api, org: OrgCtx, *providers: dict[str, Any]) -> None:
    reply = api.put("/v1/org/identity-providers", org.admin_key, {"identity_providers": list(providers)})
    assert reply.status == 200, reply.body


def member(api: Api, org: OrgCtx, role: str = "member") -> dict[str, Any]:
    email = f"sso{next(_n)}@example.com"
    return dict(api.post("/v1/org/members", org.admin_key, {"email": email, "role": role}).data)


@pytest.fixture
def setup(api: Api, org: OrgCtx, issuers: IssuerServer) -> tuple[Issuer, dict[str, Any]]:
    """An issuer the org trusts (found by discovery) and a member known to it by e-mail."""
    issuer = issuers.issuer()
    trust(api, org, {"issuer": issuer.url, "audience": AUDIENCE})
    return issuer, member(api, org)


def test_an_external_token_acts_as_the_member_with_that_email(
    api: Api, org: OrgCtx, runtime: LocalRuntime, setup: tuple[Issuer, dict[str, Any]]
) -> None:
    issuer, person = setup
    token = issuer.token(AUDIENCE, person["email"].upper())
    me = api.get("/v1/auth/me", token).data["principal"]
    assert (me["kind"], me["user_id"], me["org_id"], me["role"]) == ("user", person["id"], org.org_id, "member")
    assert api.post("/v1/mcp/servers", token, {"name": "x", "url": "http://a.example/mcp"}).code == "FORBIDDEN"

    async def work(client: Any) -> Any:
        return await client.list_tools()

    assert with_client(f"{runtime.api_url}/mcp", token, "legacy", work).tools == []
    listed = api.get("/v1/org", org.admin_key).data["identity_providers"]
    assert listed == [{"issuer": issuer.url, "audience": AUDIENCE, "jwks_uri": None, "email_claim": "email"}]


def test_an_es256_issuer_with_an_explicit_jwks_uri_and_email_claim(
    api: Api, org: OrgCtx, issuers: IssuerServer
) -> None:
    issuer = issuers.issuer(SigningKey.ec())
    trust(api, org, {"issuer": issuer.url, "audience": AUDIENCE, "jwks_uri": issuer.jwks_uri, "email_claim": "upn"})
    person = member(api, org, "viewer")
    token = issuer.token(AUDIENCE, "not-this@example.com", upn=person["email"], aud=["another-api", AUDIENCE])
    assert api.get("/v1/auth/me", token).data["principal"]["user_id"] == person["id"]
    assert issuers.fetches.get(issuer.url.removeprefix(issuers.base) + "/.well-known/openid-configuration") is None


def flip_signature(token: str) -> str:
    head, _, signature = token.rpartition(".")
    middle = len(signature) // 2
    return f"{head}.{signature[:middle]}{'A' if signature[middle] != 'A' else 'B'}{signature[middle + 1 :]}"


def with_header(token: str, **changes: Any) -> str:
    header, body, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    return f"{b64url(json.dumps({**decoded, **changes}).encode())}.{body}.{signature}"


def _claims(issuer: Issuer, email: str, **changes: Any) -> dict[str, Any]:
    return issuer.claims(AUDIENCE, email, **changes)


DENIALS = {
    "expired": lambda i, e: i.keys[0].sign(_claims(i, e, exp=int(time.time()) - 120)),
    "wrong-audience": lambda i, e: i.keys[0].sign(i.claims("another-app", e)),
    "wrong-issuer": lambda i, e: i.keys[0].sign(_claims(i, e, iss=i.url + "-evil")),
    "no-exp": lambda i, e: i.keys[0].sign({k: v for k, v in _claims(i, e).items() if k != "exp"}),
    "alg-none": lambda i, e: unsigned(_claims(i, e)),
    "hs256-with-the-public-key": lambda i, e: hs256_with(i.keys[0].public_pem(), _claims(i, e), i.keys[0].kid),
    "tampered-signature": lambda i, e: flip_signature(i.token(AUDIENCE, e)),
    "tampered-claims": lambda i, e: tampered(i.token(AUDIENCE, "someone@example.com"), email=e),
    "unknown-key": lambda i, e: SigningKey.rsa(kid=i.keys[0].kid).sign(_claims(i, e)),
    "unknown-kid": lambda i, e: SigningKey.rsa().sign(_claims(i, e)),
    "unverified-email": lambda i, e: i.keys[0].sign(_claims(i, e, email_verified=False)),
    "not-a-member": lambda i, e: i.token(AUDIENCE, "stranger@example.com"),
    "es256-header-on-an-rsa-key": lambda i, e: with_header(i.token(AUDIENCE, e), alg="ES256"),
    "rs384-not-accepted": lambda i, e: with_header(i.token(AUDIENCE, e), alg="RS384"),
}


@pytest.mark.parametrize("case", sorted(DENIALS))
def test_a_bad_external_token_is_refused(api: Api, setup: tuple[Issuer, dict[str, Any]], case: str) -> None:
    issuer, person = setup
    assert api.get("/v1/auth/me", issuer.token(AUDIENCE, person["email"])).status == 200  # the good one works
    token = DENIALS[case](issuer, person["email"])
    reply = api.get("/v1/auth/me", token)
    assert reply.status == 401 and reply.code == "UNAUTHORIZED", reply.body
    assert api.post("/mcp", token, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).status == 401


def test_a_key_removed_from_the_jwks_stops_verifying_once_the_key_cache_lapses(
    api: Api, setup: tuple[Issuer, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer, person = setup
    old, new = issuer.keys[0], SigningKey.rsa()
    assert api.get("/v1/auth/me", issuer.token(AUDIENCE, person["email"], key=old)).status == 200
    issuer.keys[:] = [new]  # rotation: the old key is revoked
    monkeypatch.setattr(get_settings(), "jwks_cache_seconds", 0.0)
    assert api.get("/v1/auth/me", issuer.token(AUDIENCE, person["email"], key=old)).status == 401
    assert api.get("/v1/auth/me", issuer.token(AUDIENCE, person["email"], key=new)).status == 200


def test_keys_already_fetched_keep_working_while_the_issuer_is_unreachable(
    api: Api,
    org: OrgCtx,
    setup: tuple[Issuer, dict[str, Any]],
    issuers: IssuerServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issuer, person = setup
    assert api.get("/v1/auth/me", issuer.token(AUDIENCE, person["email"])).status == 200
    path = issuer.url.removeprefix(issuers.base)
    monkeypatch.delitem(issuers.issuers, path)  # the issuer's endpoints now answer 404
    monkeypatch.setattr(get_settings(), "jwks_cache_seconds", 0.0)
    assert api.get("/v1/auth/me", issuer.token(AUDIENCE, person["email"])).status == 200
    never_fetched = issuers.issuer()
    monkeypatch.delitem(issuers.issuers, never_fetched.url.removeprefix(issuers.base))
    trust(api, org, {"issuer": issuer.url, "audience": AUDIENCE}, {"issuer": never_fetched.url, "audience": AUDIENCE})
    assert api.get("/v1/auth/me", never_fetched.token(AUDIENCE, person["email"])).status == 401


def test_unknown_key_ids_refetch_the_jwks_at_most_once_per_interval(
    api: Api, setup: tuple[Issuer, dict[str, Any]], issuers: IssuerServer
) -> None:
    issuer, person = setup
    assert api.get("/v1/auth/me", issuer.token(AUDIENCE, person["email"])).status == 200
    path = issuer.jwks_uri.removeprefix(issuers.base)
    before = issuers.fetches[path]
    for _ in range(5):
        assert api.get("/v1/auth/me", SigningKey.rsa().sign(_claims(issuer, person["email"]))).status == 401
    assert issuers.fetches[path] - before <= 1


def test_a_removed_member_or_a_dropped_issuer_no_longer_gets_in(
    api: Api, org: OrgCtx, setup: tuple[Issuer, dict[str, Any]]
) -> None:
    issuer, person = setup
    token = issuer.token(AUDIENCE, person["email"])
    other = member(api, org)
    other_token = issuer.token(AUDIENCE, other["email"])
    assert api.get("/v1/auth/me", token).status == 200
    assert api.get("/v1/auth/me", other_token).status == 200
    assert api.delete(f"/v1/org/members/{person['id']}", org.admin_key).status == 204
    assert api.get("/v1/auth/me", token).status == 401
    trust(api, org)  # the org no longer trusts the issuer
    assert api.get("/v1/auth/me", other_token).status == 401


def test_a_token_only_opens_organizations_that_trust_its_issuer_and_have_the_member(
    api: Api, org: OrgCtx, other_org: OrgCtx, setup: tuple[Issuer, dict[str, Any]]
) -> None:
    issuer, person = setup
    outsider = member(api, other_org)  # a member of the other org, which does not trust this issuer
    assert api.get("/v1/auth/me", issuer.token(AUDIENCE, outsider["email"])).status == 401
    token = issuer.token(AUDIENCE, person["email"])
    assert api.get("/v1/auth/me", token, headers={"X-Portico-Org": other_org.org_id}).status == 401
    assert api.get("/v1/auth/me", token, headers={"X-Portico-Org": org.org_id}).status == 200


def test_another_org_trusting_the_same_issuer_with_its_own_keys_cannot_vouch_for_our_members(
    api: Api, org: OrgCtx, other_org: OrgCtx, issuers: IssuerServer, setup: tuple[Issuer, dict[str, Any]]
) -> None:
    issuer, person = setup
    rogue = issuers.issuer()  # keys the other org's admin controls, claimed to be the same issuer's
    trust(api, other_org, {"issuer": issuer.url, "audience": AUDIENCE, "jwks_uri": rogue.jwks_uri})
    forged = rogue.keys[0].sign(_claims(issuer, person["email"]))
    assert api.get("/v1/auth/me", forged).status == 401
    assert api.get("/v1/auth/me", issuer.token(AUDIENCE, person["email"])).data["principal"]["org_id"] == org.org_id


def test_one_identity_in_two_trusting_orgs_must_name_its_org(
    api: Api, org: OrgCtx, other_org: OrgCtx, setup: tuple[Issuer, dict[str, Any]]
) -> None:
    issuer, person = setup
    trust(api, other_org, {"issuer": issuer.url, "audience": AUDIENCE})
    api.post("/v1/org/members", other_org.admin_key, {"email": person["email"], "role": "admin"})
    token = issuer.token(AUDIENCE, person["email"])
    assert api.get("/v1/auth/me", token).status == 401
    me = api.get("/v1/auth/me", token, headers={"X-Portico-Org": other_org.org_id}).data["principal"]
    assert (me["org_id"], me["role"]) == (other_org.org_id, "admin")


def test_identity_provider_settings_are_validated(api: Api, org: OrgCtx) -> None:
    def put(*providers: dict[str, Any]) -> Any:
        return api.put("/v1/org/identity-providers", org.admin_key, {"identity_providers": list(providers)})

    good = {"issuer": "https://accounts.google.com", "audience": "123.apps.googleusercontent.com"}
    assert put(good).status == 200
    cases = [
        ({"audience": "a"}, "identity_providers.0.issuer"),
        ({**good, "issuer": "ftp://x.example"}, "identity_providers.0.issuer"),
        ({**good, "email_claim": "a b"}, "identity_providers.0.email_claim"),
        ({**good, "extra": 1}, "identity_providers.0.extra"),
        ({**good, "issuer": get_settings().user_pool_issuer}, "identity_providers.0.issuer"),
    ]
    for body, field in cases:
        reply = put(body)
        assert reply.status == 400 and reply.body["details"]["field"] == field, (body, reply.body)
    duplicate = put(good, good)
    assert duplicate.status == 400 and duplicate.body["details"]["field"] == "identity_providers.1"
    assert api.put("/v1/org/identity-providers", org.admin_key, {}).status == 400
    assert api.put("/v1/org/identity-providers", org.member_key("member"), {"identity_providers": []}).code == (
        "FORBIDDEN"
    )


def test_a_jwt_shaped_garbage_bearer_is_unauthorized_not_an_error(api: Api) -> None:
    for token in ("eyJhbGciOiJSUzI1NiJ9.eyJ.sig", "eyJub3QganNvbg.eyJ4IjoxfQ.sig", "eyJ9.e30.x"):
        assert api.get("/v1/auth/me", token).status == 401
    assert oidc.looks_like_jwt("eyJa.eyJb.c") and not oidc.looks_like_jwt("key_abc.pts_def")
