"""One broker account and one database role per service (ADR 0015): the refusals.

Self-contained: the accounts of `chat_devtools.accounts` are created on a temporary virtual
host (account names prefixed, removed afterwards) and on a temporary database, with the same
code `make run`'s prepare uses; no stack is needed.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import aiormq
import asyncpg
import chat_contracts
import pytest
from chat_contracts import names, types
from chat_devtools import accounts
from chat_devtools.infra import asyncpg_dsn
from chat_runtime.messaging import Broker
from chat_runtime.messaging.publishing import OutgoingMessage
from chat_runtime.testing import temporary_database

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.dead_letters import dead_letters  # noqa: E402

pytestmark = pytest.mark.timeout(120)

SHARDS = 2


@dataclass
class Vhost:
    admin_url: str
    prefix: str

    def url(self, service: str) -> str:
        user = accounts.broker_account(service, self.prefix).user
        return accounts.with_credentials(self.admin_url, user, accounts.dev_password(user))

    def user(self, service: str) -> str:
        return accounts.broker_account(service, self.prefix).user


@pytest.fixture(scope="module")
def vhost() -> Iterator[Vhost]:
    """A temporary virtual host with the topology and every service's (prefixed) account;
    module-scoped: each rabbitmqctl call costs about a second."""
    tag = uuid.uuid4().hex[:8]
    name, prefix = f"acct_{tag}", f"acct_{tag}_"
    mine = accounts.broker_accounts(prefix)
    accounts.rabbitmqctl("add_vhost", name)
    try:
        accounts.rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        passwords = {a.user: accounts.dev_password(a.user) for a in mine}
        accounts.apply_broker_accounts(mine, name, passwords)
        admin_url = f"amqp://guest:guest@127.0.0.1:5672/{name}"
        accounts.declare_shared_topology(admin_url, shards=SHARDS)
        yield Vhost(admin_url, prefix)
    finally:
        accounts.rabbitmqctl("delete_vhost", name)
        accounts.delete_broker_users(a.user for a in mine)


def _send_command() -> types.MessageSendV1:
    def new() -> str:
        return str(uuid.uuid4())

    return types.MessageSendV1(
        client_msg_id=new(),
        room_id=new(),
        sender_id=new(),
        session_id=new(),
        text="hello",
        gateway_id=new(),
        connection_id=new(),
    )


REFUSED = aiormq.exceptions.ChannelAccessRefused


async def test_presence_cannot_publish_commands_but_the_gateway_can(vhost: Vhost) -> None:
    body = chat_contracts.encode(_send_command())
    key = names.send_routing_key(1)  # shard 0 is the dead-letter test's
    connection = await aio_pika.connect(vhost.url("presence"))
    async with connection:
        channel = await connection.channel()
        commands = await channel.get_exchange(names.EXCHANGE_COMMANDS, ensure=False)
        with pytest.raises(REFUSED):
            await commands.publish(aio_pika.Message(body, type=names.MESSAGE_SEND_V1), key)
    connection = await aio_pika.connect(vhost.url("gateway"))
    async with connection:
        channel = await connection.channel()
        commands = await channel.get_exchange(names.EXCHANGE_COMMANDS, ensure=False)
        await commands.publish(aio_pika.Message(body, type=names.MESSAGE_SEND_V1), key)


@pytest.mark.parametrize("service", ["presence", "gateway", "auth", "file"])
async def test_only_message_service_publishes_room_events(vhost: Vhost, service: str) -> None:
    key = names.room_key(str(uuid.uuid4()), names.MESSAGE_CREATED_V1)
    connection = await aio_pika.connect(vhost.url(service))
    async with connection:
        channel = await connection.channel()
        events = await channel.get_exchange(names.EXCHANGE_EVENTS, ensure=False)
        with pytest.raises(REFUSED):
            await events.publish(aio_pika.Message(b"{}", type=names.MESSAGE_CREATED_V1), key)
    connection = await aio_pika.connect(vhost.url("message"))
    async with connection:
        channel = await connection.channel()
        events = await channel.get_exchange(names.EXCHANGE_EVENTS, ensure=False)
        await events.publish(aio_pika.Message(b"{}", type=names.MESSAGE_CREATED_V1), key)


@pytest.mark.parametrize(
    ("service", "forged"),
    [("message", names.AUTH_SESSION_REVOKED_V1), ("presence", names.AUTH_USER_UPDATED_V1)],
)
async def test_only_auth_service_publishes_auth_events(
    vhost: Vhost, service: str, forged: str
) -> None:
    connection = await aio_pika.connect(vhost.url(service))
    async with connection:
        channel = await connection.channel()
        events = await channel.get_exchange(names.EXCHANGE_EVENTS, ensure=False)
        with pytest.raises(REFUSED):
            await events.publish(aio_pika.Message(b"{}", type=forged), forged)


async def test_presence_cannot_bind_to_rooms(vhost: Vhost) -> None:
    connection = await aio_pika.connect(vhost.url("presence"))
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            names.presence_signals_queue(uuid.uuid4().hex), exclusive=True, auto_delete=True
        )
        # What presence-service does is allowed...
        await queue.bind(names.EXCHANGE_EVENTS, names.PRESENCE_CONNECTION_OPENED_V1)
        # ...reading every room is not.
        with pytest.raises(REFUSED):
            await queue.bind(names.EXCHANGE_EVENTS, "room.#")
    connection = await aio_pika.connect(vhost.url("presence"))
    async with connection:
        channel = await connection.channel()
        # Nor a queue outside its own names (e.g. one that looks like a gateway's).
        with pytest.raises(REFUSED):
            await channel.declare_queue(f"gateway.{uuid.uuid4().hex}", exclusive=True)


async def _ignore(message: Any) -> None:
    del message


async def test_presence_cannot_consume_or_delete_command_queues(vhost: Vhost) -> None:
    connection = await aio_pika.connect(vhost.url("presence"))
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(names.send_queue(0), passive=True)
        with pytest.raises(REFUSED):
            await queue.consume(_ignore)
    connection = await aio_pika.connect(vhost.url("presence"))
    async with connection:
        channel = await connection.channel()
        with pytest.raises(REFUSED):
            await channel.queue_delete(names.send_queue(0))


async def test_a_command_through_the_default_exchange_is_dead_lettered_unread(
    vhost: Vhost,
) -> None:
    """Request/reply lets presence write to the default exchange, which reaches the command
    queue by name; message-service handles commands only from the gateway's account."""
    handled: list[str] = []
    done = asyncio.Event()

    async def handle(envelope: Any) -> None:
        handled.append(str(envelope.body.client_msg_id))
        done.set()

    receiver = Broker(vhost.url("message"), service="message-service")
    presence = Broker(vhost.url("presence"), service="presence-service")
    gateway = Broker(vhost.url("gateway"), service="gateway-service")
    await receiver.connect(retry_for_s=5)
    await presence.connect(retry_for_s=5)
    await gateway.connect(retry_for_s=5)
    try:
        await receiver.consume(
            names.send_queue(0),
            {names.MESSAGE_SEND_V1: handle},
            accept_from=vhost.user("gateway"),
        )
        forged = _send_command()
        result = await presence.publish(
            "", OutgoingMessage.of(names.send_queue(0), forged), mandatory=True
        )
        result.raise_first()  # the broker took it: the default exchange reaches the queue
        genuine = _send_command()
        (
            await gateway.publish(
                names.EXCHANGE_COMMANDS,
                OutgoingMessage.of(names.send_routing_key(0), genuine),
                mandatory=True,
            )
        ).raise_first()
        async with asyncio.timeout(20):
            await done.wait()
        (dead,) = await dead_letters(vhost.admin_url, names.dead_queue(names.send_queue(0)), 1)
        assert dead.user_id == vhost.user("presence")
        assert chat_contracts.decode(names.MESSAGE_SEND_V1, dead.body) == forged
        assert handled == [str(genuine.client_msg_id)]
    finally:
        for broker in (receiver, presence, gateway):
            await broker.close()


