"""JWT plumbing that needs no server: where the user pool's keys are found, what looks like a JWT,
and that generated passwords satisfy the policy they are checked against."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from portico.models.identity import NewPassword
from portico.oidc import looks_like_jwt
from portico.services.logins import temporary_password
from portico.settings import Settings


def test_the_user_pool_keys_are_found_at_aws_or_at_the_configured_endpoint() -> None:
    pool = "eu-west-1_AbCdEf"
    aws = Settings(user_pool_id=pool)
    assert aws.user_pool_issuer == f"https://cognito-idp.eu-west-1.amazonaws.com/{pool}"
    assert aws.user_pool_jwks == f"{aws.user_pool_issuer}/.well-known/jwks.json"
    local = Settings(user_pool_id=pool, endpoint_url="http://127.0.0.1:5000/")
    assert local.user_pool_issuer == aws.user_pool_issuer  # tokens name AWS even under moto
    assert local.user_pool_jwks == f"http://127.0.0.1:5000/{pool}/.well-known/jwks.json"
    pinned = Settings(user_pool_id=pool, endpoint_url="http://x", user_pool_jwks_url="https://keys.example/jwks")
    assert pinned.user_pool_jwks == "https://keys.example/jwks"
    assert Settings().user_pool_issuer is None and Settings().user_pool_jwks is None


def test_only_three_segment_tokens_with_a_json_header_are_taken_for_jwts() -> None:
    assert looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
    assert looks_like_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")  # alg none: refused later, not here
    for token in ("key_0123456789abcdef01234567.pts_secret", "eyJ.only-two", "", "a.b.c", "eyJ..sig"):
        assert not looks_like_jwt(token)


def test_temporary_passwords_satisfy_the_password_policy() -> None:
    policy = TypeAdapter(NewPassword)
    for _ in range(200):
        policy.validate_python(temporary_password())
    for weak in ("Short1a", "alllowercase123", "ALLUPPERCASE123", "NoDigitsHereAtAll"):
        with pytest.raises(PydanticValidationError):
            policy.validate_python(weak)
