"""Migration 0007 (api-v1.1 E attachments) on a database with rows from before: existing entries
carry no files, the new tables take a file and an attachment of an existing entry, and it
downgrades and upgrades again."""

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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

ROOM, MESSAGE, FILE = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
ANA = uuid.uuid4()
NOW = datetime(2026, 12, 7, tzinfo=UTC)


async def migrate(url: str, revision: str, *, down: bool = False) -> None:
    config = Config(MessageSettings().alembic_ini)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    step = command.downgrade if down else command.upgrade
    await asyncio.to_thread(step, config, revision)


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        return {name for (name,) in rows}


async def test_0007_adds_files_and_attachments_and_downgrades() -> None:
    async with temporary_database("msg_m0007") as url:
        await migrate(url, "0006")
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    sa.text(
                        "INSERT INTO rooms (id, kind, name, visibility, created_by, created_at,"
                        " last_seq, last_activity_at) VALUES"
                        " (:r, 'channel', 'old', 'public', :u, :now, 1, :now)"
                    ),
                    {"r": ROOM, "u": ANA, "now": NOW},
                )
                await conn.execute(
                    sa.text(
                        "INSERT INTO messages (id, room_id, seq, kind, sender_id, text,"
                        " client_msg_id, created_at) VALUES"
                        " (:m, :r, 1, 'text', :u, 'before files', :c, :now)"
                    ),
                    {"m": MESSAGE, "r": ROOM, "u": ANA, "c": uuid.uuid4(), "now": NOW},
                )
            assert not {"files", "message_attachments"} & await tables(engine)

            await migrate(url, "0007")
            async with engine.begin() as conn:
                await conn.execute(
                    sa.text(
                        "INSERT INTO files (id, uploader_id, purpose, name, size, content_type,"
                        " sha256, width, height, has_thumbnail, created_at) VALUES"
                        " (:f, :u, 'attachment', 'a.png', 10, 'image/png', :sha, 4, 3, true,"
                        " :now)"
                    ),
                    {"f": FILE, "u": ANA, "sha": "0" * 64, "now": NOW},
                )
                await conn.execute(
                    sa.text(
                        "INSERT INTO message_attachments (message_id, position, file_id)"
                        " VALUES (:m, 0, :f)"
                    ),
                    {"m": MESSAGE, "f": FILE},
                )
            # An attachment names an existing entry and an existing file, once per position.
            for params in (
                {"m": uuid.uuid4(), "p": 0, "f": FILE},
                {"m": MESSAGE, "p": 1, "f": uuid.uuid4()},
                {"m": MESSAGE, "p": 0, "f": FILE},
            ):
                with pytest.raises(IntegrityError):
                    async with engine.begin() as conn:
                        await conn.execute(
                            sa.text(
                                "INSERT INTO message_attachments (message_id, position, file_id)"
                                " VALUES (:m, :p, :f)"
                            ),
                            params,
                        )
            async with engine.connect() as conn:
                indexes = {
                    name
                    for (name,) in await conn.execute(
                        sa.text("SELECT indexname FROM pg_indexes WHERE tablename = :t"),
                        {"t": "message_attachments"},
                    )
                }
                text = await conn.scalar(
                    sa.text("SELECT text FROM messages WHERE id = :m"), {"m": MESSAGE}
                )
            assert "message_attachments_file" in indexes
            assert text == "before files"

            await migrate(url, "0006", down=True)
            assert not {"files", "message_attachments"} & await tables(engine)
            await migrate(url, "head")
            assert {"files", "message_attachments"} <= await tables(engine)
        finally:
            await engine.dispose()
