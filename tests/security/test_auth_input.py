"""Hostile input is refused with a defined 4xx problem, never a 500 (QA-001): SQL injection and
10 000-character strings in every field, malformed JSON, a 1 MiB body, wrong content types and
cross-site requests on the cookie endpoints, usernames differing only by case."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from chat_devtools.auth_harness import STRONG_PASSWORD, AuthHarness, auth_harness

pytestmark = [pytest.mark.security, pytest.mark.asyncio(loop_scope="module")]

SQLI = [
    "' OR '1'='1",
    "admin'--",
    "x'); DROP TABLE users; --",
    "1; SELECT pg_sleep(5)",
    "%",
    "_",
    "\\",
    "nul\x00byte-in-the-middle",
]
HUGE = "A" * 10_000


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def input_h(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AuthHarness]:
    # Raised login limits: this module fires many wrong logins from one address on purpose.
    async with auth_harness(
        tmp_path_factory.mktemp("keys"),
        login_pair_limit=10_000,
        login_username_limit=10_000,
        login_address_limit=10_000,
        register_address_limit=10_000,
    ) as h:
        yield h


def assert_problem(r: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == r.status_code
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def input_token(input_h: AuthHarness) -> str:
    await input_h.register("inputuser")
    r = await input_h.login("inputuser")
    token: str = r.json()["access_token"]
    return token


@pytest.mark.parametrize("value", [*SQLI, HUGE])
async def test_register_fields(input_h: AuthHarness, value: str) -> None:
    for field in ("username", "display_name", "password"):
        body = {"username": "regvictim", "display_name": "Reg Victim", "password": STRONG_PASSWORD}
        body[field] = value
        r = await input_h.client.post("/v1/auth/register", json=body)
        if field in ("display_name", "password") and value != HUGE and r.status_code < 422:
            # Quotes and keywords are fine in a display name or a long password: the text is
            # stored verbatim (bound parameters), so a taken or created account is the outcome.
            assert r.status_code in (201, 409), r.text
            continue
        problem = assert_problem(r, 422)
        assert problem["code"] == "validation_failed"
        assert {e["field"] for e in problem["errors"]} == {field}


@pytest.mark.parametrize("value", [*SQLI, HUGE])
async def test_login_fields(input_h: AuthHarness, value: str) -> None:
    for field in ("username", "password"):
        body = {"username": "inputuser", "password": STRONG_PASSWORD}
        body[field] = value
        r = await input_h.client.post("/v1/auth/login", json=body)
        assert_problem(r, 401, 422)


@pytest.mark.parametrize("value", [*SQLI, HUGE])
async def test_password_change_fields(input_h: AuthHarness, input_token: str, value: str) -> None:
    auth = {"Authorization": f"Bearer {input_token}"}
    for field in ("current_password", "new_password"):
        body = {"current_password": "wrong-but-long-enough", "new_password": "quartz-lantern-93"}
        body[field] = value
        r = await input_h.client.post("/v1/auth/password", json=body, headers=auth)
        assert_problem(r, 401, 422)


@pytest.mark.parametrize("value", [*SQLI, HUGE])
async def test_query_cookie_and_header_values(
    input_h: AuthHarness, input_token: str, value: str
) -> None:
    auth = {"Authorization": f"Bearer {input_token}"}
    r = await input_h.client.get("/v1/users", params={"q": value}, headers=auth)
    if value == HUGE or "\x00" in value:
        assert_problem(r, 422)
    else:
        assert r.status_code == 200
        # Wildcards and quotes are data: nothing matches by accident.
        prefix = value.lower()
        for u in r.json()["users"]:
            assert u["username"].startswith(prefix) or u["display_name"].lower().startswith(prefix)
    assert_problem(await input_h.client.get("/v1/users", params={"ids": value}, headers=auth), 422)
    assert_problem(
        await input_h.client.get("/v1/users", params={"q": "a", "limit": value}, headers=auth), 422
    )
    assert_problem(
        await input_h.client.get("/v1/users/me", headers={"Authorization": f"Bearer {value}"}), 401
    )
    cookie = (
        {"Cookie": f"chat_refresh={value}"}
        if value.isprintable() and ";" not in value
        else {"Cookie": "chat_refresh=bogus"}
    )
    assert_problem(await input_h.client.post("/v1/auth/refresh", json={}, headers=cookie), 401)


async def test_database_is_intact_after_injection_attempts(
    input_h: AuthHarness, input_token: str
) -> None:
    r = await input_h.client.get(
        "/v1/users", params={"q": "inputuser"}, headers={"Authorization": f"Bearer {input_token}"}
    )
    assert [u["username"] for u in r.json()["users"]] == ["inputuser"]
    assert (await input_h.login("inputuser")).status_code == 200


@pytest.mark.parametrize("path", ["/v1/auth/register", "/v1/auth/login", "/v1/auth/password"])
@pytest.mark.parametrize(
    "content",
    [
        b"{",
        b'{"username": "a",',
        b"\xff\xfe\x00",
        b"[]",
        b"null",
        b"123",
        b'"str"',
        b'{"username": 5, "password": null}',
    ],
)
async def test_malformed_json(
    input_h: AuthHarness, input_token: str, path: str, content: bytes
) -> None:
    r = await input_h.client.post(
        path,
        content=content,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {input_token}"},
    )
    assert_problem(r, 400, 422)


@pytest.mark.parametrize(
    "path", ["/v1/auth/register", "/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout"]
)
async def test_one_mebibyte_body(input_h: AuthHarness, path: str) -> None:
    big = b'{"username": "' + b"a" * (1024 * 1024) + b'"}'
    problem = assert_problem(await input_h.client.post(path, content=big), 413)
    assert problem["code"] == "payload_too_large"


@pytest.mark.parametrize("path", ["/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout"])
@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", None],
)
async def test_cookie_endpoints_refuse_non_json(
    input_h: AuthHarness, path: str, content_type: str | None
) -> None:
    login = await input_h.login("inputuser")
    cookie = login.cookies["chat_refresh"]
    headers = {"Cookie": f"chat_refresh={cookie}"}
    request = input_h.client.build_request(
        "POST", path, content=b"username=inputuser&password=x", headers=headers
    )
    if content_type is None:
        del request.headers["Content-Type"]
    else:
        request.headers["Content-Type"] = content_type
    problem = assert_problem(await input_h.client.send(request), 415)
    assert problem["code"] == "unsupported_media_type"
    # Nothing happened: the refresh token still works.
    ok = await input_h.client.post("/v1/auth/refresh", json={}, headers=headers)
    assert ok.status_code == 200


@pytest.mark.parametrize("path", ["/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout"])
@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://localhost:8080.evil.example"]
)
async def test_cookie_endpoints_refuse_foreign_origin(
    input_h: AuthHarness, path: str, origin: str
) -> None:
    login = await input_h.login("inputuser")
    cookie = login.cookies["chat_refresh"]
    headers = {"Cookie": f"chat_refresh={cookie}", "Origin": origin}
    r = await input_h.client.post(
        path, json={"username": "inputuser", "password": STRONG_PASSWORD}, headers=headers
    )
    problem = assert_problem(r, 403)
    assert problem["code"] == "origin_not_allowed"
    assert "set-cookie" not in r.headers
    ok = await input_h.client.post(
        "/v1/auth/refresh", json={}, headers={"Cookie": f"chat_refresh={cookie}"}
    )
    assert ok.status_code == 200


async def test_usernames_differing_only_by_case_are_one_account(input_h: AuthHarness) -> None:
    first = await input_h.client.post(
        "/v1/auth/register",
        json={"username": "MiXeD", "display_name": "One", "password": STRONG_PASSWORD},
    )
    assert first.status_code == 201
    for variant in ("mixed", "MIXED", "Mixed", "mIxEd"):
        r = await input_h.client.post(
            "/v1/auth/register",
            json={"username": variant, "display_name": "Two", "password": STRONG_PASSWORD},
        )
        assert assert_problem(r, 409)["code"] == "username_taken"
    r = await input_h.login("mIxEd")
    assert r.status_code == 200
    assert r.json()["user"]["id"] == first.json()["user"]["id"]


async def test_unknown_routes_and_methods_are_problems(input_h: AuthHarness) -> None:
    assert_problem(await input_h.client.get("/v1/auth/login"), 405)
    assert_problem(await input_h.client.get("/v1/auth/nothing"), 404)


@pytest.mark.parametrize(
    ("path", "template"),
    [
        (
            "/v1/auth/register",
            '{"username": %s, "display_name": "x", "password": "violet-tangerine-harbor-47"}',
        ),
        (
            "/v1/auth/register",
            '{"username": "surro", "display_name": %s, "password": "violet-tangerine-harbor-47"}',
        ),
        ("/v1/auth/register", '{"username": "surro", "display_name": "x", "password": %s}'),
        ("/v1/auth/login", '{"username": %s, "password": "violet-tangerine-harbor-47"}'),
        ("/v1/auth/login", '{"username": "inputuser", "password": %s}'),
        ("/v1/auth/password", '{"current_password": %s, "new_password": "quartz-lantern-93"}'),
        ("/v1/auth/password", '{"current_password": "whatever-it-is", "new_password": %s}'),
    ],
)
async def test_lone_surrogates_are_refused(
    input_h: AuthHarness, input_token: str, path: str, template: str
) -> None:
    # Valid JSON, but not encodable as UTF-8: must be a 4xx, not an encoding error (500).
    content = (template % '"ab\\ud800cd-long-enough-here"').encode()
    r = await input_h.client.post(
        path, content=content, headers={"Authorization": f"Bearer {input_token}"}
    )
    assert_problem(r, 400, 401, 422)
    q = await input_h.client.get(
        "/v1/users?q=%ED%A0%80", headers={"Authorization": f"Bearer {input_token}"}
    )
    assert q.status_code < 500
