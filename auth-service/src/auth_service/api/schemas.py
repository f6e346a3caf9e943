"""Request and response bodies of api-v1 §3."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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


def _no_default(schema: dict[str, Any]) -> None:
    # A documented default makes generated client types require the field (openapi-typescript).
    schema.pop("default", None)


class UserOut(BaseModel):
    # The api-v1.1 C fields are always sent, but documented as optional: a v1.1 client accepts
    # a `user` without them (preamble item 1: tolerant), so the generated client types do too.
    model_config = ConfigDict(json_schema_mode_override="validation")

    id: str
    username: str
    display_name: str
    created_at: str
    # api-v1.1 C
    role: Literal["owner", "admin", "member"] = Field("member", json_schema_extra=_no_default)
    deactivated: bool = Field(False, json_schema_extra=_no_default)
    avatar_file_id: str | None = None
    timezone: str | None = None


def user_out(user: UserRecord) -> UserOut:
    """The api-v1 `user` object, built once for the REST API and the bus (`wire.user_of`)."""
    wire = user_of(user)
    return UserOut(
        id=wire.id,
        username=wire.username,
        display_name=wire.display_name,
        created_at=wire.created_at,
        role=cast(Any, wire.role),
        deactivated=bool(wire.deactivated),
        avatar_file_id=wire.avatar_file_id or None,
        timezone=wire.timezone or None,
    )


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


class BlocksOut(BaseModel):
    """api-v1.1 C `GET /v1/users/me/blocks`: newest first."""

    user_ids: list[str]


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name
    expires_in: int
    user: UserOut


class RegisterWithInviteIn(RegisterIn):
    invite: str | None = Field(
        None, max_length=LOGIN_FIELD_MAX, description="The token of an invitation link"
    )


class ProfilePatchIn(BaseModel):
    """Fields left out stay as they are; `null` clears avatar_file_id and timezone."""

    display_name: str | None = None
    avatar_file_id: uuid.UUID | None = None
    timezone: str | None = Field(None, max_length=LOGIN_FIELD_MAX)


class DeleteMeIn(BaseModel):
    password: StorableText = Field(min_length=1, max_length=LOGIN_FIELD_MAX)


class PasswordResetIn(BaseModel):
    token: StorableText = Field(min_length=1, max_length=LOGIN_FIELD_MAX)
    new_password: str


class SessionOut(BaseModel):
    id: str
    created_at: str
    last_used_at: str
    user_agent: str | None
    ip: str | None
    current: bool


class SessionsOut(BaseModel):
    sessions: list[SessionOut]


class InviteOut(BaseModel):
    invite_url: str
    expires_at: str


class ResetLinkOut(BaseModel):
    reset_url: str
    expires_at: str


class AdminUsersOut(BaseModel):
    users: list[UserOut]
    next_cursor: str | None


class RoleIn(BaseModel):
    role: Literal["admin", "member"]


class OwnerIn(BaseModel):
    user_id: uuid.UUID


class AuditEntryOut(BaseModel):
    id: str
    actor_id: str | None
    action: str
    target_id: str | None
    at: str
    ip: str | None
    details: dict[str, Any]


class AuditOut(BaseModel):
    entries: list[AuditEntryOut]
    next_cursor: str | None
