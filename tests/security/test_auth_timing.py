"""Unknown user and wrong password look the same: same bytes (apart from correlation/trace ids)
and the same time — median within 10 % over 30 tries each (dummy-hash verify). Limits are raised
and the clock frozen so the throttle does not take part. A test, not a benchmark: the tries are
interleaved so load from elsewhere on the machine hits both sides alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from chat_devtools.auth_harness import AuthHarness, FakeClock, auth_harness

pytestmark = [pytest.mark.security, pytest.mark.asyncio(loop_scope="module")]

TRIES = 30
VOLATILE_HEADERS = {"x-correlation-id", "traceparent", "date", "server-timing"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def timing_h(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AuthHarness]:
    async with auth_harness(
        tmp_path_factory.mktemp("keys"),
        clock=FakeClock(),
        login_pair_limit=100_000,
        login_username_limit=100_000,
        login_address_limit=100_000,
    ) as h:
        await h.register("timing_target")
        yield h


async def timed_login(h: AuthHarness, username: str) -> tuple[float, httpx.Response]:
    start = time.perf_counter()
    r = await h.login(username, "definitely-not-the-password")
    return time.perf_counter() - start, r


def stable_headers(r: httpx.Response) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in r.headers.items() if k.lower() not in VOLATILE_HEADERS)


async def test_unknown_user_and_wrong_password_are_byte_identical(timing_h: AuthHarness) -> None:
    _, wrong = await timed_login(timing_h, "timing_target")
    _, unknown = await timed_login(timing_h, "no_such_user_anywhere")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.content == unknown.content
    assert stable_headers(wrong) == stable_headers(unknown)
    assert wrong.json()["code"] == "invalid_credentials"


async def test_unknown_user_and_wrong_password_take_the_same_time(timing_h: AuthHarness) -> None:
    for _ in range(3):  # warm-up: connections, caches
        await timed_login(timing_h, "timing_target")
        await timed_login(timing_h, "no_such_user_warm")
    wrong: list[float] = []
    unknown: list[float] = []
    for i in range(TRIES):
        pair = [("timing_target", wrong), (f"no_such_user_{i}", unknown)]
        if i % 2:
            pair.reverse()
        for username, bucket in pair:
            elapsed, r = await timed_login(timing_h, username)
            assert r.status_code == 401
            bucket.append(elapsed)
    m_wrong, m_unknown = statistics.median(wrong), statistics.median(unknown)
    ratio = abs(m_wrong - m_unknown) / max(m_wrong, m_unknown)
    assert ratio <= 0.10, f"median wrong={m_wrong:.4f}s unknown={m_unknown:.4f}s ratio={ratio:.2%}"
    # And the hash really runs for unknown users (no early return).
    assert m_unknown > 0.01
