"""Repositories over PostgreSQL (SQLAlchemy 2 Core, bound parameters only)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from chat_runtime.messaging.outbox import outbox_table
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.domain.throttle import CounterState, Scope

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("username", sa.Text, nullable=False),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
    # api-v1.1 C (migration 0002).
    sa.Column("role", sa.Text, nullable=False, server_default="member"),
    sa.Column("deactivated", sa.Boolean, nullable=False, server_default="false"),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default="false"),
    sa.Column("avatar_file_id", pg.UUID(as_uuid=True), nullable=True),
    sa.Column("timezone", sa.Text, nullable=True),
    # Grows by one on every change announced as auth.user.updated.v1 (0: not announced yet).
    sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    sa.CheckConstraint("username = lower(username)", name="users_username_lower"),
    sa.CheckConstraint("role IN ('owner', 'admin', 'member')", name="users_role_known"),
    sa.Index("users_one_owner", "role", unique=True, postgresql_where=sa.text("role = 'owner'")),
    # text_pattern_ops serves both equality and `LIKE 'prefix%'` whatever the collation.
    sa.Index(
        "users_username_key",
        "username",
        unique=True,
        postgresql_ops={"username": "text_pattern_ops"},
    ),
    sa.Index(
        "users_display_name_lower_idx",
        sa.text("lower(display_name) text_pattern_ops"),
    ),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column(
        "user_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoke_reason", sa.Text, nullable=True),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("user_agent", sa.Text, nullable=True),
    sa.Column("ip", sa.Text, nullable=True),
    sa.Index("sessions_user_id_idx", "user_id"),
    sa.Index(
        "sessions_revoked_at_idx", "revoked_at", postgresql_where=sa.text("revoked_at IS NOT NULL")
    ),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("token_hash", sa.LargeBinary, primary_key=True),
    sa.Column(
        "session_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("successor_hash", sa.LargeBinary, nullable=True),
    # The successor token encrypted under a key derived from *this* token: only someone who
    # presents this token again (the other tab, within the grace period) can read it.
    sa.Column("successor_box", sa.LargeBinary, nullable=True),
    sa.Index("refresh_tokens_session_id_idx", "session_id"),
)

throttle_counters = sa.Table(
    "throttle_counters",
    metadata,
    sa.Column("scope", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
)

invites = sa.Table(
    "invites",
    metadata,
    sa.Column("token_hash", sa.LargeBinary, primary_key=True),
    sa.Column("created_by", pg.UUID(as_uuid=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("used_by", pg.UUID(as_uuid=True), nullable=True),
)

password_resets = sa.Table(
    "password_resets",
    metadata,
    sa.Column("token_hash", sa.LargeBinary, primary_key=True),
    sa.Column(
        "user_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("created_by", pg.UUID(as_uuid=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("password_resets_user_id_idx", "user_id"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
    sa.Column("actor_id", pg.UUID(as_uuid=True), nullable=True),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("target_id", pg.UUID(as_uuid=True), nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ip", sa.Text, nullable=True),
    sa.Column("details", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
)

# api-v1.1 C blocking (migration 0003): one row per pair, kept after an unblock (`blocked`
# false) so the pair's `version` keeps growing; queries in block_store.py.
blocks = sa.Table(
    "blocks",
    metadata,
    sa.Column(
        "blocker_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "blocked_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("blocked", sa.Boolean, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("blocker_id <> blocked_id", name="blocks_not_self"),
)

# api-v1.1 F known devices (migration 0004): SHA-256 of the `chat_device` cookie, bound to the
# user it was issued to; queries in KnownDeviceRepository.
known_devices = sa.Table(
    "known_devices",
    metadata,
    sa.Column("token_hash", sa.LargeBinary, primary_key=True),
    sa.Column(
        "user_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

outbox = outbox_table(metadata)


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass(frozen=True)
class UserRecord:
    id: uuid.UUID
    username: str
    display_name: str
    password_hash: str
    created_at: datetime
    role: str = "member"
    deactivated: bool = False
    deleted: bool = False
    avatar_file_id: uuid.UUID | None = None
    timezone: str | None = None
    version: int = 0


@dataclass(frozen=True)
class RefreshRecord:
    token_hash: bytes
    session_id: uuid.UUID
    user_id: uuid.UUID
    rotated_at: datetime | None
    successor_hash: bytes | None
    successor_box: bytes | None
    successor_rotated: bool
    session_created_at: datetime
    session_expires_at: datetime
    session_revoked: bool
    session_last_used_at: datetime | None = None


@dataclass(frozen=True)
class ClientInfo:
    """Where a sign-in or refresh came from (shown in the sessions list)."""

    user_agent: str | None
    ip: str | None


@dataclass(frozen=True)
class SessionInfo:
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    user_agent: str | None
    ip: str | None


@dataclass(frozen=True)
class InviteRecord:
    token_hash: bytes
    expires_at: datetime


@dataclass(frozen=True)
class AuditRecord:
    id: int
    actor_id: uuid.UUID | None
    action: str
    target_id: uuid.UUID | None
    at: datetime
    ip: str | None
    details: dict[str, object]


@dataclass(frozen=True)
class RevokedSession:
    session_id: uuid.UUID
    user_id: uuid.UUID
    revoked_at: datetime


def _user(row: sa.Row[tuple[object, ...]]) -> UserRecord:
    m = row._mapping
    return UserRecord(
        id=m["id"],
        username=m["username"],
        display_name=m["display_name"],
        password_hash=m["password_hash"],
        created_at=m["created_at"],
        role=m["role"],
        deactivated=m["deactivated"],
        deleted=m["deleted"],
        avatar_file_id=m["avatar_file_id"],
        timezone=m["timezone"],
        version=m["version"],
    )


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, user: UserRecord) -> bool:
        """Insert; False when the (lower-case) username is taken."""
        stmt = (
            pg.insert(users)
            .values(
                id=user.id,
                username=user.username,
                display_name=user.display_name,
                password_hash=user.password_hash,
                created_at=user.created_at,
                password_changed_at=user.created_at,
                role=user.role,
                version=user.version,
            )
            .on_conflict_do_nothing(index_elements=[users.c.username])
            .returning(users.c.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def by_username(self, username: str) -> UserRecord | None:
        row = (
            await self.session.execute(sa.select(users).where(users.c.username == username))
        ).first()
        return _user(row) if row else None

    async def by_id(
        self, user_id: uuid.UUID, *, for_update: bool = False, for_share: bool = False
    ) -> UserRecord | None:
        stmt = sa.select(users).where(users.c.id == user_id)
        if for_update or for_share:
            stmt = stmt.with_for_update(read=not for_update)
        row = (await self.session.execute(stmt)).first()
        return _user(row) if row else None

    async def by_ids(self, ids: list[uuid.UUID]) -> list[UserRecord]:
        if not ids:
            return []
        stmt = sa.select(users).where(users.c.id.in_(ids)).order_by(users.c.username)
        return [_user(r) for r in (await self.session.execute(stmt)).all()]

    async def search_prefix(self, prefix: str, limit: int) -> list[UserRecord]:
        # The prefix is data, not a pattern: escape LIKE's wildcards.
        escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = escaped + "%"
        stmt = (
            sa.select(users)
            .where(
                sa.or_(
                    users.c.username.like(pattern, escape="\\"),
                    sa.func.lower(users.c.display_name).like(pattern, escape="\\"),
                ),
                # api-v1.1 C: deactivated (and deleted) accounts are hidden from search.
                users.c.deactivated.is_(False),
                users.c.deleted.is_(False),
            )
            .order_by(users.c.username)
            .limit(limit)
        )
        return [_user(r) for r in (await self.session.execute(stmt)).all()]

    async def set_password_hash(
        self, user_id: uuid.UUID, password_hash: str, *, changed_at: datetime | None = None
    ) -> None:
        values: dict[str, object] = {"password_hash": password_hash}
        if changed_at is not None:
            values["password_changed_at"] = changed_at
        await self.session.execute(sa.update(users).where(users.c.id == user_id).values(**values))

    async def any_user(self) -> bool:
        return (
            await self.session.execute(sa.select(sa.literal(1)).select_from(users).limit(1))
        ).first() is not None

    async def owner(self) -> UserRecord | None:
        row = (await self.session.execute(sa.select(users).where(users.c.role == "owner"))).first()
        return _user(row) if row else None

    async def update(self, user_id: uuid.UUID, **values: object) -> UserRecord | None:
        """Change a user and count the change (`version` + 1); the row after it, or None."""
        stmt = (
            sa.update(users)
            .where(users.c.id == user_id)
            .values(version=users.c.version + 1, **values)
            .returning(*users.c)
        )
        row = (await self.session.execute(stmt)).first()
        return _user(row) if row else None

    async def announce_unversioned(self) -> list[UserRecord]:
        """Users not announced yet (version 0: made before migration 0002) move to version 1;
        the caller announces each in the same transaction."""
        stmt = sa.update(users).where(users.c.version == 0).values(version=1).returning(*users.c)
        return [_user(r) for r in (await self.session.execute(stmt)).all()]

    async def admin_page(
        self, prefix: str | None, state: str | None, after: str | None, limit: int
    ) -> list[UserRecord]:
        """Accounts by username (deleted ones left out), `limit` after the cursor `after`."""
        conditions: list[sa.ColumnElement[bool]] = [users.c.deleted.is_(False)]
        if prefix:
            escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = escaped + "%"
            conditions.append(
                sa.or_(
                    users.c.username.like(pattern, escape="\\"),
                    sa.func.lower(users.c.display_name).like(pattern, escape="\\"),
                )
            )
        if state == "active":
            conditions.append(users.c.deactivated.is_(False))
        elif state == "deactivated":
            conditions.append(users.c.deactivated.is_(True))
        if after is not None:
            conditions.append(users.c.username > after)
        stmt = sa.select(users).where(*conditions).order_by(users.c.username).limit(limit)
        return [_user(r) for r in (await self.session.execute(stmt)).all()]


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(
        self,
        session_id: uuid.UUID,
        user_id: uuid.UUID,
        created_at: datetime,
        expires_at: datetime,
        *,
        client: ClientInfo | None = None,
    ) -> None:
        await self.session.execute(
            sa.insert(sessions).values(
                id=session_id,
                user_id=user_id,
                created_at=created_at,
                expires_at=expires_at,
                last_used_at=created_at,
                user_agent=client.user_agent if client else None,
                ip=client.ip if client else None,
            )
        )

    async def touch(self, session_id: uuid.UUID, now: datetime, client: ClientInfo | None) -> None:
        """A refresh used the session: remember when and from where."""
        values: dict[str, object] = {"last_used_at": now}
        if client is not None:
            values.update(user_agent=client.user_agent, ip=client.ip)
        await self.session.execute(
            sa.update(sessions).where(sessions.c.id == session_id).values(**values)
        )

    async def is_active(self, session_id: uuid.UUID, now: datetime) -> bool:
        """Not revoked, not expired, and its user not deactivated (belt and braces: deactivation
        revokes every session too)."""
        stmt = (
            sa.select(sa.literal(1))
            .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
            .where(
                sessions.c.id == session_id,
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > now,
                users.c.deactivated.is_(False),
            )
        )
        return (await self.session.execute(stmt)).first() is not None

    async def list_active(
        self, user_id: uuid.UUID, now: datetime, idle_since: datetime
    ) -> list[SessionInfo]:
        stmt = (
            sa.select(sessions)
            .where(
                sessions.c.user_id == user_id,
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > now,
                sa.func.coalesce(sessions.c.last_used_at, sessions.c.created_at) > idle_since,
            )
            .order_by(sessions.c.created_at.desc())
        )
        return [
            SessionInfo(
                id=m["id"],
                created_at=m["created_at"],
                last_used_at=m["last_used_at"] or m["created_at"],
                user_agent=m["user_agent"],
                ip=m["ip"],
            )
            for m in (r._mapping for r in (await self.session.execute(stmt)).all())
        ]

    async def revoke_own(
        self, session_id: uuid.UUID, user_id: uuid.UUID, reason: str, now: datetime
    ) -> RevokedSession | None:
        """Revoke a session of this user; None when it is not theirs or already ended."""
        stmt = (
            sa.update(sessions)
            .where(
                sessions.c.id == session_id,
                sessions.c.user_id == user_id,
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > now,
            )
            .values(revoked_at=now, revoke_reason=reason)
            .returning(sessions.c.id, sessions.c.user_id, sessions.c.revoked_at)
        )
        row = (await self.session.execute(stmt)).first()
        return RevokedSession(row[0], row[1], row[2]) if row else None

    async def forget_refresh_tokens(self, user_id: uuid.UUID) -> None:
        """Account deletion: no refresh token of the user is kept (the revoked sessions stay
        until they expire, for the revocation window)."""
        await self.session.execute(
            sa.delete(refresh_tokens).where(
                refresh_tokens.c.session_id.in_(
                    sa.select(sessions.c.id).where(sessions.c.user_id == user_id)
                )
            )
        )

    async def revoke(
        self, session_id: uuid.UUID, reason: str, now: datetime
    ) -> RevokedSession | None:
        """Revoke one session; None when it was already revoked (nothing to announce)."""
        stmt = (
            sa.update(sessions)
            .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=now, revoke_reason=reason)
            .returning(sessions.c.id, sessions.c.user_id, sessions.c.revoked_at)
        )
        row = (await self.session.execute(stmt)).first()
        return RevokedSession(row[0], row[1], row[2]) if row else None

    async def revoke_all(
        self,
        user_id: uuid.UUID,
        reason: str,
        now: datetime,
        *,
        except_session: uuid.UUID | None = None,
    ) -> list[RevokedSession]:
        conditions = [sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)]
        if except_session is not None:
            conditions.append(sessions.c.id != except_session)
        stmt = (
            sa.update(sessions)
            .where(*conditions)
            .values(revoked_at=now, revoke_reason=reason)
            .returning(sessions.c.id, sessions.c.user_id, sessions.c.revoked_at)
        )
        return [RevokedSession(r[0], r[1], r[2]) for r in (await self.session.execute(stmt)).all()]

    async def purge_expired(self, before: datetime) -> int:
        """Delete sessions past their absolute lifetime (their refresh tokens go by cascade)."""
        result = await self.session.execute(
            sa.delete(sessions).where(sessions.c.expires_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def revoked_since(self, since: datetime) -> list[RevokedSession]:
        stmt = (
            sa.select(sessions.c.id, sessions.c.user_id, sessions.c.revoked_at)
            .where(sessions.c.revoked_at >= since)
            .order_by(sessions.c.revoked_at)
        )
        return [RevokedSession(r[0], r[1], r[2]) for r in (await self.session.execute(stmt)).all()]


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token_hash: bytes, session_id: uuid.UUID, created_at: datetime) -> None:
        await self.session.execute(
            sa.insert(refresh_tokens).values(
                token_hash=token_hash, session_id=session_id, created_at=created_at
            )
        )

    async def get_for_update(self, token_hash: bytes) -> RefreshRecord | None:
        """The token with its session locked: concurrent refreshes of one session queue up
        here, so the second sees the first's rotation and gets the same successor."""
        lock = (
            sa.select(sessions.c.id)
            .join(refresh_tokens, sessions.c.id == refresh_tokens.c.session_id)
            .where(refresh_tokens.c.token_hash == token_hash)
            .with_for_update(of=sessions)
        )
        if (await self.session.execute(lock)).first() is None:
            return None
        # Read after the lock is held: under READ COMMITTED this statement sees what the
        # transaction we waited for committed (the rows of one locking query would not).
        successor = refresh_tokens.alias("successor")
        stmt = (
            sa.select(
                refresh_tokens,
                sessions.c.user_id,
                sessions.c.created_at.label("session_created_at"),
                sessions.c.expires_at.label("session_expires_at"),
                sessions.c.revoked_at.label("session_revoked_at"),
                sessions.c.last_used_at.label("session_last_used_at"),
                successor.c.rotated_at.label("successor_rotated_at"),
            )
            .join(sessions, sessions.c.id == refresh_tokens.c.session_id)
            .outerjoin(successor, successor.c.token_hash == refresh_tokens.c.successor_hash)
            .where(refresh_tokens.c.token_hash == token_hash)
        )
        row = (await self.session.execute(stmt)).first()
        if row is None:
            return None
        m = row._mapping
        return RefreshRecord(
            token_hash=m["token_hash"],
            session_id=m["session_id"],
            user_id=m["user_id"],
            rotated_at=m["rotated_at"],
            successor_hash=m["successor_hash"],
            successor_box=m["successor_box"],
            successor_rotated=m["successor_rotated_at"] is not None,
            session_created_at=m["session_created_at"],
            session_expires_at=m["session_expires_at"],
            session_revoked=m["session_revoked_at"] is not None,
            session_last_used_at=m["session_last_used_at"],
        )

    async def mark_rotated(
        self, token_hash: bytes, successor_hash: bytes, successor_box: bytes, now: datetime
    ) -> None:
        await self.session.execute(
            sa.update(refresh_tokens)
            .where(refresh_tokens.c.token_hash == token_hash)
            .values(rotated_at=now, successor_hash=successor_hash, successor_box=successor_box)
        )

    async def session_of(self, token_hash: bytes) -> uuid.UUID | None:
        stmt = sa.select(refresh_tokens.c.session_id).where(
            refresh_tokens.c.token_hash == token_hash
        )
        row = (await self.session.execute(stmt)).first()
        return row[0] if row else None


