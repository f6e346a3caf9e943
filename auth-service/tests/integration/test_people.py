"""People and administration of api-v1.1 C against a real database and broker: registration
modes and invitations, owner rules, deactivation, password-reset links, sessions and the
refresh idle limit, profile, account deletion, the audit log, the `admin` feature switch, the
migration backfill and the operator commands."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aio_pika
import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from auth_service import break_glass, housekeeping, sign_in
from auth_service.bootstrap import build
from auth_service.settings import AuthSettings
from auth_service.store import invites, outbox, password_resets, users
from chat_contracts import names, validate
from chat_devtools.auth_harness import (
    STRONG_PASSWORD,
    AuthHarness,
    FakeClock,
    auth_harness,
)
from chat_runtime.db import create_engine
from chat_runtime.testing import temporary_database

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

DAY_S = 24 * 3600
NEW_PASSWORD = "copper-lantern-meadow-93"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def token_of(
    h: AuthHarness, username: str, password: str = STRONG_PASSWORD, **kw: Any
) -> str:
    r = await h.login(username, password, **kw)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


@asynccontextmanager
async def captured(h: AuthHarness, pattern: str) -> AsyncIterator[asyncio.Queue[tuple[str, Any]]]:
    connection = await aio_pika.connect(h.amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(names.EXCHANGE_EVENTS, routing_key=pattern)
        seen: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                await seen.put((message.type or "", json.loads(message.body)))

        await queue.consume(on_message)
        yield seen
    finally:
        await connection.close()


async def next_event(seen: asyncio.Queue[tuple[str, Any]]) -> tuple[str, Any]:
    return await asyncio.wait_for(seen.get(), 10)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def people(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AuthHarness]:
    """Open registration, a fake clock; `powner` is the owner, `padmin` an admin."""
    async with auth_harness(tmp_path_factory.mktemp("keys"), clock=FakeClock()) as h:
        owner = await h.register("powner")
        assert owner["role"] == "owner"
        admin = await h.register("padmin")
        assert admin["role"] == "member"
        r = await h.client.post(
            f"/v1/admin/users/{admin['id']}/role",
            json={"role": "admin"},
            headers=bearer(await token_of(h, "powner")),
        )
        assert r.status_code == 200, r.text
        yield h


async def register_member(h: AuthHarness, name: str) -> tuple[str, str]:
    """(user id, access token)"""
    user = await h.register(name)
    return str(user["id"]), await token_of(h, name)


# -- events and versions -------------------------------------------------------------------------
async def test_every_change_is_announced_with_a_growing_version(people: AuthHarness) -> None:
    async with captured(people, names.AUTH_USER_UPDATED_V1) as seen:
        user_id, token = await register_member(people, "pversion")
        type_name, body = await next_event(seen)
        assert type_name == names.AUTH_USER_UPDATED_V1
        validate(names.AUTH_USER_UPDATED_V1, body)
        assert body["version"] == 1
        assert body["user"]["id"] == user_id
        assert body["user"]["role"] == "member"
        assert body["user"]["deleted"] is False
        r = await people.client.patch(
            "/v1/users/me", json={"timezone": "Europe/Paris"}, headers=bearer(token)
        )
        assert r.status_code == 200, r.text
        _, body = await next_event(seen)
        validate(names.AUTH_USER_UPDATED_V1, body)
        assert (body["version"], body["user"]["timezone"]) == (2, "Europe/Paris")


async def test_profile_patch(people: AuthHarness) -> None:
    _, token = await register_member(people, "pprofile")
    h = bearer(token)
    r = await people.client.patch(
        "/v1/users/me",
        json={
            "display_name": "  Pat Profile ",
            "timezone": "America/New_York",
            "avatar_file_id": "0b7e3f2a-5c1d-4e8f-9a6b-2d4c8e1f0a3b",
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    user = r.json()["user"]
    assert user["display_name"] == "Pat Profile"
    assert user["timezone"] == "America/New_York"
    assert user["avatar_file_id"] == "0b7e3f2a-5c1d-4e8f-9a6b-2d4c8e1f0a3b"
    # Left out: unchanged; null: cleared.
    r = await people.client.patch("/v1/users/me", json={"timezone": None}, headers=h)
    assert r.json()["user"]["timezone"] is None
    assert r.json()["user"]["display_name"] == "Pat Profile"
    for body, fieldname in (
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"display_name": "   "}, "display_name"),
        ({"display_name": None}, "display_name"),
    ):
        r = await people.client.patch("/v1/users/me", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["errors"][0]["field"] == fieldname
    r = await people.client.patch("/v1/users/me", json={"avatar_file_id": "nope"}, headers=h)
    assert r.status_code == 422
    me = await people.client.get("/v1/users/me", headers=h)
    assert me.json()["user"]["role"] == "member"
    assert me.json()["user"]["deactivated"] is False


# -- sessions --------------------------------------------------------------------------------
async def test_sessions_list_and_end(people: AuthHarness) -> None:
    _user_id, phone = await register_member(people, "psessions")
    laptop = await token_of(people, "psessions", headers={"User-Agent": "Laptop/1.0"})
    r = await people.client.get("/v1/auth/sessions", headers=bearer(laptop))
    assert r.status_code == 200, r.text
    listed = r.json()["sessions"]
    assert len(listed) == 2
    current = [s for s in listed if s["current"]]
    assert len(current) == 1
    assert current[0]["user_agent"] == "Laptop/1.0"
    assert current[0]["ip"] == "127.0.0.1"
    other = next(s for s in listed if not s["current"])

    # Someone else's session: 404 (no hint that it exists).
    _, stranger = await register_member(people, "pstranger")
    r = await people.client.delete(f"/v1/auth/sessions/{other['id']}", headers=bearer(stranger))
    assert r.status_code == 404

    async with captured(people, names.AUTH_SESSION_REVOKED_V1) as seen:
        r = await people.client.delete(f"/v1/auth/sessions/{other['id']}", headers=bearer(laptop))
        assert r.status_code == 204
        _, event = await next_event(seen)
    assert event["session_id"] == other["id"]
    assert event["reason"] == "session_ended"
    assert (await people.client.get("/v1/users/me", headers=bearer(phone))).status_code == 401
    again = await people.client.delete(f"/v1/auth/sessions/{other['id']}", headers=bearer(laptop))
    assert again.status_code == 404
    listed = (await people.client.get("/v1/auth/sessions", headers=bearer(laptop))).json()
    assert [s["current"] for s in listed["sessions"]] == [True]


async def test_refresh_unused_for_the_idle_limit_is_refused(people: AuthHarness) -> None:
    clock = people.clock
    assert isinstance(clock, FakeClock)
    await people.register("pidle")
    r = await people.login("pidle")
    token = r.cookies["chat_refresh"]

    async def refresh(value: str) -> httpx.Response:
        return await people.client.post(
            "/v1/auth/refresh", headers={"Cookie": f"chat_refresh={value}"}, json={}
        )

    # Used every 13 days: the session lives on (the idle limit slides with use).
    for _ in range(2):
        clock.advance(13 * DAY_S)
        r = await refresh(token)
        assert r.status_code == 200, r.text
        token = r.cookies["chat_refresh"]
    clock.advance(14 * DAY_S + 1)
    r = await refresh(token)
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_refresh"


# -- owner rules -----------------------------------------------------------------------------
async def test_owner_cannot_be_deactivated_demoted_or_deleted(people: AuthHarness) -> None:
    owner = await token_of(people, "powner")
    admin = await token_of(people, "padmin")
    me = (await people.client.get("/v1/users/me", headers=bearer(owner))).json()["user"]
    for token in (owner, admin):
        for suffix, body in (("deactivate", None), ("role", {"role": "admin"})):
            r = await people.client.post(
                f"/v1/admin/users/{me['id']}/{suffix}", json=body, headers=bearer(token)
            )
            assert r.status_code == 403, r.text
    r = await people.client.request(
        "DELETE", "/v1/users/me", json={"password": STRONG_PASSWORD}, headers=bearer(owner)
    )
    assert r.status_code == 409
    assert r.json()["code"] == "owner_must_transfer"


async def test_owner_transfer(people: AuthHarness) -> None:
    owner = await token_of(people, "powner")
    heir_id, heir = await register_member(people, "pheir")
    r = await people.client.post(
        "/v1/admin/owner", json={"user_id": heir_id}, headers=bearer(owner)
    )
    assert r.status_code == 200, r.text
    assert r.json()["user"]["role"] == "owner"
    old = (await people.client.get("/v1/users/me", headers=bearer(owner))).json()["user"]
    assert old["role"] == "admin"
    # The old owner is an admin now: no more role changes (a demotion acts at once, same token).
    r = await people.client.post(
        f"/v1/admin/users/{heir_id}/role", json={"role": "member"}, headers=bearer(owner)
    )
    assert r.status_code == 403
    r = await people.client.post(
        "/v1/admin/owner", json={"user_id": old["id"]}, headers=bearer(owner)
    )
    assert r.status_code == 403
    # And back.
    r = await people.client.post(
        "/v1/admin/owner", json={"user_id": old["id"]}, headers=bearer(heir)
    )
    assert r.status_code == 200, r.text
    assert (await people.client.get("/v1/users/me", headers=bearer(heir))).json()["user"][
        "role"
    ] == "admin"


# -- deactivation ----------------------------------------------------------------------------
async def test_deactivation(people: AuthHarness) -> None:
    admin = await token_of(people, "padmin")
    user_id, first = await register_member(people, "pgone")
    await token_of(people, "pgone")
    async with captured(people, names.AUTH_SESSION_REVOKED_V1) as seen:
        r = await people.client.post(f"/v1/admin/users/{user_id}/deactivate", headers=bearer(admin))
        assert r.status_code == 200, r.text
        assert r.json()["user"]["deactivated"] is True
        reasons = [(await next_event(seen))[1]["reason"] for _ in range(2)]
    assert reasons == ["deactivated", "deactivated"]
    assert (await people.client.get("/v1/users/me", headers=bearer(first))).status_code == 401
    # Sign-in: the generic failure, the same body as a wrong password.
    refused = await people.login("pgone")
    wrong = await people.login("padmin", "not-the-password-at-all")
    assert refused.status_code == wrong.status_code == 401
    assert refused.content == wrong.content
    # Hidden from search, still known by id (history shows who wrote what).
    found = await people.client.get("/v1/users", params={"q": "pgone"}, headers=bearer(admin))
    assert found.json()["users"] == []
    by_id = await people.client.get("/v1/users", params={"ids": user_id}, headers=bearer(admin))
    assert by_id.json()["users"][0]["deactivated"] is True
    listed = await people.client.get(
        "/v1/admin/users", params={"q": "pgone", "state": "deactivated"}, headers=bearer(admin)
    )
    assert [u["id"] for u in listed.json()["users"]] == [user_id]
    active = await people.client.get(
        "/v1/admin/users", params={"q": "pgone", "state": "active"}, headers=bearer(admin)
    )
    assert active.json()["users"] == []
    # A reset link is refused for a deactivated account.
    r = await people.client.post(f"/v1/admin/users/{user_id}/password-reset", headers=bearer(admin))
    assert r.status_code == 409
    r = await people.client.post(f"/v1/admin/users/{user_id}/reactivate", headers=bearer(admin))
    assert r.status_code == 200
    assert r.json()["user"]["deactivated"] is False
    await token_of(people, "pgone")


async def test_sign_in_racing_a_deactivation_leaves_no_session(
    people: AuthHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The password check passes, then an admin deactivates the account before the session is
    written: the sign-in is refused, so no access token outlives the deactivation."""
    admin = await token_of(people, "padmin")
    user_id, _ = await register_member(people, "prace")
    checked = sign_in.check_password

    async def check_then_deactivated(*args: Any, **kwargs: Any) -> Any:
        user = await checked(*args, **kwargs)
        r = await people.client.post(f"/v1/admin/users/{user_id}/deactivate", headers=bearer(admin))
        assert r.status_code == 200, r.text
        return user

    monkeypatch.setattr(sign_in, "check_password", check_then_deactivated)
    refused = await people.login("prace")
    assert refused.status_code == 401
    assert "access_token" not in refused.json()


