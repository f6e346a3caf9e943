"""Request and response bodies of api-v1 §3."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from auth_service.domain.usernames import has_unstorable
from auth_service.store import UserRecord
from auth_service.wire import user_of

# Login input can only match a stored username (≤ 32 chars) and a password (≤ 128); anything
# far longer is refused before it reaches the throttle keys or the hasher.
LOGIN_FIELD_MAX = 256


def _storable(value: str) -> str:
    if has_unstorable(value):
        raise ValueError("Remove invisible characters such as NUL from this field.")
    return value


StorableText = Annotated[str, AfterValidator(_storable)]


class RegisterIn(BaseModel):
    # Lengths are checked by the domain rules so that every broken rule is reported together.
    username: str
    display_name: str
    password: str


class LoginIn(BaseModel):
    username: StorableText = Field(min_length=1, max_length=LOGIN_FIELD_MAX)
    password: StorableText = Field(min_length=1, max_length=LOGIN_FIELD_MAX)


class PasswordChangeIn(BaseModel):
    current_password: StorableText = Field(min_length=1, max_length=LOGIN_FIELD_MAX)
    new_password: str


class UserOut(BaseModel):
    id: str
    username: str
    display_name: str
    created_at: str


def user_out(user: UserRecord) -> UserOut:
    """The api-v1 `user` object, built once for the REST API and the bus (`wire.user_of`)."""
    return UserOut.model_validate(user_of(user), from_attributes=True)


class UserEnvelope(BaseModel):
    user: UserOut


class MeOut(UserEnvelope):
    # api-v1.1 preamble item 2: the features that are on, so a client uses only those.
    features: list[str] = Field(
        description="The api-v1.1 features that are on (CHAT_FEATURES); a client uses an "
        "addition only when it is listed, and holds outbox items that need one that is not."
    )


class UsersOut(BaseModel):
    users: list[UserOut]


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name
    expires_in: int
    user: UserOut