class KnownDeviceRepository:
    """Known-device cookies (api-v1.1 F), stored only as hashes."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def device_of(self, token_hash: bytes, username: str, now: datetime) -> bool:
        """Whether the cookie is unexpired and was issued to the user called `username`."""
        row = (
            await self.session.execute(
                sa.select(known_devices.c.token_hash)
                .select_from(known_devices.join(users, users.c.id == known_devices.c.user_id))
                .where(
                    known_devices.c.token_hash == token_hash,
                    known_devices.c.expires_at > now,
                    users.c.username == username,
                )
            )
        ).first()
        return row is not None

    async def remember(
        self, token_hash: bytes, user_id: uuid.UUID, now: datetime, expires: datetime
    ) -> None:
        """Add the device, or give an existing one of the same user a new expiry."""
        stmt = pg.insert(known_devices).values(
            token_hash=token_hash, user_id=user_id, created_at=now, expires_at=expires
        )
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=[known_devices.c.token_hash],
                set_={"expires_at": expires},
                where=known_devices.c.user_id == user_id,
            )
        )

    async def purge(self, now: datetime) -> int:
        result = await self.session.execute(
            sa.delete(known_devices).where(known_devices.c.expires_at < now)
        )
        return int(getattr(result, "rowcount", 0) or 0)


class ThrottleRepository:
    """Counters shared by every replica; rows are locked for the read-modify-write."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self, keys: list[tuple[Scope, str]]) -> dict[tuple[Scope, str], CounterState]:
        # Fixed order, so two requests locking overlapping keys cannot deadlock.
        ordered = sorted(set(keys))
        for scope, key in ordered:
            await self.session.execute(
                pg.insert(throttle_counters)
                .values(scope=str(scope), key=key, window_start=_ts(0), count=0)
                .on_conflict_do_nothing()
            )
        states: dict[tuple[Scope, str], CounterState] = {}
        for scope, key in ordered:
            row = (
                await self.session.execute(
                    sa.select(throttle_counters)
                    .where(throttle_counters.c.scope == str(scope), throttle_counters.c.key == key)
                    .with_for_update()
                )
            ).one()
            m = row._mapping
            blocked = m["blocked_until"]
            states[(scope, key)] = CounterState(
                window_start=m["window_start"].timestamp(),
                count=m["count"],
                blocked_until=blocked.timestamp() if blocked else None,
            )
        return states

    async def save(self, scope: Scope, key: str, state: CounterState) -> None:
        await self.session.execute(
            sa.update(throttle_counters)
            .where(throttle_counters.c.scope == str(scope), throttle_counters.c.key == key)
            .values(
                window_start=_ts(state.window_start),
                count=state.count,
                blocked_until=_ts(state.blocked_until) if state.blocked_until else None,
            )
        )

    async def purge(self, now: datetime, window_s: float) -> int:
        """Forget counters whose window is over and whose block has run out."""
        stmt = sa.delete(throttle_counters).where(
            throttle_counters.c.window_start < now - timedelta(seconds=window_s),
            sa.or_(
                throttle_counters.c.blocked_until.is_(None),
                throttle_counters.c.blocked_until < now,
            ),
        )
        result = await self.session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)

    async def reset(self, scope: Scope, key: str) -> None:
        await self.session.execute(
            sa.delete(throttle_counters).where(
                throttle_counters.c.scope == str(scope), throttle_counters.c.key == key
            )
        )


