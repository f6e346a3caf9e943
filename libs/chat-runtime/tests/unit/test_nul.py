"""A NUL anywhere in a request is a 422 before any route runs (issue #20 item 8)."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from chat_runtime.http import create_app
from chat_runtime.http.nul import json_nul_fields, query_nul_fields
from chat_runtime.settings import BaseServiceSettings
from fastapi import FastAPI

pytestmark = pytest.mark.unit


def make_app(calls: list[str]) -> FastAPI:
    app = create_app(BaseServiceSettings(), title="test")

    @app.get("/items/{name}")
    async def item(name: str, q: str = "") -> dict[str, str]:
        calls.append(name)
        return {"name": name, "q": q}

    @app.post("/items")
    async def create(body: dict[str, Any]) -> dict[str, Any]:
        calls.append("post")
        return body

    return app


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
async def client(calls: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(calls), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def assert_nul_problem(r: httpx.Response, fields: list[str]) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "x-correlation-id" in r.headers  # inside EdgeMiddleware
    body = r.json()
    assert body["code"] == "validation_failed"
    assert "NUL" in body["detail"]
    assert [e["field"] for e in body["errors"]] == fields
    assert {e["code"] for e in body["errors"]} == {"nul_character"}


@pytest.mark.parametrize(
    ("url", "fields"),
    [
        ("/items/a?q=a%00b", ["q"]),
        ("/items/a?q=%00", ["q"]),
        ("/items/a?x=1&q=ok&z=%00%00", ["z"]),
        ("/items/a?q%00=1", ["q\\u0000"]),
        ("/items/a%00b", ["path"]),
    ],
)
async def test_nul_in_the_url_is_refused_before_the_route(
    client: httpx.AsyncClient, calls: list[str], url: str, fields: list[str]
) -> None:
    assert_nul_problem(await client.get(url), fields)
    assert calls == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "a\x00b"}, ["name"]),
        ({"a": {"b": ["ok", "\x00"]}}, ["a.b.1"]),
        ({"k\x00": 1}, ["k\\u0000"]),
        ("\x00", ["body"]),
        ({"x": "\x00", "y": "\x00"}, ["x", "y"]),
    ],
)
async def test_nul_in_a_json_body_is_refused_before_the_route(
    client: httpx.AsyncClient, calls: list[str], body: Any, fields: list[str]
) -> None:
    assert_nul_problem(await client.post("/items", json=body), fields)
    assert calls == []


async def test_requests_without_nul_pass_unchanged(
    client: httpx.AsyncClient, calls: list[str]
) -> None:
    r = await client.get("/items/a%20b?q=%01x%2500")
    assert r.status_code == 200
    assert r.json() == {"name": "a b", "q": "\x01x%00"}
    body = {"text": "a\\u0000 is only text here", "n": [1, {"v": "\u2028"}]}
    r = await client.post("/items", json=body)
    assert r.status_code == 200
    assert r.json() == body
    assert calls == ["a b", "post"]


async def test_malformed_json_is_still_the_edges_400(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/items", content=b'{"a": "\\u0000', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["code"] == "malformed_json"


def test_field_finders() -> None:
    assert query_nul_fields(b"q=abc") == []
    assert query_nul_fields(b"q=a\x00") == ["q"]
    assert json_nul_fields(b"not json \\u0000") == []
    assert json_nul_fields(b'{"a": "\\u0000", "b": ["\\u0000"]}') == ["a", "b.0"]
