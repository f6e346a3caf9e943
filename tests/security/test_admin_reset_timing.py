"""Password-reset links (api-v1.1 C): a used, voided, expired or unknown token, and the link of
a deactivated account, get the same bytes (apart from correlation/trace ids) and the same time
— each kind within 15 % of an unknown token (median of 20 paired differences) (every refusal pays
one argon2 hash, like a valid link). Limits are raised and the clock is fake."""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from chat_devtools.auth_harness import STRONG_PASSWORD, AuthHarness, FakeClock, auth_harness

pytestmark = [pytest.mark.security, pytest.mark.asyncio(loop_scope="module")]

TRIES = 20
VOLATILE_HEADERS = {"x-correlation-id", "traceparent", "date", "server-timing"}
NEW_PASSWORD = "copper-lantern-meadow-93"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def token_of(h: AuthHarness, username: str, password: str = STRONG_PASSWORD) -> str:
    r = await h.login(username, password)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def link(h: AuthHarness, admin: str, user_id: str) -> str:
    r = await h.client.post(f"/v1/admin/users/{user_id}/password-reset", headers=bearer(admin))
    assert r.status_code == 201, r.text
    url: str = r.json()["reset_url"]
    return parse_qs(urlsplit(url).fragment.split("?", 1)[1])["token"][0]


async def use(h: AuthHarness, token: str) -> httpx.Response:
    return await h.client.post(
        "/v1/auth/password-reset", json={"token": token, "new_password": NEW_PASSWORD}
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tokens(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[AuthHarness, dict[str, str]]]:
    clock = FakeClock()
    async with auth_harness(
        tmp_path_factory.mktemp("keys"),
        clock=clock,
        login_pair_limit=100_000,
        login_username_limit=100_000,
        login_address_limit=100_000,
    ) as h:
        await h.register("rt_owner")
        ids = {name: (await h.register(name))["id"] for name in ("rt_a", "rt_b", "rt_c", "rt_d")}
        admin = await token_of(h, "rt_owner")
        expired = await link(h, admin, ids["rt_a"])
        clock.advance(3601)
        admin = await token_of(h, "rt_owner")
        voided = await link(h, admin, ids["rt_b"])
        await link(h, admin, ids["rt_b"])
        used = await link(h, admin, ids["rt_c"])
        assert (await use(h, used)).status_code == 204
        deactivated = await link(h, admin, ids["rt_d"])
        r = await h.client.post(f"/v1/admin/users/{ids['rt_d']}/deactivate", headers=bearer(admin))
        assert r.status_code == 200
        yield (
            h,
            {
                "unknown": "x" * 43,
                "used": used,
                "voided": voided,
                "expired": expired,
                "deactivated": deactivated,
            },
        )


def stable_headers(r: httpx.Response) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in r.headers.items() if k.lower() not in VOLATILE_HEADERS)


async def test_every_refused_link_gets_the_same_bytes(
    tokens: tuple[AuthHarness, dict[str, str]],
) -> None:
    h, by_kind = tokens
    answers = {kind: await use(h, token) for kind, token in by_kind.items()}
    unknown = answers["unknown"]
    assert unknown.status_code == 401
    assert unknown.json()["code"] == "invalid_reset"
    for kind, r in answers.items():
        assert r.status_code == 401, kind
        assert r.content == unknown.content, kind
        assert stable_headers(r) == stable_headers(unknown), kind


async def test_every_refused_link_takes_the_same_time(
    tokens: tuple[AuthHarness, dict[str, str]],
) -> None:
    h, by_kind = tokens
    for token in by_kind.values():  # warm-up
        await use(h, token)
    # Paired with an unknown token tried right before or after (order alternating), so load
    # from elsewhere on the machine hits both of a pair alike: the median of the differences.
    unknown_times: list[float] = []
    diffs: dict[str, list[float]] = {kind: [] for kind in by_kind if kind != "unknown"}

    async def timed(token: str) -> float:
        start = time.perf_counter()
        r = await use(h, token)
        elapsed = time.perf_counter() - start
        assert r.status_code == 401
        return elapsed

    for i in range(TRIES):
        for kind, bucket in diffs.items():
            if i % 2:
                other = await timed(by_kind[kind])
                unknown = await timed(by_kind["unknown"])
            else:
                unknown = await timed(by_kind["unknown"])
                other = await timed(by_kind[kind])
            unknown_times.append(unknown)
            bucket.append(other - unknown)
    base = statistics.median(unknown_times)
    assert base > 0.01, base  # the hash really runs
    shifts = {kind: statistics.median(d) / base for kind, d in diffs.items()}
    assert all(abs(shift) <= 0.15 for shift in shifts.values()), shifts
