"""A private stack for the fuzz tier: every service on ports 28701-28705 (no edge), its own
RabbitMQ vhost `fz-…`, databases `fz_…`, key directory and file store, per-user limits off, and
three signed-in users.
`CHAT_FUZZ_BASE_PORT` moves the ports (default 28700)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from chat_devtools.config import config_from_env, find_repo_root
from chat_devtools.config import default_services as services_on
from chat_devtools.stack import Stack
from chat_runtime.testing import temporary_database, temporary_vhost

BASE_PORT = int(os.environ.get("CHAT_FUZZ_BASE_PORT", "28700"))
DATABASES = ("chat_auth", "chat_messages", "chat_presence", "chat_files")
PASSWORD = "quartz-lantern-harbor-93"
RATE_LIMITS = (
    "MESSAGE_SEND",
    "ROOM_CREATE",
    "DM_OPEN",
    "SEARCH",
    "INVITE_CREATE",
    "FILE_UPLOAD",
    "ROOM_JOIN",
    "ROOM_DIRECTORY",
    "PEOPLE_SEARCH",
)


@dataclass(frozen=True)
class SignedIn:
    user_id: str
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class FuzzStack:
    urls: dict[str, str]  # service name -> base URL
    users: dict[str, SignedIn]  # "owner" (the first account), "member", "other"

    def sign_up(self, name: str) -> SignedIn:
        """A new account, signed in."""
        return sign_up(self.urls["auth"], name)


def sign_up(auth_url: str, name: str) -> SignedIn:
    username = f"{name}{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=auth_url, timeout=30) as client:
        r = client.post(
            "/v1/auth/register",
            json={"username": username, "display_name": name.title(), "password": PASSWORD},
        )
        assert r.status_code == 201, r.text
        r = client.post("/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        body = r.json()
    return SignedIn(body["user"]["id"], username, body["access_token"])


@pytest.fixture(scope="session")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzStack]:
    work: Path = tmp_path_factory.mktemp("fuzz")
    loop = asyncio.new_event_loop()
    resources = AsyncExitStack()
    stack: Stack | None = None
    try:
        vhost = loop.run_until_complete(resources.enter_async_context(temporary_vhost("fz")))
        dbs = {
            name: loop.run_until_complete(
                resources.enter_async_context(temporary_database(f"fz_{name[5:]}"))
            )
            for name in DATABASES
        }
        (work / "keys").mkdir()
        (work / "files").mkdir()
        config = replace(
            config_from_env(find_repo_root(Path(__file__).parent)),
            services=services_on(
                auth=(BASE_PORT + 1,),
                gateway=(BASE_PORT + 2,),
                message=(BASE_PORT + 3,),
                presence=(BASE_PORT + 4,),
                file=(BASE_PORT + 5,),
            ),
            amqp_url=vhost,
            database_urls=dbs,
            edge_port=None,
            log_dir=work / "log",
            run_dir=work / "run",
            env={
                "CHAT_AUTH_KEYS_DIR": str(work / "keys"),
                "CHAT_FILE_DIR": str(work / "files"),
                # Per-user limits off (docs/rate-limits.md; tested on their own): the fuzzer's
                # one user would meet them within seconds and go no deeper than the 429.
                **{f"CHAT_RATE_{action}": "off" for action in RATE_LIMITS},
            },
            migrate=False,  # each service migrates its database when it starts
        )
        stack = Stack(config)
        stack.prepare()
        stack.start()
        urls = {
            name: f"http://127.0.0.1:{BASE_PORT + i}"
            for i, name in enumerate(("auth", "gateway", "message", "presence", "file"), start=1)
        }
        users = {name: sign_up(urls["auth"], name) for name in ("owner", "member", "other")}
        yield FuzzStack(urls, users)
    finally:
        if stack is not None:
            stack.stop()
        loop.run_until_complete(resources.aclose())
        loop.close()
