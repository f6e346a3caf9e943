"""Migration 0003 (api-v1.1 A timeline entries) on a database with rows from before: they stay
valid plain text entries, dedup still recognises their repeats, and it downgrades and upgrades
again."""

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
from message_service.domain.sending import Created, Duplicate, Rejected, SendCommand
from message_service.services import sending
from message_service.settings import MessageSettings
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

pytestmark = pytest.mark.integration

ROOM, ANA = uuid.uuid4(), uuid.uuid4()
CLIENT = uuid.uuid4()
NOW = datetime(2026, 12, 1, tzinfo=UTC)


async def migrate(url: str, revision: str, *, down: bool = False) -> None:
    config = Config(MessageSettings().alembic_ini)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    step = command.downgrade if down else command.upgrade
    await asyncio.to_thread(step, config, revision)


async def columns(engine: AsyncEngine, table: str) -> set[str]:
    async with engine.connect() as conn:
        found = await conn.execute(
            sa.text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"),
            {"t": table},
        )
        return {name for (name,) in found}


async def test_0003_keeps_old_rows_valid_and_downgrades() -> None:
    async with temporary_database("msg_m0003") as url:
        await migrate(url, "0002")
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    sa.text(
                        "INSERT INTO rooms (id, kind, name, visibility, created_by, created_at,"
                        " last_seq, last_activity_at) VALUES (:r, 'channel', 'old', 'public',"
                        " :u, :now, 1, :now)"
                    ),
                    {"r": ROOM, "u": ANA, "now": NOW},
                )
                await conn.execute(
                    sa.text(
                        "INSERT INTO memberships (room_id, user_id, joined_at, last_read_seq)"
                        " VALUES (:r, :u, :now, 1)"
                    ),
                    {"r": ROOM, "u": ANA, "now": NOW},
                )
                await conn.execute(
                    sa.text(
                        "INSERT INTO messages (id, room_id, seq, kind, sender_id, text,"
                        " client_msg_id, created_at) VALUES (:m, :r, 1, 'text', :u, 'from v1',"
                        " :c, :now)"
                    ),
                    {"m": uuid.uuid4(), "r": ROOM, "u": ANA, "c": CLIENT, "now": NOW},
                )
            await migrate(url, "head")
            async with engine.connect() as conn:
                row = (await conn.execute(sa.text("SELECT * FROM messages"))).one()
            assert (row.text, row.deleted, row.state_seq, row.content_hash) == (
                "from v1",
                False,
                None,
                None,
            )
            sessions = async_sessionmaker(engine, expire_on_commit=False)

            async def send(text: str) -> object:
                async with sessions() as session, session.begin():
                    cmd = SendCommand(CLIENT, ROOM, ANA, text)
                    (outcome,) = await sending.send_messages(session, [cmd])
                    return outcome

            # A repeat of the old send is recognised by its text; other text is a reuse.
            assert isinstance(await send("from v1"), Duplicate)
            refused = await send("something else")
            assert isinstance(refused, Rejected)
            assert refused.code == "client_msg_id_reused"
            async with sessions() as session, session.begin():
                fresh = SendCommand(uuid.uuid4(), ROOM, ANA, "from v1.1")
                (created,) = await sending.send_messages(session, [fresh])
            assert isinstance(created, Created)
            assert created.message.seq == 2

            await migrate(url, "0002", down=True)
            assert "content_hash" not in await columns(engine, "messages")
            assert "reactions" not in await tables_of(engine)
            await migrate(url, "head")
            assert {"reactions", "noop_sends"} <= await tables_of(engine)
        finally:
            await engine.dispose()


async def tables_of(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        found = await conn.execute(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        return {name for (name,) in found}
