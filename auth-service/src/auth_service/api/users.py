"""/v1/users: me, prefix search (`q=`) and lookup by ids (`ids=`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from chat_runtime.http import FieldError, Problem, rate_limit
from fastapi import APIRouter, Depends, Query, Request, Response, status

from auth_service import accounts, users
from auth_service.api.deps import (
    AdminFeature,
    AuthDeps,
    ClientAddress,
    CurrentUser,
    Settings,
    current_claims,
)
from auth_service.api.schemas import (
    DeleteMeIn,
    MeOut,
    ProfilePatchIn,
    UserEnvelope,
    UsersOut,
    user_out,
)
from auth_service.api.throttled import TOO_MANY_ATTEMPTS
from auth_service.domain.usernames import has_unstorable

router = APIRouter(prefix="/v1/users", tags=["users"])

MAX_IDS = 100


@router.get("/me")
async def me(claims: CurrentUser, deps: AuthDeps, settings: Settings) -> MeOut:
    user = user_out(await users.me(deps, claims))
    return MeOut(user=user, features=settings.feature_switches.listed())


@router.patch("/me", dependencies=[AdminFeature])
async def update_me(body: ProfilePatchIn, claims: CurrentUser, deps: AuthDeps) -> UserEnvelope:
    """api-v1.1 C: fields left out stay; `null` clears avatar_file_id or timezone."""
    named = body.model_fields_set
    if body.display_name is None and "display_name" in named:
        raise _invalid("display_name", "too_short", "Enter a display name.")
    if body.display_name is not None and has_unstorable(body.display_name):
        raise _invalid("display_name", "invalid_characters", "Remove invisible characters.")
    if body.timezone is not None and has_unstorable(body.timezone):
        raise _invalid("timezone", "unknown_timezone", "Pick a time zone like Europe/Paris.")
    change = accounts.ProfileChange(
        display_name=body.display_name,
        set_avatar="avatar_file_id" in named,
        avatar_file_id=body.avatar_file_id,
        set_timezone="timezone" in named,
        timezone=body.timezone,
    )
    return UserEnvelope(user=user_out(await accounts.update_profile(deps, claims, change)))


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[AdminFeature],
    responses=TOO_MANY_ATTEMPTS,
)
async def delete_me(
    body: DeleteMeIn, claims: CurrentUser, deps: AuthDeps, address: ClientAddress
) -> Response:
    """api-v1.1 C: erase the account (the owner must hand ownership over first: 409)."""
    await accounts.delete_account(deps, claims, body.password, address)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _invalid(field: str, code: str, message: str) -> Problem:
    errors: list[FieldError] = [{"field": field, "code": code, "message": message}]
    return Problem(422, "validation_failed", message, errors=errors)


def parse_ids(raw: str) -> list[uuid.UUID]:
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts:
        raise _invalid("ids", "empty", "Give at least one user id.")
    if len(parts) > MAX_IDS:
        raise _invalid("ids", "too_many", f"Ask for at most {MAX_IDS} users at once.")
    ids: list[uuid.UUID] = []
    for part in parts:
        try:
            ids.append(uuid.UUID(part))
        except ValueError:
            raise _invalid(
                "ids",
                "invalid_uuid",
                "Every id must be a UUID like 0b7e3f2a-5c1d-4e8f-9a6b-2d4c8e1f0a3b.",
            ) from None
    return list(dict.fromkeys(ids))


def _is_search(request: Request) -> bool:
    # Lookups by ids (the client naming the members it shows) are not a search: not counted.
    return "q" in request.query_params


@router.get(
    "",
    dependencies=[
        Depends(rate_limit.rate_limit(rate_limit.PEOPLE_SEARCH, current_claims, counts=_is_search))
    ],
    responses={**rate_limit.RATE_LIMITED_RESPONSE},
)
async def list_users(
    claims: CurrentUser,
    deps: AuthDeps,
    q: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    ids: Annotated[str | None, Query(max_length=MAX_IDS * 40)] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> UsersOut:
    if (q is None) == (ids is None):
        raise _invalid(
            "q",
            "one_of",
            "Give exactly one of q=<name prefix> (search) or ids=<id,id,...> (lookup).",
        )
    if q is not None:
        if has_unstorable(q):
            raise _invalid("q", "invalid_characters", "Remove invisible characters such as NUL.")
        found = await users.search(deps, q, limit)
    else:
        found = await users.lookup(deps, parse_ids(ids or ""))
    return UsersOut(users=[user_out(u) for u in found])
