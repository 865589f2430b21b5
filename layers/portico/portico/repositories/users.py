"""The user directory behind members' logins: a Cognito user pool (moto's locally).

Cognito's error codes become domain errors here, so services never see botocore.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from portico.errors import (
    ConflictError,
    NotFoundError,
    PasswordChangeRequiredError,
    UnauthorizedError,
    UpstreamError,
    ValidationError,
)
from portico.repositories.aws import client
from portico.settings import get_settings

# One answer for every failed login, whatever the reason (no user enumeration).
BAD_LOGIN = "invalid username or password"


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_in: int


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class UserDirectory:
    """Port over the user pool; tests may pass another implementation."""

    def __init__(self, pool_id: str, client_id: str) -> None:
        self.pool_id = pool_id
        self.client_id = client_id

    @property
    def _cognito(self) -> Any:
        return client("cognito-idp")

    def create_user(self, username: str, email: str, temporary_password: str) -> str:
        """Create a user who must choose a new password at first login; return its ``sub``.

        Raises:
            ConflictError: the username is taken.  ValidationError: the username or password is refused.
        """
        from botocore.exceptions import ClientError

        try:
            created = self._cognito.admin_create_user(
                UserPoolId=self.pool_id,
                Username=username,
                TemporaryPassword=temporary_password,
                MessageAction="SUPPRESS",  # the admin hands the temporary password over
                UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            )
        except ClientError as exc:
            if _code(exc) == "UsernameExistsException":
                raise ConflictError(f"username {username!r} is taken", field="username") from exc
            if _code(exc) in ("InvalidParameterException", "InvalidPasswordException"):
                raise ValidationError("the username is not accepted", field="username") from exc
            raise
        attributes = {a["Name"]: a["Value"] for a in created["User"].get("Attributes", [])}
        return str(attributes.get("sub") or self._sub(username))

    def _sub(self, username: str) -> str:
        user = self._cognito.admin_get_user(UserPoolId=self.pool_id, Username=username)
        return str({a["Name"]: a["Value"] for a in user.get("UserAttributes", [])}["sub"])

    def set_password(self, username: str, password: str, *, permanent: bool) -> None:
        """Raises:
        NotFoundError: no such user.  ValidationError: the password breaks the pool's policy.
        """
        from botocore.exceptions import ClientError

        try:
            self._cognito.admin_set_user_password(
                UserPoolId=self.pool_id, Username=username, Password=password, Permanent=permanent
            )
        except ClientError as exc:
            if _code(exc) == "UserNotFoundException":
                raise NotFoundError("login", username) from exc
            if _code(exc) == "InvalidPasswordException":
                raise ValidationError("the password breaks the password policy", field="password") from exc
            raise

    def delete_user(self, username: str) -> None:
        """Delete a user (already gone is fine).

        Raises:
            UpstreamError: the user pool did not answer or refused.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._cognito.admin_delete_user(UserPoolId=self.pool_id, Username=username)
        except ClientError as exc:
            if _code(exc) != "UserNotFoundException":
                raise UpstreamError("the user pool refused to delete a login", code=_code(exc)) from exc
        except BotoCoreError as exc:
            raise UpstreamError("the user pool is unreachable") from exc

    def login(self, username: str, password: str, new_password: str | None = None) -> Tokens:
        """Password login; a temporary password is exchanged for ``new_password`` on the way.

        Raises:
            UnauthorizedError: wrong username or password (one message for both).
            PasswordChangeRequiredError: a temporary password without ``new_password``.
            ValidationError: ``new_password`` breaks the policy.
        """
        from botocore.exceptions import ClientError

        try:
            result = self._cognito.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": username, "PASSWORD": password},
            )
        except ClientError as exc:
            if _code(exc) in (
                "NotAuthorizedException",
                "UserNotFoundException",
                "UserNotConfirmedException",
                "PasswordResetRequiredException",
            ):
                raise UnauthorizedError(BAD_LOGIN) from exc
            raise
        if result.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
            if not new_password:
                raise PasswordChangeRequiredError(
                    "this is a temporary password: log in again with new_password set", field="new_password"
                )
            try:
                result = self._cognito.respond_to_auth_challenge(
                    ClientId=self.client_id,
                    ChallengeName="NEW_PASSWORD_REQUIRED",
                    Session=result["Session"],
                    ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": new_password},
                )
            except ClientError as exc:
                if _code(exc) == "InvalidPasswordException":
                    raise ValidationError("new_password breaks the password policy", field="new_password") from exc
                if _code(exc) in ("NotAuthorizedException", "CodeMismatchException", "ExpiredCodeException"):
                    raise UnauthorizedError(BAD_LOGIN) from exc
                raise
        tokens = result.get("AuthenticationResult")
        if not tokens:  # another challenge (MFA…): not offered by this pool
            raise UnauthorizedError(BAD_LOGIN)
        return Tokens(str(tokens["AccessToken"]), int(tokens.get("ExpiresIn", 3600)))

    def change_password(self, access_token: str, old_password: str, new_password: str) -> None:
        """Raises:
        ValidationError: ``old_password`` is wrong, or ``new_password`` breaks the policy.
        """
        from botocore.exceptions import ClientError

        try:
            self._cognito.change_password(
                AccessToken=access_token, PreviousPassword=old_password, ProposedPassword=new_password
            )
        except ClientError as exc:
            if _code(exc) == "InvalidPasswordException":
                raise ValidationError("new_password breaks the password policy", field="new_password") from exc
            if _code(exc) in ("NotAuthorizedException", "LimitExceededException"):
                raise ValidationError("old_password is not the current password", field="old_password") from exc
            raise


@cache
def user_directory() -> UserDirectory:
    """The process-wide directory over the configured user pool.

    Raises:
        ConfigurationError: the pool or its client is not configured.
    """
    settings = get_settings()
    return UserDirectory(settings.require("user_pool_id"), settings.require("user_pool_client_id"))
