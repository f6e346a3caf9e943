"""/v1/admin/* and /v1/invites (api-v1.1 C): thin routes over `auth_service.admin`."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from chat_runtime.http import rate_limit
from fastapi import APIRouter, Depends, Query, status

from auth_service import admin
from auth_service.api.deps import (
    AdminFeature,
    AuthDeps,
    ClientAddress,
    CurrentUser,
    current_claims,
)
from auth_service.api.schemas import (
    AdminUsersOut,
    AuditEntryOut,
    AuditOut,
    InviteOut,
    OwnerIn,
    ResetLinkOut,
    RoleIn,
    UserEnvelope,
    user_out,
)
from auth_service.domain.tokens import AccessClaims
from auth_service.domain.usernames import has_unstorable
from auth_service.errors import Refused
from auth_service.wire import rfc3339

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[AdminFeature])
invites_router = APIRouter(prefix="/v1/invites", tags=["admin"], dependencies=[AdminFeature])


def _actor(claims: AccessClaims, address: str) -> admin.Actor:
    return admin.Actor(claims, address)


@router.get("/users")
async def list_users(
    claims: CurrentUser,
    deps: AuthDeps,
    address: ClientAddress,
    q: Annotated[str | None, Query(max_length=64)] = None,
    state: Literal["active", "deactivated"] | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> AdminUsersOut:
    if q is not None and has_unstorable(q):
        raise Refused(422, "validation_failed", "Remove invisible characters such as NUL.")
    found, next_cursor = await admin.list_users(
        deps, _actor(claims, address), q or None, state, cursor
    )
    return AdminUsersOut(users=[user_out(u) for u in found], next_cursor=next_cursor)


@router.post("/users/{user_id}/role")
async def set_role(
    user_id: uuid.UUID, body: RoleIn, claims: CurrentUser, deps: AuthDeps, address: ClientAddress
) -> UserEnvelope:
    user = await admin.set_role(deps, _actor(claims, address), user_id, body.role)
    return UserEnvelope(user=user_out(user))


@router.post("/users/{user_id}/deactivate")
async def deactivate(
    user_id: uuid.UUID, claims: CurrentUser, deps: AuthDeps, address: ClientAddress
) -> UserEnvelope:
    user = await admin.deactivate(deps, _actor(claims, address), user_id)
    return UserEnvelope(user=user_out(user))


@router.post("/users/{user_id}/reactivate")
async def reactivate(
    user_id: uuid.UUID, claims: CurrentUser, deps: AuthDeps, address: ClientAddress
) -> UserEnvelope:
    user = await admin.reactivate(deps, _actor(claims, address), user_id)
    return UserEnvelope(user=user_out(user))


@router.post("/users/{user_id}/password-reset", status_code=status.HTTP_201_CREATED)
async def password_reset_link(
    user_id: uuid.UUID, claims: CurrentUser, deps: AuthDeps, address: ClientAddress
) -> ResetLinkOut:
    link = await admin.reset_link(deps, _actor(claims, address), user_id)
    return ResetLinkOut(reset_url=link.url, expires_at=rfc3339(link.expires_at))


@router.post("/owner")
async def transfer_owner(
    body: OwnerIn, claims: CurrentUser, deps: AuthDeps, address: ClientAddress
) -> UserEnvelope:
    user = await admin.transfer_owner(deps, _actor(claims, address), body.user_id)
    return UserEnvelope(user=user_out(user))


@router.get("/audit")
async def audit(
    claims: CurrentUser,
    deps: AuthDeps,
    address: ClientAddress,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> AuditOut:
    entries, next_cursor = await admin.audit_page(deps, _actor(claims, address), cursor)
    return AuditOut(
        entries=[
            AuditEntryOut(
                id=str(e.id),
                actor_id=str(e.actor_id) if e.actor_id else None,
                action=e.action,
                target_id=str(e.target_id) if e.target_id else None,
                at=rfc3339(e.at),
                ip=e.ip,
                details=e.details,
            )
            for e in entries
        ],
        next_cursor=next_cursor,
    )


@invites_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(rate_limit.rate_limit(rate_limit.INVITE_CREATE, current_claims))],
    responses={**rate_limit.RATE_LIMITED_RESPONSE},
)
async def create_invite(claims: CurrentUser, deps: AuthDeps, address: ClientAddress) -> InviteOut:
    link = await admin.create_invite(deps, _actor(claims, address))
    return InviteOut(invite_url=link.url, expires_at=rfc3339(link.expires_at))