async def test_a_service_cannot_claim_another_account(vhost: Vhost) -> None:
    """The broker validates user_id: presence cannot pass its command off as the gateway's."""
    connection = await aio_pika.connect(vhost.url("presence"))
    async with connection:
        channel = await connection.channel()
        message = aio_pika.Message(
            chat_contracts.encode(_send_command()),
            type=names.MESSAGE_SEND_V1,
            user_id=vhost.user("gateway"),
        )
        with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
            await channel.default_exchange.publish(message, names.send_queue(0))


# -- PostgreSQL ---------------------------------------------------------------------------------


@dataclass
class Databases:
    urls: dict[str, str]  # logical name (chat_auth...) -> admin URL of its temporary database
    roles: dict[str, str]  # logical name -> owning role

    def url_as(self, database: str, role: str) -> str:
        return accounts.with_credentials(self.urls[database], role, accounts.dev_password(role))


@pytest.fixture
async def databases() -> AsyncIterator[Databases]:
    prefix = f"acct_{uuid.uuid4().hex[:8]}_"
    async with (
        temporary_database("acct_auth") as auth_url,
        temporary_database("acct_msg") as msg_url,
    ):
        urls = {"chat_auth": auth_url, "chat_messages": msg_url}
        roles = {name: accounts.database_role(name, prefix) for name in urls}
        admin = await asyncpg.connect(asyncpg_dsn(auth_url))
        try:  # a table written by the admin before the role existed (migrations of old)
            await admin.execute("CREATE TABLE users (id int PRIMARY KEY, password_hash text)")
            await admin.execute("INSERT INTO users VALUES (1, 'secret-hash')")
        finally:
            await admin.close()
        try:
            for name, url in urls.items():
                real = url.rsplit("/", 1)[1]
                await asyncio.to_thread(
                    accounts.ensure_database_role,
                    url,
                    real,
                    roles[name],
                    accounts.dev_password(roles[name]),
                )
            yield Databases(urls, roles)
        finally:
            admin = await asyncpg.connect(asyncpg_dsn(auth_url))
            try:
                for role in roles.values():
                    for url in urls.values():
                        real = url.rsplit("/", 1)[1]
                        await admin.execute(f"ALTER DATABASE {real} OWNER TO postgres")
                    await admin.execute(f"DROP OWNED BY {role} CASCADE")
                    await admin.execute(f"DROP ROLE IF EXISTS {role}")
            finally:
                await admin.close()


