"""Test harness of auth-service (its integration tests and tests/security): the service on a
temporary database and a temporary RabbitMQ vhost, served in-process over httpx.ASGITransport
(no port bound), with an injectable clock. Kept out of the product package: no image ships it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from auth_service.bootstrap import build
from auth_service.settings import AuthSettings
from chat_runtime.testing import temporary_database, temporary_vhost
from fastapi import FastAPI

ORIGIN = "http://localhost:8080"
JSON = {"Content-Type": "application/json"}
STRONG_PASSWORD = "violet-tangerine-harbor-47"  # noqa: S105 - test data


class FakeClock:
    """Injectable clock: the throttle and token times move only when a test says so."""

    def __init__(self, start: float = 1_900_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class AuthHarness:
    app: FastAPI
    client: httpx.AsyncClient
    settings: AuthSettings
    clock: FakeClock | None
    amqp_url: str
    database_url: str

    async def register(
        self, username: str, password: str = STRONG_PASSWORD, **extra: Any
    ) -> dict[str, Any]:
        r = await self.client.post(
            "/v1/auth/register",
            json={
                "username": username,
                "display_name": extra.get("display_name", username.title()),
                "password": password,
            },
        )
        assert r.status_code == 201, r.text
        user: dict[str, Any] = r.json()["user"]
        return user

    async def login(
        self, username: str, password: str = STRONG_PASSWORD, **kw: Any
    ) -> httpx.Response:
        return await self.client.post(
            "/v1/auth/login", json={"username": username, "password": password}, **kw
        )


def stateless_client(
    transport: httpx.AsyncBaseTransport, base_url: str = "http://testserver"
) -> httpx.AsyncClient:
    """A client that never stores cookies: every test says exactly which refresh cookie it
    sends (a jar would quietly send the last one and hide mistakes)."""
    client = httpx.AsyncClient(transport=transport, base_url=base_url, headers=JSON)

    async def forget(_: httpx.Response) -> None:
        client.cookies.clear()

    client.event_hooks = {"request": [], "response": [forget]}
    return client


@asynccontextmanager
async def lifespan_of(app: FastAPI) -> AsyncIterator[None]:
    """Run the app's lifespan by hand (what asgi-lifespan does), then wait for the bus."""
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app.state.host.bus_ready.wait(), 20)
        yield


@asynccontextmanager
async def auth_harness(
    tmp_path: Path,
    *,
    clock: FakeClock | None = None,
    client: tuple[str, int] = ("127.0.0.1", 40000),
    **overrides: Any,
) -> AsyncIterator[AuthHarness]:
    async with temporary_database("authit") as db_url, temporary_vhost("authit") as amqp_url:
        settings = AuthSettings(
            database_url=db_url,
            amqp_url=amqp_url,
            keys_dir=tmp_path / "keys",
            **overrides,
        )
        app = (build(settings) if clock is None else build(settings, clock=clock)).app
        async with lifespan_of(app):
            transport = httpx.ASGITransport(app=app, client=client)
            async with stateless_client(transport) as http:
                yield AuthHarness(app, http, settings, clock, amqp_url, db_url)


def client_from(harness: AuthHarness, address: str, port: int = 40001) -> httpx.AsyncClient:
    """Another client of the same app whose TCP peer is `address` (for address-based rules)."""
    transport = httpx.ASGITransport(app=harness.app, client=(address, port))
    return stateless_client(transport)
