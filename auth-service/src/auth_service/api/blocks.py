"""Blocking (api-v1.1 C): `PUT|DELETE /v1/users/{id}/block`, `GET /v1/users/me/blocks`; thin
routes over `auth_service.blocks`, behind the `blocking` feature."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from auth_service import blocks
from auth_service.api.deps import AuthDeps, BlockingFeature, CurrentUser
from auth_service.api.schemas import BlocksOut

router = APIRouter(prefix="/v1/users", tags=["users"], dependencies=[BlockingFeature])


@router.get("/me/blocks")
async def my_blocks(claims: CurrentUser, deps: AuthDeps) -> BlocksOut:
    """The users the caller blocks now, the most recently blocked first."""
    found = await blocks.blocked_users(deps, claims)
    return BlocksOut(user_ids=[str(u) for u in found])


@router.put("/{user_id}/block", status_code=status.HTTP_204_NO_CONTENT)
async def block(user_id: uuid.UUID, claims: CurrentUser, deps: AuthDeps) -> Response:
    await blocks.set_blocked(deps, claims, user_id, blocked=True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{user_id}/block", status_code=status.HTTP_204_NO_CONTENT)
async def unblock(user_id: uuid.UUID, claims: CurrentUser, deps: AuthDeps) -> Response:
    await blocks.set_blocked(deps, claims, user_id, blocked=False)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