async def test_message_service_role_cannot_read_chat_auth(databases: Databases) -> None:
    message_role = databases.roles["chat_messages"]
    # Not even a connection: only the owner may connect to chat_auth.
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await asyncpg.connect(asyncpg_dsn(databases.url_as("chat_auth", message_role)))


async def test_each_role_owns_its_database_and_what_is_in_it(databases: Databases) -> None:
    auth_role = databases.roles["chat_auth"]
    conn = await asyncpg.connect(asyncpg_dsn(databases.url_as("chat_auth", auth_role)))
    try:
        assert await conn.fetchval("SELECT password_hash FROM users WHERE id = 1") == "secret-hash"
        await conn.execute("ALTER TABLE users ADD COLUMN note text")  # migrations can run
        assert not await conn.fetchval(
            "SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles WHERE rolname = $1",
            auth_role,
        )
    finally:
        await conn.close()
    # Idempotent: preparing again changes nothing and still works.
    url = databases.urls["chat_auth"]
    await asyncio.to_thread(
        accounts.ensure_database_role,
        url,
        url.rsplit("/", 1)[1],
        auth_role,
        accounts.dev_password(auth_role),
    )


def test_every_service_has_its_own_account_and_role() -> None:
    mine = accounts.broker_accounts()
    assert len({a.user for a in mine}) == len(mine) == 5
    only_commands = [a.user for a in mine if "chat\\.commands" in a.write]
    assert only_commands == ["gateway-service"]
