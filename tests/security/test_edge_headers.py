"""The edge (nginx) as an attacker meets it (QA-001; api-v1 §1, §2, §3; issue #20):

- security headers on the app page, on an API answer and on error answers of every origin
  (a service's problem, the edge's own 404 and 413), Permissions-Policy, COOP and CORP among
  them, each once;
- `X-Real-IP` / `X-Forwarded-For` sent by the client do not change the client address the
  login throttle counts: a storm with a new forged address per attempt is throttled as one;
- a 1 MiB body (with and without Content-Length), malformed JSON and oversized headers get a
  4xx problem, never a 500.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import (  # noqa: E402
    JSON_HEADERS,
    Edge,
    User,
    assert_problem,
    open_edge,
)
from tests.support.fixtures import resolve_edge_url  # noqa: E402

pytestmark = [
    pytest.mark.security,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(120),
]

ONE_MIB = 1024 * 1024
PAIR_LIMIT = 5  # api-v1 §3: failures per (username, client address) before 429
SAFE_REFERRER_POLICIES = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}


@pytest.fixture(scope="module")
def hdr_edge_url(request: pytest.FixtureRequest) -> str:
    return resolve_edge_url(request)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hdr_edge(hdr_edge_url: str) -> AsyncIterator[Edge]:
    async with open_edge(hdr_edge_url) as edge:
        yield edge


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hdr_user(hdr_edge: Edge) -> User:
    return (await hdr_edge.pooled_users(1))[0]


def csp_directives(response: httpx.Response) -> dict[str, list[str]]:
    values = response.headers.get_list("content-security-policy")
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    assert values, f"{where}: no Content-Security-Policy"
    directives: dict[str, list[str]] = {}
    for value in values:
        for part in value.split(";"):
            words = part.split()
            if words:
                directives.setdefault(words[0].lower(), []).extend(words[1:])
    return directives


def assert_security_headers(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    csp = csp_directives(response)
    scripts = csp.get("script-src", csp.get("default-src"))
    assert scripts is not None, f"{where}: CSP restricts no scripts: {csp}"
    assert "'unsafe-inline'" not in scripts, f"{where}: CSP allows inline script"
    assert "*" not in scripts, f"{where}: CSP allows scripts from anywhere"
    assert "data:" not in scripts, f"{where}: CSP allows data: scripts"
    assert csp.get("frame-ancestors") == ["'none'"], f"{where}: frame-ancestors {csp}"
    assert response.headers.get("x-content-type-options", "").lower() == "nosniff", where
    policy = response.headers.get("referrer-policy", "").lower()
    assert policy in SAFE_REFERRER_POLICIES, f"{where}: Referrer-Policy {policy!r}"
    assert_isolation_headers(response)


# Issue #20: browser features the app never uses are off; its windows and resources stay its own.
DENIED_FEATURES = ("camera", "microphone", "geolocation", "payment", "usb")


def assert_isolation_headers(response: httpx.Response) -> None:
    """Permissions-Policy, Cross-Origin-Opener-Policy and Cross-Origin-Resource-Policy: present,
    and once each (the edge adds its own only where the upstream sent none)."""
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    for name in (
        "permissions-policy", "cross-origin-opener-policy", "cross-origin-resource-policy",
    ):  # fmt: skip
        values = response.headers.get_list(name)
        assert len(values) == 1, f"{where}: {name} {values}"
    features = {
        part.split("=", 1)[0].strip(): part.split("=", 1)[1].strip()
        for part in response.headers["permissions-policy"].split(",")
        if "=" in part
    }
    for feature in DENIED_FEATURES:
        assert features.get(feature) == "()", f"{where}: {feature} not denied: {features}"
    assert response.headers["cross-origin-opener-policy"] == "same-origin", where
    assert response.headers["cross-origin-resource-policy"] == "same-origin", where


async def test_security_headers_on_the_app_page(hdr_edge: Edge) -> None:
    page = await hdr_edge.http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert_security_headers(page)
    deep = await hdr_edge.http.get("/rooms/some-deep-link")
    assert deep.status_code == 200
    assert_security_headers(deep)


async def test_security_headers_on_api_answers(hdr_edge: Edge, hdr_user: User) -> None:
    jwks = await hdr_edge.http.get("/v1/auth/jwks")
    assert jwks.status_code == 200
    assert_security_headers(jwks)
    for path in ("/v1/rooms", "/v1/presence", "/v1/users/me"):
        r = await hdr_user.get(path)
        assert r.status_code == 200, f"{path}: {r.status_code}"
        assert_security_headers(r)
        assert r.headers.get("x-correlation-id"), f"{path}: no X-Correlation-ID"


async def test_security_headers_on_error_answers(hdr_edge: Edge, hdr_user: User) -> None:
    unauthorized = await hdr_edge.http.get("/v1/rooms")  # a service's problem
    assert_problem(unauthorized, 401)
    assert_security_headers(unauthorized)
    missing = await hdr_user.get(f"/v1/rooms/{uuid.uuid4()}")
    assert_problem(missing, 404)
    assert_security_headers(missing)
    nowhere = await hdr_edge.http.get("/v1/no-such-api")  # the edge's own 404
    assert_problem(nowhere, 404)
    assert_security_headers(nowhere)
    too_big = await hdr_edge.http.post(
        "/v1/auth/login", content=b"x" * ONE_MIB, headers=JSON_HEADERS
    )
    assert_problem(too_big, 413)
    assert_security_headers(too_big)


async def test_forwarding_headers_from_the_client_do_not_dodge_the_login_throttle(
    hdr_edge: Edge,
) -> None:
    victim = await hdr_edge.register("hdr_storm")
    statuses: list[int] = []
    last: httpx.Response | None = None
    # Every attempt claims another address; the edge must count them all as 127.0.0.1.
    for n in range(1, PAIR_LIMIT + 2):
        forged = f"203.0.113.{n}"
        last = await hdr_edge.login_response(
            victim.username,
            "not-the-password-at-all",
            **{"X-Forwarded-For": forged, "X-Real-IP": forged, "Forwarded": f"for={forged}"},
        )
        statuses.append(last.status_code)
    assert statuses[:PAIR_LIMIT] == [401] * PAIR_LIMIT, statuses
    assert last is not None
    assert statuses[-1] == 429, (
        f"attempt {PAIR_LIMIT + 1} with a new forged address was not throttled: {statuses}"
    )
    body = assert_problem(last, 429, "too_many_attempts")
    assert body["detail"]
    retry_after = last.headers.get("retry-after", "")
    assert retry_after.isdigit(), f"Retry-After {retry_after!r}"
    assert int(retry_after) > 0
    # Throttled whether or not the password is right, from yet another forged address.
    right = await hdr_edge.login_response(
        victim.username, victim.password, **{"X-Forwarded-For": "198.51.100.7"}
    )
    assert_problem(right, 429, "too_many_attempts")


@pytest.mark.parametrize(
    "path", ["/v1/auth/login", "/v1/auth/register", "/v1/rooms", "/v1/dms", "/v1/presence"]
)
async def test_a_one_mib_body_is_a_413_problem(path: str, hdr_edge: Edge, hdr_user: User) -> None:
    r = await hdr_user.post(path, content=b'{"x":"' + b"a" * ONE_MIB + b'"}', headers=JSON_HEADERS)
    assert_problem(r, 413)


async def test_a_chunked_one_mib_body_is_refused_too(hdr_edge: Edge, hdr_user: User) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(16):
            yield b"a" * (ONE_MIB // 16)

    # No Content-Length: the limit must hold while the body streams in.
    r = await hdr_user.post("/v1/rooms", content=chunks(), headers=JSON_HEADERS)
    assert "content-length" not in r.request.headers
    assert_problem(r, 413)


async def test_just_over_64_kib_is_refused_and_just_under_is_read(hdr_user: User) -> None:
    filler = "a" * (64 * 1024)
    r = await hdr_user.post(
        "/v1/rooms", content=f'{{"name":"{filler}","visibility":"public"}}', headers=JSON_HEADERS
    )
    assert_problem(r, 413)
    # Under the limit the body reaches the service, which judges the (too long) name: 422.
    small = "a" * (60 * 1024)
    r = await hdr_user.post(
        "/v1/rooms", content=f'{{"name":"{small}","visibility":"public"}}', headers=JSON_HEADERS
    )
    assert_problem(r, 422)


MALFORMED = [
    b'{"username": ',
    b"{'single': 'quotes'}",
    b"not json at all",
    b'{"a": NaN}',
    b'{"text": "\\ud800"}',
    b"\xff\xfe\x00garbage",
    b"",
]


@pytest.mark.parametrize("body", MALFORMED, ids=lambda b: repr(b)[:24])
@pytest.mark.parametrize("path", ["/v1/auth/login", "/v1/auth/register", "/v1/rooms", "/v1/dms"])
async def test_malformed_json_is_a_4xx_problem(path: str, body: bytes, hdr_user: User) -> None:
    r = await hdr_user.post(path, content=body, headers=JSON_HEADERS)
    assert_problem(r, range(400, 500))


async def test_malformed_json_in_a_message_send(hdr_user: User) -> None:
    room = await hdr_user.create_room()
    r = await hdr_user.post(
        f"/v1/rooms/{room['id']}/messages", content=b'{"text": "unterminated', headers=JSON_HEADERS
    )
    assert_problem(r, 400)
    r = await hdr_user.post(
        f"/v1/rooms/{room['id']}/messages", content=b"[1, 2, 3]", headers=JSON_HEADERS
    )
    assert_problem(r, 422)
    await hdr_user.leave(room["id"])


async def test_oversized_headers_are_a_4xx_problem(hdr_edge: Edge) -> None:
    r = await hdr_edge.http.get("/v1/rooms", headers={"X-Filler": "a" * 40_000})
    assert_problem(r, range(400, 500))
    assert_security_headers(r)


async def test_every_api_answer_carries_a_correlation_id(hdr_edge: Edge) -> None:
    """api-v1 §2: every response carries X-Correlation-ID, also the ones nginx makes itself
    (its 404 for unknown API paths, its 413 for big bodies), so a user's report can be traced."""
    cid = f"edge-{uuid.uuid4().hex}"
    answers = {
        "service 401": await hdr_edge.http.get("/v1/rooms", headers={"X-Correlation-ID": cid}),
        "edge 404": await hdr_edge.http.get("/v1/no-such-api", headers={"X-Correlation-ID": cid}),
        "edge 413": await hdr_edge.http.post(
            "/v1/rooms",
            content=b"x" * ONE_MIB,
            headers={**JSON_HEADERS, "X-Correlation-ID": cid},
        ),
    }
    missing = {
        name: r.status_code for name, r in answers.items() if not r.headers.get("x-correlation-id")
    }
    assert not missing, f"answers without X-Correlation-ID: {missing}"
    wrong = {
        name: r.headers["x-correlation-id"]
        for name, r in answers.items()
        if r.headers["x-correlation-id"] != cid
    }
    assert not wrong, f"the valid correlation id sent was not echoed: {wrong}"
