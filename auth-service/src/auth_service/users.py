"""Reading users: the signed-in user, prefix search and lookup by ids (/v1/users)."""

from __future__ import annotations

import uuid

from auth_service.deps import Deps
from auth_service.domain.tokens import AccessClaims
from auth_service.errors import Unauthorized
from auth_service.store import UserRecord, UserRepository


async def me(deps: Deps, claims: AccessClaims) -> UserRecord:
    async with deps.sessions() as s:
        user = await UserRepository(s).by_id(claims.user_id)
    if user is None:
        raise Unauthorized("user_gone")
    return user


async def search(deps: Deps, prefix: str, limit: int) -> list[UserRecord]:
    async with deps.sessions() as s:
        return await UserRepository(s).search_prefix(prefix, limit)


async def lookup(deps: Deps, ids: list[uuid.UUID]) -> list[UserRecord]:
    async with deps.sessions() as s:
        return await UserRepository(s).by_ids(ids)
