"""Administration (api-v1.1 C): people, roles, deactivation, reset links, ownership, invites and
the audit log. Roles are read from the database on every request (never from the token), each
action is checked by `domain/people.py` and writes its audit row in its own transaction."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from auth_service import resets
from auth_service.deps import Deps
from auth_service.domain import sessions as token_rules
from auth_service.domain.people import Action, Role, is_admin, may_manage, may_set_role
from auth_service.domain.sessions import RevokeReason
from auth_service.domain.tokens import AccessClaims
from auth_service.domain.usernames import has_unstorable
from auth_service.errors import Refused, Unauthorized, forbidden, not_found
from auth_service.events import add_sessions_revoked, add_user_updated
from auth_service.store import (
    AuditRecord,
    AuditRepository,
    InviteRepository,
    ResetRepository,
    SessionRepository,
    UserRecord,
    UserRepository,
)

PAGE = 50


@dataclass(frozen=True)
class Actor:
    claims: AccessClaims
    ip: str | None


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        value = "\x00"
    if has_unstorable(value):
        raise Refused(422, "validation_failed", "The cursor is not one this API gave.")
    return value


async def _admin(s: AsyncSession, actor: Actor, *, owner_only: bool = False) -> UserRecord:
    me = await UserRepository(s).by_id(actor.claims.user_id)
    if me is None or me.deactivated:
        raise Unauthorized("user_gone")
    if not is_admin(me.role) or (owner_only and me.role != Role.OWNER):
        raise forbidden()
    return me


async def list_users(
    deps: Deps, actor: Actor, q: str | None, state: str | None, cursor: str | None
) -> tuple[list[UserRecord], str | None]:
    after = decode_cursor(cursor)
    async with deps.sessions() as s:
        await _admin(s, actor)
        found = await UserRepository(s).admin_page(q, state, after, PAGE + 1)
    more = len(found) > PAGE
    found = found[:PAGE]
    return found, (encode_cursor(found[-1].username) if more and found else None)


Change = Callable[[AsyncSession, UserRecord, UserRecord, datetime], Awaitable[UserRecord]]


async def _act(
    deps: Deps,
    actor: Actor,
    target_id: uuid.UUID,
    action: Action,
    change: Change,
    *,
    owner_only: bool = False,
    details: dict[str, object] | None = None,
) -> UserRecord:
    """Check the actor and target (target locked), apply, audit; one transaction."""
    async with deps.sessions.begin() as s:
        me = await _admin(s, actor, owner_only=owner_only)
        target = await UserRepository(s).by_id(target_id, for_update=True)
        if target is None or target.deleted:
            raise not_found()
        allowed = (
            may_set_role(me.role, target.role) if owner_only else may_manage(me.role, target.role)
        )
        if not allowed:
            raise forbidden()
        now = deps.now()
        changed = await change(s, me, target, now)
        await AuditRepository(s).add(
            actor_id=me.id,
            action=action,
            target_id=target.id,
            at=now,
            ip=actor.ip,
            details=details,
        )
    deps.notify()
    return changed


async def _updated(s: AsyncSession, target: UserRecord, **values: object) -> UserRecord:
    changed = await UserRepository(s).update(target.id, **values)
    if changed is None:
        raise not_found()
    await add_user_updated(s, [changed])
    return changed


async def set_role(deps: Deps, actor: Actor, target_id: uuid.UUID, role: str) -> UserRecord:
    async def change(
        s: AsyncSession, _: UserRecord, target: UserRecord, __: datetime
    ) -> UserRecord:
        if target.role == role:
            return target
        return await _updated(s, target, role=role)

    return await _act(
        deps,
        actor,
        target_id,
        Action.ROLE_CHANGED,
        change,
        owner_only=True,
        details={"role": role},
    )


async def deactivate(deps: Deps, actor: Actor, target_id: uuid.UUID) -> UserRecord:
    async def change(
        s: AsyncSession, _: UserRecord, target: UserRecord, now: datetime
    ) -> UserRecord:
        if target.id == actor.claims.user_id:
            raise Refused(409, "conflict", "You cannot deactivate your own account.")
        changed = target if target.deactivated else await _updated(s, target, deactivated=True)
        # Every session ends: verifiers refuse the access tokens, gateways close the sockets.
        revoked = await SessionRepository(s).revoke_all(
            target.id, RevokeReason.DEACTIVATED.value, now
        )
        await add_sessions_revoked(s, revoked, RevokeReason.DEACTIVATED)
        await ResetRepository(s).void_all(target.id, now)
        return changed

    return await _act(deps, actor, target_id, Action.DEACTIVATED, change)


async def reactivate(deps: Deps, actor: Actor, target_id: uuid.UUID) -> UserRecord:
    async def change(
        s: AsyncSession, _: UserRecord, target: UserRecord, __: datetime
    ) -> UserRecord:
        if not target.deactivated:
            return target
        return await _updated(s, target, deactivated=False)

    return await _act(deps, actor, target_id, Action.REACTIVATED, change)


async def reset_link(deps: Deps, actor: Actor, target_id: uuid.UUID) -> resets.Link:
    links: list[resets.Link] = []

    async def change(
        s: AsyncSession, me: UserRecord, target: UserRecord, __: datetime
    ) -> UserRecord:
        if target.deactivated:
            raise Refused(
                409,
                "deactivated",
                "This account is deactivated; reactivate it before making a reset link.",
            )
        links.append(await resets.issue(deps, s, target, me))
        return target

    await _act(deps, actor, target_id, Action.PASSWORD_RESET_LINK, change)
    return links[0]


async def transfer_owner(deps: Deps, actor: Actor, target_id: uuid.UUID) -> UserRecord:
    """The owner hands ownership over; they become an admin."""
    async with deps.sessions.begin() as s:
        me = await _admin(s, actor, owner_only=True)
        repo = UserRepository(s)
        target = await repo.by_id(target_id, for_update=True)
        if target is None or target.deleted:
            raise not_found()
        if target.deactivated:
            raise Refused(409, "deactivated", "Reactivate this account before making it the owner.")
        if target.id == me.id:
            return me
        # Old owner first: the unique index allows one owner at a time.
        old = await _updated(s, me, role=Role.ADMIN)
        new = await _updated(s, target, role=Role.OWNER)
        await AuditRepository(s).add(
            actor_id=me.id,
            action=Action.OWNER_TRANSFERRED,
            target_id=target.id,
            at=deps.now(),
            ip=actor.ip,
            details={"previous_owner": str(old.id)},
        )
    deps.notify()
    return new


async def create_invite(deps: Deps, actor: Actor) -> resets.Link:
    async with deps.sessions.begin() as s:
        me = await _admin(s, actor)
        token = token_rules.new_refresh_token()
        now = deps.now()
        expires = now + timedelta(seconds=deps.settings.invite_ttl_s)
        await InviteRepository(s).add(token_rules.hash_refresh_token(token), me.id, now, expires)
        await AuditRepository(s).add(
            actor_id=me.id,
            action=Action.INVITE_CREATED,
            target_id=None,
            at=now,
            ip=actor.ip,
            details={"expires_at": expires.isoformat()},
        )
    return resets.Link(f"{deps.settings.client_url}/#/register?invite={token}", expires)


async def audit_page(
    deps: Deps, actor: Actor, cursor: str | None
) -> tuple[list[AuditRecord], str | None]:
    raw = decode_cursor(cursor)
    if raw is not None and not raw.isdigit():
        raise Refused(422, "validation_failed", "The cursor is not one this API gave.")
    async with deps.sessions() as s:
        await _admin(s, actor)
        entries = await AuditRepository(s).page(int(raw) if raw else None, PAGE + 1)
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    return entries, (encode_cursor(str(entries[-1].id)) if more and entries else None)
