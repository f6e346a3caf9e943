"""Migration 0006 (api-v1.1 C rooms and blocks) on a database with rows from before: existing
channels make their creator a room admin (and nobody else; direct rooms have none), rooms get
no topic and are not archived, and it downgrades and upgrades again."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from chat_runtime.db import create_engine
from chat_runtime.testing import temporary_database
from message_service.settings import MessageSettings
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

CHANNEL, DIRECT = uuid.uuid4(), uuid.uuid4()
ANA, BEN = uuid.uuid4(), uuid.uuid4()
NOW = datetime(2026, 12, 1, tzinfo=UTC)


async def migrate(url: str, revision: str, *, down: bool = False) -> None:
    config = Config(MessageSettings().alembic_ini)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    step = command.downgrade if down else command.upgrade
    await asyncio.to_thread(step, config, revision)


async def names(engine: AsyncEngine, sql: str, **params: object) -> set[str]:
    async with engine.connect() as conn:
        return {name for (name,) in await conn.execute(sa.text(sql), params)}


async def columns(engine: AsyncEngine, table: str) -> set[str]:
    return await names(
        engine, "SELECT column_name FROM information_schema.columns WHERE table_name = :t", t=table
    )


async def test_0006_makes_creators_room_admins_and_downgrades() -> None:
    async with temporary_database("msg_m0006") as url:
        await migrate(url, "0005")
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                for room, kind, key in (
                    (CHANNEL, "channel", None),
                    (DIRECT, "direct", f"{min(ANA, BEN)}:{max(ANA, BEN)}"),
                ):
                    await conn.execute(
                        sa.text(
                            "INSERT INTO rooms (id, kind, name, visibility, created_by,"
                            " created_at, last_seq, last_activity_at, direct_key) VALUES"
                            " (:r, :k, 'old', 'private', :u, :now, 0, :now, :key)"
                        ),
                        {"r": room, "k": kind, "u": ANA, "now": NOW, "key": key},
                    )
                    for user in (ANA, BEN):
                        await conn.execute(
                            sa.text(
                                "INSERT INTO memberships (room_id, user_id, joined_at,"
                                " last_read_seq) VALUES (:r, :u, :now, 0)"
                            ),
                            {"r": room, "u": user, "now": NOW},
                        )
            await migrate(url, "0006")
            async with engine.connect() as conn:
                roles = {
                    (row.room_id, row.user_id): row.role
                    for row in await conn.execute(sa.text("SELECT * FROM memberships"))
                }
                rooms = {
                    row.id: (row.topic, row.archived)
                    for row in await conn.execute(sa.text("SELECT * FROM rooms"))
                }
            assert roles == {
                (CHANNEL, ANA): "admin",
                (CHANNEL, BEN): "member",
                (DIRECT, ANA): "member",
                (DIRECT, BEN): "member",
            }
            assert rooms == {CHANNEL: (None, False), DIRECT: (None, False)}

            await migrate(url, "0005", down=True)
            assert not {"topic", "archived"} & await columns(engine, "rooms")
            assert "role" not in await columns(engine, "memberships")
            tables = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            assert "blocks" not in await names(engine, tables)
            await migrate(url, "head")
            assert "blocks" in await names(engine, tables)
            assert "role" in await columns(engine, "memberships")
        finally:
            await engine.dispose()
