"""chat_runtime.http.rate_limit: token buckets per (action, user), their bounds, the 429."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from chat_runtime.http import create_app
from chat_runtime.http.rate_limit import (
    DEFAULT_RATES,
    RATE_LIMITED_RESPONSE,
    Rate,
    RateLimiter,
    RateSetting,
    install_rate_limits,
    rate_limit,
    rate_limited_problem,
    retry_after_seconds,
)
from chat_runtime.settings import BaseServiceSettings
from fastapi import Depends, FastAPI, Header
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from structlog.testing import capture_logs

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- the setting's syntax ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "rate"),
    [
        ("20/s:40", Rate(20, 1.0, 40)),
        ("10/min", Rate(10, 60.0, 10)),
        ("20/h:60", Rate(20, 3600.0, 60)),
        ("10/15min", Rate(10, 900.0, 10)),
        (" 5 / s : 10 ", Rate(5, 1.0, 10)),
        ("OFF", None),
        ("0", None),
    ],
)
def test_rate_specs_parse(spec: str, rate: Rate | None) -> None:
    assert Rate.parse(spec) == rate


@pytest.mark.parametrize("spec", ["", "20", "20/d", "x/s", "20/s:0", "0/s:5", "20/0s", "-1/s"])
def test_bad_rate_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        Rate.parse(spec)


def test_every_default_parses() -> None:
    for spec in DEFAULT_RATES.values():
        assert Rate.parse(spec) is not None


def test_every_action_has_its_own_words() -> None:
    # A refusal names what the person did too fast, never the generic fallback.
    fallback = rate_limited_problem("nobody_configured_this", 1.0).detail
    for action in DEFAULT_RATES:
        assert rate_limited_problem(action, 1.0).detail != fallback, action


class LimitedSettings(BaseServiceSettings):
    rate_search: RateSetting = "5/s:10"


def test_a_bad_setting_stops_the_settings_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_RATE_SEARCH", "lots")
    with pytest.raises(ValidationError, match="rate_search"):
        LimitedSettings()
    monkeypatch.setenv("CHAT_RATE_SEARCH", "1/min")
    assert LimitedSettings().rate_search == "1/min"


# --- buckets -------------------------------------------------------------------------------------


def test_burst_then_the_rate_and_the_wait_is_exact() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"send": Rate(2, 1.0, 4)}, clock=clock)
    assert [limiter.take("send", "u") for _ in range(4)] == [0.0] * 4
    assert limiter.take("send", "u") == pytest.approx(0.5)
    clock.advance(0.49)
    assert limiter.take("send", "u") > 0
    clock.advance(0.01)
    assert limiter.take("send", "u") == 0.0


def test_users_and_actions_have_their_own_buckets() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"a": "1/min", "b": "1/min"}, clock=clock)
    assert limiter.take("a", "alice") == 0.0
    assert limiter.take("a", "alice") == pytest.approx(60.0)
    assert limiter.take("a", "bob") == 0.0
    assert limiter.take("b", "alice") == 0.0


def test_off_never_limits_and_an_unknown_action_is_a_wiring_error() -> None:
    limiter = RateLimiter({"a": "off"})
    assert all(limiter.take("a", "u") == 0.0 for _ in range(1000))
    assert len(limiter) == 0
    with pytest.raises(KeyError):
        limiter.take("nope", "u")


def test_idle_keys_are_dropped_once_their_bucket_is_full_again() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"a": Rate(1, 1.0, 2)}, clock=clock)
    for user in ("u1", "u2", "u3"):
        limiter.take("a", user)
    assert len(limiter) == 3
    clock.advance(0.9)  # half a token short of full (2)
    limiter.take("a", "u4")
    assert len(limiter) == 4
    clock.advance(0.2)  # u1..u3 are full again: as good as forgotten
    limiter.take("a", "u4")
    assert len(limiter) == 1


def test_the_number_of_keys_is_bounded() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"a": "1/h"}, clock=clock, max_keys=100)
    for n in range(1000):
        assert limiter.take("a", f"user-{n}") == 0.0
    assert len(limiter) == 100
    # The most recent keep their (empty) buckets.
    assert limiter.take("a", "user-999") > 0


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(1, 20),
    period=st.sampled_from([1.0, 60.0, 3600.0]),
    extra=st.integers(0, 20),
    gaps=st.lists(st.floats(0.0, 5.0, allow_nan=False), min_size=1, max_size=300),
)
def test_never_more_than_the_burst_plus_the_rate_within_any_window(
    count: int, period: float, extra: int, gaps: list[float]
) -> None:
    rate = Rate(count, period, count + extra)
    clock = FakeClock()
    limiter = RateLimiter({"a": rate}, clock=clock)
    admitted: list[float] = []
    for gap in gaps:
        clock.advance(gap * period / 5)
        wait = limiter.take("a", "u")
        if wait == 0.0:
            admitted.append(clock.now)
        else:
            assert wait > 0
            assert retry_after_seconds(wait) >= 1
    # In every window [t_i, t_j] at most burst + rate * (t_j - t_i) requests got through.
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            allowed = rate.burst + rate.per_second * (admitted[j] - start) + 1e-6
            assert j - i + 1 <= allowed


@settings(max_examples=100, deadline=None)
@given(used=st.integers(0, 30), idle=st.floats(0.0, 10.0, allow_nan=False))
def test_after_the_retry_after_a_request_is_admitted(used: int, idle: float) -> None:
    clock = FakeClock()
    limiter = RateLimiter({"a": Rate(3, 1.0, 5)}, clock=clock)
    for _ in range(used):
        limiter.take("a", "u")
    clock.advance(idle)
    wait = limiter.take("a", "u")
    if wait > 0:
        clock.advance(retry_after_seconds(wait))
        assert limiter.take("a", "u") == 0.0


@pytest.mark.parametrize(("wait", "header"), [(0.001, 1), (1.0, 1), (1.2, 2), (59.5, 60)])
def test_retry_after_is_whole_seconds_at_least_one(wait: float, header: int) -> None:
    assert retry_after_seconds(wait) == header


# --- the dependency ------------------------------------------------------------------------------


def _caller(x_user: Annotated[str, Header()]) -> str:
    return x_user


def _app(clock: FakeClock) -> FastAPI:
    app = create_app(BaseServiceSettings(), title="test")
    install_rate_limits(app, {"room_create": "2/min"}, clock=clock)

    @app.post(
        "/rooms",
        dependencies=[Depends(rate_limit("room_create", _caller))],
        responses={**RATE_LIMITED_RESPONSE},
    )
    async def create(user: Annotated[str, Depends(_caller)]) -> dict[str, str]:
        return {"by": user}

    return app


@pytest.fixture
async def limited() -> AsyncIterator[tuple[httpx.AsyncClient, FakeClock]]:
    clock = FakeClock()
    transport = httpx.ASGITransport(app=_app(clock))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, clock


async def test_over_the_limit_is_a_429_problem_with_retry_after(
    limited: tuple[httpx.AsyncClient, FakeClock],
) -> None:
    client, clock = limited
    alice = {"x-user": "alice"}
    for _ in range(2):
        assert (await client.post("/rooms", headers=alice)).status_code == 200
    refused = await client.post("/rooms", headers=alice)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "30"
    body = refused.json()
    assert (body["code"], body["status"]) == ("rate_limited", 429)
    assert (
        body["detail"] == "You are creating rooms too fast. Please wait 30 seconds and try again."
    )
    # Someone else is not affected; alice is admitted again after Retry-After.
    assert (await client.post("/rooms", headers={"x-user": "bob"})).json() == {"by": "bob"}
    clock.advance(30)
    assert (await client.post("/rooms", headers=alice)).status_code == 200


async def test_the_refusal_is_documented_in_openapi(
    limited: tuple[httpx.AsyncClient, FakeClock],
) -> None:
    client, _ = limited
    spec = (await client.get("/openapi.json")).json()
    assert "Retry-After" in spec["paths"]["/rooms"]["post"]["responses"]["429"]["headers"]


async def test_a_refusal_leaves_a_security_log_line(
    limited: tuple[httpx.AsyncClient, FakeClock],
) -> None:
    client, _ = limited
    user = {"x-user": "mallory"}
    with capture_logs() as logs:
        for _ in range(3):
            await client.post("/rooms", headers=user)
    events = [e for e in logs if e.get("event") == "rate_limited"]
    assert len(events) == 1
    line = {k: v for k, v in events[0].items() if k != "log_level"}
    assert line == {
        "event": "rate_limited",
        "security": True,
        "action": "room_create",
        "user_id": "mallory",
        "retry_after_s": 30,
        "path": "/rooms",
    }