def pair_key(username: str, address: str) -> str:
    # JSON keeps the two parts apart whatever characters the username contains.
    return json.dumps([username, address], separators=(",", ":"))


class InviteRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, token_hash: bytes, created_by: uuid.UUID | None, now: datetime, expires_at: datetime
    ) -> None:
        await self.session.execute(
            sa.insert(invites).values(
                token_hash=token_hash, created_by=created_by, created_at=now, expires_at=expires_at
            )
        )

    async def is_usable(self, token_hash: bytes, now: datetime) -> bool:
        stmt = sa.select(sa.literal(1)).where(
            invites.c.token_hash == token_hash,
            invites.c.used_at.is_(None),
            invites.c.expires_at > now,
        )
        return (await self.session.execute(stmt)).first() is not None

    async def use(self, token_hash: bytes, user_id: uuid.UUID, now: datetime) -> bool:
        """Spend the invitation (once); False when it is used, expired or unknown."""
        stmt = (
            sa.update(invites)
            .where(
                invites.c.token_hash == token_hash,
                invites.c.used_at.is_(None),
                invites.c.expires_at > now,
            )
            .values(used_at=now, used_by=user_id)
            .returning(invites.c.token_hash)
        )
        return (await self.session.execute(stmt)).first() is not None


class ResetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def issue(
        self,
        token_hash: bytes,
        user_id: uuid.UUID,
        created_by: uuid.UUID | None,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        """A new link voids every older unused one of the user."""
        await self.session.execute(
            sa.update(password_resets)
            .where(
                password_resets.c.user_id == user_id,
                password_resets.c.used_at.is_(None),
                password_resets.c.voided_at.is_(None),
            )
            .values(voided_at=now)
        )
        await self.session.execute(
            sa.insert(password_resets).values(
                token_hash=token_hash,
                user_id=user_id,
                created_by=created_by,
                created_at=now,
                expires_at=expires_at,
            )
        )

    async def usable(
        self, token_hash: bytes, now: datetime, *, for_update: bool = False
    ) -> UserRecord | None:
        """The user a link resets, when it is unused, not voided, not expired and the user is
        neither deactivated nor deleted: one statement whatever the reason for None."""
        stmt = (
            sa.select(users)
            .select_from(password_resets.join(users, users.c.id == password_resets.c.user_id))
            .where(
                password_resets.c.token_hash == token_hash,
                password_resets.c.used_at.is_(None),
                password_resets.c.voided_at.is_(None),
                password_resets.c.expires_at > now,
                users.c.deactivated.is_(False),
                users.c.deleted.is_(False),
            )
        )
        if for_update:
            stmt = stmt.with_for_update(of=password_resets)
        row = (await self.session.execute(stmt)).first()
        return _user(row) if row else None

    async def mark_used(self, token_hash: bytes, now: datetime) -> None:
        await self.session.execute(
            sa.update(password_resets)
            .where(password_resets.c.token_hash == token_hash)
            .values(used_at=now)
        )

    async def void_all(self, user_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(
            sa.update(password_resets)
            .where(password_resets.c.user_id == user_id, password_resets.c.used_at.is_(None))
            .values(voided_at=now)
        )


async def purge_links(session: AsyncSession, before: datetime) -> int:
    """Forget invitations and reset links that expired before `before` (used or not)."""
    total = 0
    for table in (invites, password_resets):
        result = await session.execute(sa.delete(table).where(table.c.expires_at < before))
        total += int(getattr(result, "rowcount", 0) or 0)
    return total


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        *,
        actor_id: uuid.UUID | None,
        action: str,
        target_id: uuid.UUID | None,
        at: datetime,
        ip: str | None,
        details: dict[str, object] | None = None,
    ) -> None:
        await self.session.execute(
            sa.insert(audit_log).values(
                actor_id=actor_id,
                action=action,
                target_id=target_id,
                at=at,
                ip=ip,
                details=details or {},
            )
        )

    async def page(self, before: int | None, limit: int) -> list[AuditRecord]:
        """Newest first; `before` is the id of the last entry of the previous page."""
        stmt = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if before is not None:
            stmt = stmt.where(audit_log.c.id < before)
        return [
            AuditRecord(
                id=m["id"],
                actor_id=m["actor_id"],
                action=m["action"],
                target_id=m["target_id"],
                at=m["at"],
                ip=m["ip"],
                details=dict(m["details"]),
            )
            for m in (r._mapping for r in (await self.session.execute(stmt)).all())
        ]
