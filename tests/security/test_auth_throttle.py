"""Login throttling (api-v1 §3): the three limits, exponential Retry-After capped at 15 min,
refused whether or not the password is right, spoofed forwarding headers change nothing,
counters in the database survive a restart; registration limited per address. api-v1.1 F:
refused attempts do not extend a block, and a known device (`chat_device` cookie) signs in
while an attacker keeps the username blocked."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from auth_service.bootstrap import build
from chat_devtools.auth_harness import (
    JSON,
    STRONG_PASSWORD,
    AuthHarness,
    FakeClock,
    auth_harness,
    client_from,
    lifespan_of,
)

pytestmark = [pytest.mark.security, pytest.mark.asyncio(loop_scope="module")]

REGISTER_LIMIT = 3


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def thr_h(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AuthHarness]:
    # Spec defaults for login (5 / 20 / 100); a small registration limit to reach it quickly.
    async with auth_harness(
        tmp_path_factory.mktemp("keys"),
        clock=FakeClock(),
        register_address_limit=REGISTER_LIMIT,
    ) as h:
        yield h


def peer(h: AuthHarness, address: str) -> httpx.AsyncClient:
    return client_from(h, address)


_setup_addresses = itertools.count(1)


async def register_from(h: AuthHarness, username: str) -> None:
    """Set-up registrations, each from its own address so they never meet the register limit."""
    async with peer(h, f"198.18.0.{next(_setup_addresses)}") as c:
        r = await c.post(
            "/v1/auth/register",
            json={"username": username, "display_name": username, "password": STRONG_PASSWORD},
        )
    assert r.status_code == 201, r.text


async def attempt(
    c: httpx.AsyncClient, username: str, password: str = "wrong-password-123", **headers: str
) -> httpx.Response:
    return await c.post(
        "/v1/auth/login", json={"username": username, "password": password}, headers=headers
    )


def summarize(responses: list[httpx.Response]) -> tuple[list[int], list[int]]:
    statuses = [r.status_code for r in responses]
    retry = [int(r.headers["retry-after"]) for r in responses if r.status_code == 429]
    return statuses, retry


async def test_storm_from_one_address(thr_h: AuthHarness) -> None:
    assert thr_h.clock is not None
    await register_from(thr_h, "storm_one")
    async with peer(thr_h, "198.51.100.10") as c:
        responses = [await attempt(c, "storm_one") for _ in range(200)]
        statuses, retry = summarize(responses)
        assert statuses[:5] == [401] * 5
        assert statuses[5:] == [429] * 195
        assert all(r.json()["code"] == "too_many_attempts" for r in responses[5:])
        # The 5th failure blocks for 5 s. Refused attempts neither count nor extend the block
        # (api-v1.1 F amends v1 §3): 195 of them still name the same moment.
        assert set(retry) == {5}
        # The right password changes nothing while blocked.
        right = await attempt(c, "storm_one", STRONG_PASSWORD)
        assert right.status_code == 429
        assert int(right.headers["retry-after"]) == 5
        # Each failure past the limit doubles the block (exponential, never shrinking; the cap
        # of 15 minutes: test_throttle.py): a client that waits and guesses again gains little.
        waits = []
        for _ in range(5):
            thr_h.clock.advance(int(right.headers["retry-after"]))
            assert (await attempt(c, "storm_one")).status_code == 401
            right = await attempt(c, "storm_one", STRONG_PASSWORD)
            assert right.status_code == 429
            waits.append(int(right.headers["retry-after"]))
        assert waits == [10, 20, 40, 80, 160]


async def test_spoofed_forwarding_headers_change_nothing(thr_h: AuthHarness) -> None:
    await register_from(thr_h, "storm_two")
    # An untrusted peer: X-Forwarded-For is never believed and X-Real-IP only from proxies.
    async with peer(thr_h, "203.0.113.77") as c:
        responses = [
            await attempt(
                c,
                "storm_two",
                **{
                    "X-Forwarded-For": f"10.0.{i // 250}.{i % 250}",
                    "X-Real-IP": f"10.1.0.{i % 250}",
                },
            )
            for i in range(200)
        ]
    statuses, retry = summarize(responses)
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 195
    assert set(retry) == {5}  # refusals do not extend the block (api-v1.1 F)
    # Also through the trusted proxy, X-Forwarded-For alone does not make new addresses.
    async with peer(thr_h, "127.0.0.1") as proxy:
        spoofed = [
            await attempt(
                proxy,
                "storm_two_b",
                **{"X-Forwarded-For": f"10.9.0.{i}", "X-Real-IP": "192.0.2.50"},
            )
            for i in range(8)
        ]
    assert [r.status_code for r in spoofed] == [401] * 5 + [429] * 3


async def test_username_limit_across_addresses(thr_h: AuthHarness) -> None:
    await register_from(thr_h, "spread")
    statuses = []
    async with peer(thr_h, "127.0.0.1") as proxy:  # the edge: X-Real-IP is believed
        for i in range(25):
            r = await attempt(proxy, "spread", **{"X-Real-IP": f"192.0.2.{100 + i}"})
            statuses.append(r.status_code)
    # 20 failures per username from all addresses, even though no pair reached 5.
    assert statuses[:20] == [401] * 20
    assert statuses[20:] == [429] * 5


async def test_address_limit_across_usernames(thr_h: AuthHarness) -> None:
    async with peer(thr_h, "198.51.100.99") as c:
        statuses = [(await attempt(c, f"nobody_{i}")).status_code for i in range(103)]
    assert statuses[:100] == [401] * 100
    assert statuses[100:] == [429] * 3


async def test_success_resets_the_pair_and_block_expires(thr_h: AuthHarness) -> None:
    assert thr_h.clock is not None
    await register_from(thr_h, "forgetful")
    async with peer(thr_h, "198.51.100.20") as c:
        assert [(await attempt(c, "forgetful")).status_code for _ in range(4)] == [401] * 4
        assert (await attempt(c, "forgetful", STRONG_PASSWORD)).status_code == 200
        # The pair starts over: four more mistakes are still only 401s.
        assert [(await attempt(c, "forgetful")).status_code for _ in range(4)] == [401] * 4
        assert (await attempt(c, "forgetful")).status_code == 401  # 5th failure: now blocked
        blocked = await attempt(c, "forgetful", STRONG_PASSWORD)
        assert blocked.status_code == 429
        wait = int(blocked.headers["retry-after"])
        thr_h.clock.advance(wait)
        assert (await attempt(c, "forgetful", STRONG_PASSWORD)).status_code == 200


async def test_counters_survive_a_restart(thr_h: AuthHarness) -> None:
    await register_from(thr_h, "restart_me")
    async with peer(thr_h, "198.51.100.30") as c:
        assert [(await attempt(c, "restart_me")).status_code for _ in range(6)] == [401] * 5 + [429]
    # A second replica (or the same service restarted) on the same database sees the block.
    settings = thr_h.settings.model_copy(update={"migrate_on_start": False})
    app = build(settings, clock=thr_h.clock or FakeClock()).app
    async with lifespan_of(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.30", 5000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://replica", headers=JSON
        ) as replica:
            r = await attempt(replica, "restart_me", STRONG_PASSWORD)
    assert r.status_code == 429


async def test_registration_limited_per_address(thr_h: AuthHarness) -> None:
    async with peer(thr_h, "198.51.100.200") as c:
        statuses = []
        for i in range(REGISTER_LIMIT + 2):
            r = await c.post(
                "/v1/auth/register",
                json={"username": f"bulk_{i}", "display_name": "Bulk", "password": STRONG_PASSWORD},
            )
            statuses.append(r.status_code)
    assert statuses == [201] * REGISTER_LIMIT + [429] * 2
    assert "retry-after" in r.headers
    # Another address is not affected.
    await register_from(thr_h, "bulk_other")


DEVICE = "chat_device"


def device_cookie(r: httpx.Response) -> str:
    value = r.cookies.get(DEVICE)
    assert value, r.headers.get_list("set-cookie")
    return value


async def attack(proxy: httpx.AsyncClient, username: str, first: int) -> list[int]:
    """One round of the lock-out attack of issue #20 item 3: 28 failing requests, each from
    another address (behind the edge, so X-Real-IP is believed), not waiting for anything."""
    return [
        (await attempt(proxy, username, **{"X-Real-IP": f"192.0.2.{first + i}"})).status_code
        for i in range(28)
    ]


async def test_lockout_attack_spares_the_owners_known_device(thr_h: AuthHarness) -> None:
    """An attacker keeps ~28 failing requests per 15 minutes going against one username for an
    hour. The owner still signs in from the browser they used before; a fresh device is still
    throttled as api-v1 says; the refused requests never push the block further out."""
    clock = thr_h.clock
    assert clock is not None
    await register_from(thr_h, "besieged")
    async with peer(thr_h, "198.51.100.150") as owner:
        first = await attempt(owner, "besieged", STRONG_PASSWORD)
    assert first.status_code == 200
    device = device_cookie(first)
    known = {"Cookie": f"{DEVICE}={device}"}
    async with peer(thr_h, "127.0.0.1") as proxy:
        for window in range(4):
            clock.advance(900)  # a new 15-minute window each round
            statuses = await attack(proxy, "besieged", first=window * 30 + 10)
            # 20 failures per username from all addresses, then refusals: api-v1's limit holds.
            assert statuses == [401] * 20 + [429] * 8
            # A fresh device is refused even with the right password...
            async with peer(thr_h, "198.51.100.151") as fresh:
                refused = await attempt(fresh, "besieged", STRONG_PASSWORD)
            assert refused.status_code == 429
            assert refused.json()["code"] == "too_many_attempts"
            # ...for the 5 s the 20th failure set: the 8 refused requests did not extend it.
            assert refused.headers["retry-after"] == "5"
            # The owner's known device is counted apart and signs in at once.
            async with peer(thr_h, "198.51.100.150") as owner:
                ok = await attempt(owner, "besieged", STRONG_PASSWORD, **known)
            assert ok.status_code == 200, ok.text
            # The same device keeps its cookie (renewed for a year).
            assert device_cookie(ok) == device
        # Once the short block is over, a fresh device with the right password gets in too.
        clock.advance(5)
        async with peer(thr_h, "198.51.100.152") as fresh:
            assert (await attempt(fresh, "besieged", STRONG_PASSWORD)).status_code == 200


async def test_a_known_device_is_limited_on_its_own_counter(thr_h: AuthHarness) -> None:
    await register_from(thr_h, "typo_prone")
    await register_from(thr_h, "someone_else")
    async with peer(thr_h, "198.51.100.160") as c:
        device = device_cookie(await attempt(c, "typo_prone", STRONG_PASSWORD))
        other = device_cookie(await attempt(c, "someone_else", STRONG_PASSWORD))
        known = {"Cookie": f"{DEVICE}={device}"}
        # A stolen device cookie buys no more guesses: 5 failures, then blocked.
        statuses = [(await attempt(c, "typo_prone", **known)).status_code for _ in range(6)]
        assert statuses == [401] * 5 + [429]
        # The device's failures are its own: the same address without the cookie is not blocked.
        assert (await attempt(c, "typo_prone", STRONG_PASSWORD)).status_code == 200
        # A device cookie of another user, a made-up one or an absurd one is no known device
        # of this user: those attempts meet the username's limit as without a cookie.
        cookies = [device, "forged-" + other[7:], "x" * 300]
        async with peer(thr_h, "127.0.0.1") as proxy:
            statuses = [
                (
                    await attempt(
                        proxy,
                        "someone_else",
                        **{
                            "X-Real-IP": f"192.0.2.{200 + i}",
                            "Cookie": f"{DEVICE}={cookies[i % 3]}",
                        },
                    )
                ).status_code
                for i in range(21)
            ]
        assert statuses == [401] * 20 + [429]
        # Its own device still signs in.
        ok = await attempt(c, "someone_else", STRONG_PASSWORD, Cookie=f"{DEVICE}={other}")
        assert ok.status_code == 200
