"""The whole product runs on one broker account and one database role per service (ADR 0015).

A private stack (ports 28300-28399, a temporary virtual host, databases `acct_<tag>_chat_*`)
prepared the way `make run` prepares the standard one: `Stack.prepare` creates the accounts
and roles and declares the shared topology; each service connects as itself, message-service
accepts commands from the gateway's account only. A message sent over the WebSocket (gateway
command -> message-service -> room event -> gateway) proves every permission on that path; a
sign-out reaching the gateway proves auth-service's revocation event and the gateway's binding.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest
from chat_contracts import names, types
from chat_devtools import accounts
from chat_devtools.config import config_from_env, default_services, find_repo_root
from chat_devtools.infra import asyncpg_dsn
from chat_devtools.stack import Stack
from chat_runtime.messaging import Broker
from chat_runtime.messaging.accounts import askers
from chat_runtime.messaging.errors import RequestTimeout

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import open_edge  # noqa: E402
from tests.support.dead_letters import dead_letters  # noqa: E402

pytestmark = pytest.mark.timeout(240)

BASE_PORT = 28300
ADMIN_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tag = uuid.uuid4().hex[:8]
    vhost, prefix = f"acct_{tag}", f"acct_{tag}_"
    work = tmp_path_factory.mktemp("accounts-stack")
    base = config_from_env(find_repo_root())
    services = tuple(
        replace(spec, database=f"{prefix}{spec.database}") if spec.database else spec
        for spec in default_services(
            auth=(BASE_PORT + 1,),
            gateway=(BASE_PORT + 2,),
            message=(BASE_PORT + 3,),
            presence=(BASE_PORT + 4,),
            file=(BASE_PORT + 5,),
        )
    )
    config = replace(
        base,
        services=services,
        amqp_url=f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        postgres_url=ADMIN_POSTGRES,
        database_urls={},
        service_accounts=True,
        account_prefix=prefix,
        edge_port=BASE_PORT + 80,
        log_dir=work / "log",
        run_dir=work / "run",
        env={"CHAT_FILE_DIR": str(work / "files"), "CHAT_AUTH_KEYS_DIR": str(work / "keys")},
    )
    accounts.rabbitmqctl("add_vhost", vhost)
    running = Stack(config)
    try:
        accounts.rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        running.prepare()
        running.prepare()  # idempotent: a second `make run` prepares the same way
        running.start()
        yield running
    finally:
        running.stop()
        accounts.rabbitmqctl("delete_vhost", vhost)
        accounts.delete_broker_users(a.user for a in config.broker_accounts())
        roles = [r for r in (config.database_role(s) for s in services) if r]
        dbs = [s.database for s in services if s.database]
        asyncio.run(_drop(dbs, roles))


async def _drop(databases: list[str], roles: list[str]) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(ADMIN_POSTGRES))
    try:
        for name in databases:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for role in roles:
            await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
    finally:
        await conn.close()


def test_each_service_runs_as_its_own_accounts(stack: Stack) -> None:
    cfg = stack.config
    for name, proc in stack.processes.items():
        if name == "edge":
            continue
        env = proc.env or {}
        spec = cfg.service(name)
        assert "guest" not in env["CHAT_AMQP_URL"], name
        assert env["CHAT_AMQP_DECLARE_TOPOLOGY"] == "false"
        if spec.database:
            assert (
                env["CHAT_DATABASE_URL"].split("//", 1)[1].startswith(f"{cfg.database_role(spec)}:")
            )
    message = stack.processes["message"].env or {}
    assert message["CHAT_COMMAND_SENDER"] == accounts.gateway_user(cfg.account_prefix)
    assert message["CHAT_QUERY_SENDERS"] == ",".join(
        askers(names.MESSAGE_QUERY_QUEUE, cfg.account_prefix)
    )


async def test_a_message_and_a_sign_out_travel_on_service_accounts(stack: Stack) -> None:
    async with open_edge(stack.url("edge")) as edge:
        alice, bob = await edge.new_users(2, prefix="acct")
        room = await alice.create_room(f"acct-{uuid.uuid4().hex[:8]}")
        await bob.join(room["id"])
        async with alice.socket() as alice_socket, bob.socket() as bob_socket:
            cmid = await alice_socket.send_message(room["id"], "over service accounts")
            acked = await alice_socket.wait_ack(cmid)
            got = await bob_socket.wait_for(
                "message.new", lambda f: f["message"]["client_msg_id"] == cmid
            )
            assert got["message"]["seq"] == acked["seq"]
            # auth-service's revocation event reaches the gateway: the socket is closed.
            await edge.logout(bob.token)
            assert await bob_socket.wait_closed(timeout=10) == 4401


async def test_only_the_gateway_and_file_service_may_ask_message_service(stack: Stack) -> None:
    """T76: the default exchange lets presence-service put a membership query on
    message-service.query; message-service answers only the accounts of CHAT_QUERY_SENDERS and
    dead-letters the others' requests unread (a foothold must not learn anyone's rooms)."""
    cfg = stack.config
    user_id = str(uuid.uuid4())

    async def ask(service: str) -> list[str]:
        user = accounts.broker_account(service, cfg.account_prefix).user
        url = accounts.with_credentials(cfg.amqp_url, user, accounts.dev_password(user))
        broker = Broker(url, service=f"{service}-service")
        await broker.connect(retry_for_s=5)
        try:
            reply = await broker.request(
                names.MESSAGE_QUERY_QUEUE,
                types.MembershipQueryV1(user_id=user_id),
                reply_type=types.MembershipReplyV1,
                timeout=3,
            )
            return list(reply.room_ids)
        finally:
            await broker.close()

    assert await ask("gateway") == []  # answered: a new user is in no room
    with pytest.raises(RequestTimeout):
        await ask("presence")
    (dead,) = await dead_letters(cfg.amqp_url, names.dead_queue(names.MESSAGE_QUERY_QUEUE), 1)
    assert dead.user_id == accounts.broker_account("presence", cfg.account_prefix).user
    assert dead.type == names.MEMBERSHIP_QUERY_V1