# -- password reset --------------------------------------------------------------------------
async def reset_link(h: AuthHarness, admin: str, user_id: str) -> str:
    r = await h.client.post(f"/v1/admin/users/{user_id}/password-reset", headers=bearer(admin))
    assert r.status_code == 201, r.text
    url: str = r.json()["reset_url"]
    assert url.startswith("http://localhost:8080/#/reset?token=")
    return parse_qs(urlsplit(url).fragment.split("?", 1)[1])["token"][0]


async def use_reset(h: AuthHarness, token: str, password: str = NEW_PASSWORD) -> httpx.Response:
    return await h.client.post(
        "/v1/auth/password-reset", json={"token": token, "new_password": password}
    )


async def test_password_reset_link(people: AuthHarness) -> None:
    admin = await token_of(people, "padmin")
    user_id, old_session = await register_member(people, "preset")
    voided = await reset_link(people, admin, user_id)
    token = await reset_link(people, admin, user_id)  # voids the first
    weak = await use_reset(people, token, "short")
    assert weak.status_code == 422  # and the link still works
    async with captured(people, names.AUTH_SESSION_REVOKED_V1) as seen:
        r = await use_reset(people, token)
        assert r.status_code == 204, r.text
        _, event = await next_event(seen)
    assert event["reason"] == "password_reset"
    assert (await people.client.get("/v1/users/me", headers=bearer(old_session))).status_code == 401
    await token_of(people, "preset", NEW_PASSWORD)

    clock = people.clock
    assert isinstance(clock, FakeClock)
    expired = await reset_link(people, admin, user_id)
    clock.advance(3601)
    admin = await token_of(people, "padmin")  # the access token above expired too
    deactivated_id, _ = await register_member(people, "presetgone")
    of_deactivated = await reset_link(people, admin, deactivated_id)
    r = await people.client.post(
        f"/v1/admin/users/{deactivated_id}/deactivate", headers=bearer(admin)
    )
    assert r.status_code == 200
    answers = [
        await use_reset(people, t)
        for t in (token, voided, expired, "unknown-token-" + "x" * 30, of_deactivated)
    ]
    assert {a.status_code for a in answers} == {401}
    assert len({a.content for a in answers}) == 1
    assert answers[0].json()["code"] == "invalid_reset"


