"""The edge's per-address auth zone through the running stack (issue #20 item 5): a burst of
sign-in-family requests from one address gets 429 `rate_limited` problems with `Retry-After`
(never nginx's default 503), and after that wait the address is served again.

A local stack exempts 127.0.0.1 (the other tests and benchmarks run from there,
chat_devtools.nginx.LOCAL_LIMIT_EXEMPT); this test's requests come from 127.0.0.2, another
loopback address, which the zones count like any client. The burst goes to
`POST /v1/auth/refresh` without a cookie: each request that passes costs auth-service a quick 401.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import JSON_HEADERS, assert_problem, loopback  # noqa: E402
from tests.support.fixtures import resolve_edge_url  # noqa: E402

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(120),
]

SOURCE = "127.0.0.2"
WAVE = 50
MAX_WAVES = 40  # 2000 requests: far over the local zone (chat_devtools.nginx.LOCAL_LIMITS)


@pytest.fixture(scope="module")
def limits_edge_url(request: pytest.FixtureRequest) -> str:
    url = loopback(resolve_edge_url(request))
    if urlsplit(url).hostname != "127.0.0.1":
        pytest.skip(f"the edge {url} is not on this machine: no second loopback address to use")
    return url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def other_address(limits_edge_url: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(
        local_address=SOURCE, limits=httpx.Limits(max_connections=WAVE)
    )
    async with httpx.AsyncClient(
        base_url=limits_edge_url, transport=transport, trust_env=False, timeout=30
    ) as client:
        yield client


async def refresh(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/v1/auth/refresh", content=b"{}", headers=JSON_HEADERS)


async def test_a_burst_over_the_auth_zone_gets_429_problems_then_service_again(
    other_address: httpx.AsyncClient,
) -> None:
    refused: httpx.Response | None = None
    statuses: set[int] = set()
    for _ in range(MAX_WAVES):
        answers = await asyncio.gather(*(refresh(other_address) for _ in range(WAVE)))
        statuses |= {r.status_code for r in answers}
        refused = next((r for r in answers if r.status_code == 429), None)
        if refused is not None:
            break
    assert refused is not None, f"{WAVE * MAX_WAVES} requests, none refused: {statuses}"
    # Until the zone ran out the service answered (no cookie: 401); never a 503.
    assert statuses <= {401, 429}, statuses
    body = assert_problem(refused, 429, "rate_limited")
    assert body["detail"]
    retry_after = refused.headers.get_list("retry-after")
    assert len(retry_after) == 1, retry_after
    assert retry_after[0].isdigit(), retry_after
    assert int(retry_after[0]) >= 1
    assert refused.headers.get("x-correlation-id")

    # Retry-After is honest: after that wait the address is served again.
    await asyncio.sleep(int(retry_after[0]))
    again = await refresh(other_address)
    assert_problem(again, 401)
