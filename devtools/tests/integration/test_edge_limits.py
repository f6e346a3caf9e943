"""The edge's anti-automation zones and plain-HTTP refusal (issue #20) on a real nginx, with stub
services behind it and tiny limits, so every refusal is reached in a handful of requests.

A local stack exempts 127.0.0.1 (its tests and benchmarks run from there); these requests come
from 127.0.0.2, another loopback address, which the zones count like any client.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from chat_devtools.nginx import find_nginx
from chat_devtools.private import free_port
from chat_devtools.stack import Stack
from chat_devtools.stub_stack import stub_config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed (make setup)"),
]

CLIENT = "127.0.0.2"
LIMITS = {
    "EDGE_AUTH_RATE": "1r/m",
    "EDGE_AUTH_BURST": "2",
    "EDGE_WRITE_RATE": "1r/m",
    "EDGE_WRITE_BURST": "3",
    "EDGE_WS_CONN": "1",
    "EDGE_RETRY_AFTER": "7",
}


class Edge:
    def __init__(self, stack: Stack, plain_port: int) -> None:
        self.url = stack.url("edge").replace("localhost", "127.0.0.1")
        self.plain_url = f"http://127.0.0.1:{plain_port}"

    def client(self, source: str = CLIENT, *, plain: bool = False) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=source)
        base = self.plain_url if plain else self.url
        return httpx.Client(base_url=base, transport=transport, trust_env=False, timeout=10)


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    tmp = tmp_path_factory.mktemp("edge-limits")
    config = replace(stub_config(tmp), env=LIMITS)
    # The compose image's plain-HTTP server, on a free port instead of 80.
    plain_port = free_port()
    http_d = config.run / "nginx" / "http.d"
    http_d.mkdir(parents=True)
    redirect = (config.root / "deploy" / "nginx" / "http-redirect.conf").read_text()
    (http_d / "http-redirect.conf").write_text(
        redirect.replace("listen 80;", f"listen 127.0.0.1:{plain_port};")
    )
    stack = Stack(config)
    stack.start()
    try:
        yield Edge(stack, plain_port)
    finally:
        stack.stop()


def assert_rate_limited(r: httpx.Response) -> None:
    assert r.status_code == 429, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 429
    assert body["code"] == "rate_limited"
    assert body["detail"]
    assert r.headers.get_list("retry-after") == ["7"]
    # The edge's own answer still carries the security headers and a correlation id.
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cross-origin-opener-policy"] == "same-origin"
    assert r.headers["x-correlation-id"]


def test_a_burst_over_the_auth_zone_is_a_429_problem_never_a_503(edge: Edge) -> None:
    with edge.client() as client:
        answers = [client.post("/v1/auth/login", json={}) for _ in range(5)]
        statuses = [r.status_code for r in answers]
        # One at the rate and a burst of 2 pass; the rest are refused at once.
        assert statuses == [200, 200, 200, 429, 429], statuses
        assert_rate_limited(answers[-1])
        # One zone for sign-in, sign-up, refresh and password-reset redemption.
        for path in ("/v1/auth/register", "/v1/auth/refresh", "/v1/auth/password-reset"):
            assert_rate_limited(client.post(path, json={}))
        # Sign-out is an ordinary write (its own zone), reads are not limited.
        assert client.post("/v1/auth/logout", json={}).status_code == 200
        assert client.get("/v1/auth/jwks").status_code == 200


def test_the_local_stack_exempts_127_0_0_1(edge: Edge) -> None:
    with edge.client("127.0.0.1") as client:
        statuses = {client.post("/v1/auth/login", json={}).status_code for _ in range(8)}
    assert statuses == {200}


def test_rest_writes_are_limited_and_reads_are_not(edge: Edge) -> None:
    with edge.client("127.0.0.3") as client:
        assert {client.get("/v1/rooms").status_code for _ in range(10)} == {200}
        statuses = [client.post("/v1/rooms", json={}).status_code for _ in range(6)]
        assert statuses[:4] == [200] * 4, statuses
        assert statuses[4:] == [429, 429], statuses
        # Any method that writes counts in the same zone.
        assert_rate_limited(client.delete("/v1/rooms/x/members/me"))
        assert client.get("/v1/rooms").status_code == 200


def test_open_sockets_per_address_are_capped(edge: Edge) -> None:
    """limit_conn counts a request while nginx processes it: a WebSocket for its whole life. The
    stub holds one request open (`stub_hold`), as a gateway holds a socket; a second request from
    the same address meanwhile is refused. On a busy machine the probe can reach nginx before the
    held request does (then the held one is the refused one): that round is tried again."""
    for _ in range(5):
        held: list[int] = []

        def hold() -> None:
            with edge.client("127.0.0.4") as client:
                held.append(client.get("/v1/ws?stub_hold=3").status_code)

        first = threading.Thread(target=hold)
        first.start()
        refused = None
        try:
            with edge.client("127.0.0.4") as client:
                while first.is_alive() and refused is None:
                    r = client.get("/v1/ws")
                    if r.status_code == 429:
                        refused = r
        finally:
            first.join()
        if refused is not None and held == [200]:
            break
    assert refused is not None, "a second socket from the same address was not refused"
    assert held == [200]
    assert_rate_limited(refused)
    # Another address is not affected.
    with edge.client("127.0.0.5") as other:
        assert other.get("/v1/ws").status_code == 200


def test_plain_http_refuses_the_api_and_redirects_pages(edge: Edge) -> None:
    with edge.client("127.0.0.1", plain=True) as client:
        for method, path in (("POST", "/v1/auth/login"), ("GET", "/v1/rooms"), ("GET", "/v1/ws")):
            r = client.request(method, path, json={} if method == "POST" else None)
            assert r.status_code == 403, (path, r.status_code)
            assert r.headers["content-type"] == "application/problem+json"
            body = r.json()
            assert (body["status"], body["code"]) == (403, "forbidden")
            assert "HTTPS" in body["detail"]
            assert "location" not in r.headers
        page = client.get("/rooms/abc?x=1")
        assert page.status_code == 308
        assert page.headers["location"] == "https://127.0.0.1/rooms/abc?x=1"
        assert client.get("/_edge/health").status_code == 200