# -- account deletion ------------------------------------------------------------------------
async def test_account_deletion(people: AuthHarness) -> None:
    user_id, token = await register_member(people, "pdelete")
    r = await people.client.request(
        "DELETE", "/v1/users/me", json={"password": "wrong-password-here"}, headers=bearer(token)
    )
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_credentials"
    async with captured(people, names.AUTH_USER_UPDATED_V1) as seen:
        r = await people.client.request(
            "DELETE", "/v1/users/me", json={"password": STRONG_PASSWORD}, headers=bearer(token)
        )
        assert r.status_code == 204, r.text
        _, body = await next_event(seen)
    validate(names.AUTH_USER_UPDATED_V1, body)
    user = body["user"]
    assert user["id"] == user_id
    assert user["deleted"] is True
    assert user["deactivated"] is True
    assert user["username"].startswith("deleted-")
    assert len(user["username"]) == 16
    assert user["display_name"] == "Deleted user"
    assert user["timezone"] is None
    assert user["avatar_file_id"] is None
    assert (await people.client.get("/v1/users/me", headers=bearer(token))).status_code == 401
    assert (await people.login("pdelete")).status_code == 401
    engine = create_engine(people.database_url)
    try:
        async with engine.connect() as conn:
            stored = (
                await conn.execute(sa.select(users.c.password_hash).where(users.c.id == user_id))
            ).scalar_one()
    finally:
        await engine.dispose()
    assert stored == ""
    # The name is free again.
    await people.register("pdelete")


