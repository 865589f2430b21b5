"""Credential parsing and the authorizer context round trip."""

from __future__ import annotations

import pytest

from portico import auth
from portico.errors import ForbiddenError, TierRequiredError, UnauthorizedError
from portico.models.common import Role, Tier
from portico.models.identity import Principal, PrincipalKind

KEY = "key_" + "a" * 24
SECRET = "pts_" + "b" * 43


def test_bearer_and_header_pairs_parse_to_the_same_credentials() -> None:
    assert auth.credentials({"Authorization": f"Bearer {KEY}.{SECRET}"}) == (KEY, SECRET)
    assert auth.credentials({"x-api-key": KEY, "X-Api-Secret": SECRET}) == (KEY, SECRET)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {KEY}.{SECRET}"},
        {"Authorization": f"Bearer {KEY}"},
        {"Authorization": f"Bearer key_short.{SECRET}"},
        {"X-API-KEY": KEY},
        {"Authorization": f"Bearer {KEY}.pts_x"},
    ],
)
def test_missing_or_malformed_credentials_are_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(UnauthorizedError):
        auth.credentials(headers)


def test_secrets_are_stored_as_hashes() -> None:
    assert auth.hash_secret(SECRET) != SECRET and len(auth.hash_secret(SECRET)) == 64


def test_the_principal_survives_the_authorizer_context() -> None:
    principal = Principal(
        kind=PrincipalKind.API_KEY,
        principal_id="usr_1",
        org_id="org_1",
        user_id="usr_1",
        role=Role.MEMBER,
        tier=Tier.PRO,
        key_id=KEY,
    )
    policy = auth.policy(principal, "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/v1/org")
    assert all(isinstance(v, str) for v in policy["context"].values())
    assert policy["policyDocument"]["Statement"][0]["Resource"] == (
        "arn:aws:execute-api:us-east-1:123456789012:abc/prod/*"
    )
    assert auth.from_context(policy["context"]) == principal


def test_a_request_without_authorizer_context_is_unauthorized() -> None:
    with pytest.raises(UnauthorizedError):
        auth.from_context(None)


def test_role_and_tier_checks() -> None:
    viewer = Principal(kind=PrincipalKind.API_KEY, principal_id="u", org_id="o", role=Role.VIEWER, tier=Tier.FREE)
    assert auth.require_member(viewer) == "o"
    with pytest.raises(ForbiddenError):
        auth.require_member(viewer, Role.MEMBER)
    with pytest.raises(TierRequiredError):
        auth.require_tier(viewer, Tier.STUDIO)
    with pytest.raises(ForbiddenError):
        auth.require_operator(viewer)
    operator = Principal(kind=PrincipalKind.OPERATOR, principal_id="key_o")
    with pytest.raises(ForbiddenError):
        auth.require_member(operator)
