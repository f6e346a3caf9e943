"""Child process of test_outbox_kill (not a test): a service that commits an outbox event and then
dies by SIGKILL, either before any relay ran (`commit`) or right after the broker confirmed the
relay's publish and before the row was marked (`publish`).

Usage: python outbox_child.py commit|publish <database url> <amqp url> <user id>
Prints `committed <message_id>` (and `published <message_id>`) on stdout as it goes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from typing import Any

import sqlalchemy as sa
from chat_contracts.names import EXCHANGE_EVENTS
from chat_contracts.types import RoomJoinedV1
from chat_runtime.db import create_engine, session_factory
from chat_runtime.messaging import Broker, PublishResult
from chat_runtime.messaging.outbox import OutboxRelay, add_event, outbox_table

outbox = outbox_table(sa.MetaData())


class DiesAfterConfirm(Broker):
    """A broker whose process is SIGKILLed as soon as a publish is confirmed."""

    async def publish(self, *args: Any, **kwargs: Any) -> PublishResult:
        results = await super().publish(*args, **kwargs)
        for message, result in zip(args[1], results, strict=True):
            if result is None:
                sys.stdout.write(f"published {message.message_id}\n")
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
        return results


async def main(mode: str, db_url: str, amqp_url: str, user: str) -> None:
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        message_id = await add_event(
            session,
            outbox,
            exchange=EXCHANGE_EVENTS,
            routing_key=f"user.{user}.room.joined.v1",
            body=RoomJoinedV1(user_id=user, room_id=str(uuid.uuid4())),
        )
    sys.stdout.write(f"committed {message_id}\n")
    sys.stdout.flush()
    if mode == "commit":
        await asyncio.Event().wait()  # the parent kills us: the relay never runs
    broker = DiesAfterConfirm(amqp_url, service="rtf-outbox-child")
    await broker.connect()
    await OutboxRelay(sessions, outbox, broker).drain_once()
    raise SystemExit("the relay published nothing")  # not reached: the publish kills us


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