# -- audit log and paging --------------------------------------------------------------------
async def test_audit_log_records_actor_target_time_and_address(people: AuthHarness) -> None:
    owner = await token_of(people, "powner")
    owner_id = (await people.client.get("/v1/users/me", headers=bearer(owner))).json()["user"]["id"]
    target_id, _ = await register_member(people, "paudited")
    r = await people.client.post(
        f"/v1/admin/users/{target_id}/role", json={"role": "admin"}, headers=bearer(owner)
    )
    assert r.status_code == 200
    r = await people.client.get("/v1/admin/audit", headers=bearer(owner))
    entry = r.json()["entries"][0]
    assert entry["action"] == "role_changed"
    assert (entry["actor_id"], entry["target_id"]) == (owner_id, target_id)
    assert entry["ip"] == "127.0.0.1"
    assert entry["details"] == {"role": "admin"}
    # Paging: every entry once, newest first.
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"cursor": cursor} if cursor else {}
        page = (
            await people.client.get("/v1/admin/audit", params=params, headers=bearer(owner))
        ).json()
        seen += [e["id"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen, key=int, reverse=True)
    bad = await people.client.get(
        "/v1/admin/audit", params={"cursor": "%%%"}, headers=bearer(owner)
    )
    assert bad.status_code == 422


async def test_admin_user_list_pages(people: AuthHarness) -> None:
    owner = await token_of(people, "powner")
    for i in range(55):
        await people.register(f"zpage{i:02d}")
    names_seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"q": "zpage", **({"cursor": cursor} if cursor else {})}
        page = (
            await people.client.get("/v1/admin/users", params=params, headers=bearer(owner))
        ).json()
        names_seen += [u["username"] for u in page["users"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names_seen == [f"zpage{i:02d}" for i in range(55)]
    bad = await people.client.get("/v1/admin/users", params={"cursor": "AA"}, headers=bearer(owner))
    assert bad.status_code == 422


# -- registration modes and invitations ------------------------------------------------------
async def register(h: AuthHarness, username: str, invite: str | None = None) -> httpx.Response:
    body = {"username": username, "display_name": username, "password": STRONG_PASSWORD}
    if invite is not None:
        body["invite"] = invite
    return await h.client.post("/v1/auth/register", json=body)


async def test_invite_mode(tmp_path: Path) -> None:
    clock = FakeClock()
    async with auth_harness(tmp_path, clock=clock, registration="invite") as h:
        first = await register(h, "iowner")  # an empty database: the first may register
        assert first.status_code == 201
        assert first.json()["user"]["role"] == "owner"
        for invite in (None, "not-an-invite"):
            r = await register(h, "istranger", invite)
            assert r.status_code == 403
            assert r.json()["code"] == "invite_required"
        owner = await token_of(h, "iowner")
        r = await h.client.post("/v1/invites", headers=bearer(owner))
        assert r.status_code == 201, r.text
        url = r.json()["invite_url"]
        assert url.startswith("http://localhost:8080/#/register?invite=")
        invite = parse_qs(urlsplit(url).fragment.split("?", 1)[1])["invite"][0]
        # A taken username does not spend the invitation.
        assert (await register(h, "iowner", invite)).status_code == 409
        r = await register(h, "iguest", invite)
        assert r.status_code == 201
        assert r.json()["user"]["role"] == "member"
        reused = await register(h, "isecond", invite)
        assert reused.status_code == 403
        assert reused.json()["code"] == "invite_required"
        # Seven days, then no more.
        r = await h.client.post("/v1/invites", headers=bearer(owner))
        late = parse_qs(urlsplit(r.json()["invite_url"]).fragment.split("?", 1)[1])["invite"][0]
        clock.advance(7 * DAY_S + 1)
        assert (await register(h, "ilate", late)).status_code == 403


async def test_closed_mode(tmp_path: Path) -> None:
    async with auth_harness(tmp_path, registration="closed") as h:
        assert (await register(h, "cowner")).status_code == 201
        r = await register(h, "cguest")
        assert r.status_code == 403
        assert r.json()["code"] == "registration_closed"


async def test_admin_feature_off(tmp_path: Path) -> None:
    async with auth_harness(tmp_path, features="entries") as h:
        await h.register("foff")
        token = await token_of(h, "foff")
        me = await h.client.get("/v1/users/me", headers=bearer(token))
        assert "admin" not in me.json()["features"]
        for method, path in (
            ("GET", "/v1/admin/users"),
            ("GET", "/v1/admin/audit"),
            ("POST", "/v1/invites"),
            ("GET", "/v1/auth/sessions"),
            ("PATCH", "/v1/users/me"),
            ("POST", "/v1/auth/password-reset"),
        ):
            r = await h.client.request(method, path, json={}, headers=bearer(token))
            assert r.status_code == 403, (path, r.text)
            assert r.json()["code"] == "feature_disabled"


# -- migration backfill and operator commands ------------------------------------------------
async def test_migration_makes_the_earliest_account_owner_and_announces_everyone(
    tmp_path: Path,
) -> None:
    async with temporary_database("authmig") as db_url:
        settings = AuthSettings(database_url=db_url, keys_dir=tmp_path / "keys")
        config = Config(str(settings.alembic_config()))
        config.set_main_option("sqlalchemy.url", db_url)
        await asyncio.to_thread(command.upgrade, config, "0001")
        engine = create_engine(db_url)
        try:
            async with engine.begin() as conn:
                for i, name in enumerate(("second", "first", "third")):
                    await conn.execute(
                        sa.text(
                            "INSERT INTO users (id, username, display_name, password_hash, "
                            "created_at, password_changed_at) VALUES (gen_random_uuid(), :u, :u, "
                            "'x', now() + make_interval(secs => :s), now())"
                        ),
                        {"u": name, "s": {"first": 0, "second": 1, "third": 2}[name] + i * 0},
                    )
            app = build(settings, connect_bus=False).app
            async with app.router.lifespan_context(app):
                pass
            async with app.router.lifespan_context(build(settings, connect_bus=False).app):
                pass  # a second start announces nobody again
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(sa.select(users.c.username, users.c.role, users.c.version))
                ).all()
                events = (await conn.execute(sa.select(outbox.c.type_name, outbox.c.body))).all()
        finally:
            await engine.dispose()
    assert sorted(rows) == [("first", "owner", 1), ("second", "member", 1), ("third", "member", 1)]
    assert len(events) == 3
    for type_name, body in events:
        assert type_name == names.AUTH_USER_UPDATED_V1
        validate(names.AUTH_USER_UPDATED_V1, body)
        assert body["version"] == 1


async def test_operator_commands(tmp_path: Path) -> None:
    async with temporary_database("authop") as db_url:
        settings = AuthSettings(database_url=db_url, keys_dir=tmp_path / "keys")
        owner = await break_glass.create_owner(settings, "Boss", "The Boss", STRONG_PASSWORD)
        assert (owner.username, owner.role, owner.version) == ("boss", "owner", 1)
        with pytest.raises(break_glass.OperatorError):
            await break_glass.create_owner(settings, "boss2", "Other", STRONG_PASSWORD)
        link = await break_glass.reset_link(settings, "boss")
        assert link.url.startswith("http://localhost:8080/#/reset?token=")
        with pytest.raises(break_glass.OperatorError):
            await break_glass.reset_link(settings, "nobody")
        app = build(settings, connect_bus=False).app
        async with lifespan_of_no_bus(app):
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
            async with client:
                token = parse_qs(urlsplit(link.url).fragment.split("?", 1)[1])["token"][0]
                r = await client.post(
                    "/v1/auth/password-reset", json={"token": token, "new_password": NEW_PASSWORD}
                )
                assert r.status_code == 204, r.text
                r = await client.post(
                    "/v1/auth/login", json={"username": "boss", "password": NEW_PASSWORD}
                )
                assert r.status_code == 200, r.text
                assert r.json()["user"]["role"] == "owner"


@asynccontextmanager
async def lifespan_of_no_bus(app: Any) -> AsyncIterator[None]:
    async with app.router.lifespan_context(app):
        yield


async def test_housekeeping_forgets_expired_links(people: AuthHarness) -> None:
    clock = people.clock
    assert isinstance(clock, FakeClock)
    admin = await token_of(people, "padmin")
    user_id, _ = await register_member(people, "ppurge")
    await reset_link(people, admin, user_id)
    assert (await people.client.post("/v1/invites", headers=bearer(admin))).status_code == 201
    clock.advance(8 * DAY_S)
    deps = people.app.state.auth
    cutoff = deps.now() - timedelta(days=1)

    async def stale() -> int:
        engine = create_engine(people.database_url)
        try:
            async with engine.connect() as conn:
                total = 0
                for table in (invites, password_resets):
                    total += (
                        await conn.execute(
                            sa.select(sa.func.count()).where(table.c.expires_at < cutoff)
                        )
                    ).scalar_one()
                return total
        finally:
            await engine.dispose()

    assert await stale() >= 2
    await housekeeping.purge(deps)
    assert await stale() == 0
