import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from chat_runtime.http import Problem, client_address, create_app
from chat_runtime.settings import BaseServiceSettings
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, DBAPIError

pytestmark = pytest.mark.unit


class Body(BaseModel):
    name: str = Field(min_length=3)
    count: int


def make_app() -> FastAPI:
    app = create_app(BaseServiceSettings(), title="test")

    @app.post("/items")
    async def create(body: Body) -> dict[str, str]:
        return {"name": body.name}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @app.get("/problem")
    async def problem() -> None:
        raise Problem(409, "username_taken", "That username is taken.", headers={"X-A": "1"})

    @app.get("/http-exc")
    async def http_exc() -> None:
        raise HTTPException(403, "no")

    @app.post("/store")
    async def store(body: Body) -> None:
        raise DataError("INSERT", {}, ValueError("invalid byte sequence for encoding UTF8: 0x00"))

    @app.get("/db-down")
    async def db_down() -> None:
        # What a pooled connection broken by a database restart raises on first use.
        raise DBAPIError("SELECT 1", {}, ConnectionResetError("connection was closed"), True)

    @app.get("/ip")
    async def ip(request: Request) -> dict[str, str]:
        return {"ip": client_address(request, ["127.0.0.1", "10.0.0.0/8"])}

    return app


@pytest.fixture
async def rt_client() -> AsyncIterator[httpx.AsyncClient]:
    app = make_app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_valid_correlation_id_is_echoed(rt_client: httpx.AsyncClient) -> None:
    r = await rt_client.get("/healthz", headers={"X-Correlation-ID": "abc-1.2_3"})
    assert r.status_code == 200
    assert r.headers["x-correlation-id"] == "abc-1.2_3"


@pytest.mark.parametrize("bad", ["", "a" * 65, "has space", "semi;colon", "ü"])
async def test_invalid_correlation_id_is_replaced(rt_client: httpx.AsyncClient, bad: str) -> None:
    r = await rt_client.get("/healthz", headers=[(b"X-Correlation-ID", bad.encode())])
    assert str(uuid.UUID(r.headers["x-correlation-id"])) == r.headers["x-correlation-id"]


async def test_validation_lists_every_error_in_plain_words(rt_client: httpx.AsyncClient) -> None:
    r = await rt_client.post("/items", json={"name": "ab"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "validation_failed"
    assert body["status"] == 422
    assert body["type"] == "about:blank"
    errors = {e["field"]: e for e in body["errors"]}
    assert set(errors) == {"name", "count"}
    assert errors["count"]["code"] == "missing"
    assert errors["count"]["message"] == "This field is required."
    assert errors["name"]["message"] == "Use at least 3 characters."
    assert "x-correlation-id" in r.headers


async def test_malformed_json_is_a_400_problem(rt_client: httpx.AsyncClient) -> None:
    r = await rt_client.post(
        "/items", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["code"] == "malformed_json"


async def test_body_over_64k_is_413(rt_client: httpx.AsyncClient) -> None:
    big = json.dumps({"name": "x" * 70_000, "count": 1})
    r = await rt_client.post("/items", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
    assert "x-correlation-id" in r.headers


async def test_chunked_body_over_64k_is_413(rt_client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 8192
        yield b'", "count": 1}'

    r = await rt_client.post(
        "/items", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"


async def test_unhandled_error_is_a_generic_500_with_correlation_id(
    rt_client: httpx.AsyncClient,
) -> None:
    r = await rt_client.get("/boom", headers={"X-Correlation-ID": "c500"})
    assert r.status_code == 500
    assert r.json()["code"] == "internal"
    assert "secret" not in r.text
    assert r.headers["x-correlation-id"] == "c500"


async def test_problem_and_http_exceptions(rt_client: httpx.AsyncClient) -> None:
    r = await rt_client.get("/problem")
    assert (r.status_code, r.json()["code"], r.headers["x-a"]) == (409, "username_taken", "1")
    r = await rt_client.get("/http-exc")
    assert (r.status_code, r.json()["code"], r.json()["detail"]) == (403, "forbidden", "no")
    r = await rt_client.get("/nowhere")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert r.headers["content-type"] == "application/problem+json"
    r = await rt_client.delete("/healthz")
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")


async def test_readiness_reflects_every_check() -> None:
    app = make_app()
    state = {"db": True}

    async def db() -> bool:
        return state["db"]

    async def broken() -> bool:
        raise ConnectionError("down")

    app.state.readiness.add("db", db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/readyz")
        assert r.status_code == 200
        assert r.json() == {"status": "ready", "checks": {"db": True}}
        state["db"] = False
        app.state.readiness.add("broker", broken)
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"] == {"db": False, "broker": False}


async def test_readiness_details_say_what_a_part_holds() -> None:
    app = make_app()

    async def ok() -> bool:
        return True

    def broken() -> object:
        raise KeyError("nothing yet")

    app.state.readiness.add("leases", ok)
    app.state.readiness.describe("leases", lambda: {"shards": [0, 3]})
    app.state.readiness.describe("other", broken)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        body = (await client.get("/readyz")).json()
    assert body["checks"] == {"leases": True}
    assert body["details"]["leases"] == {"shards": [0, 3]}
    assert "error" in body["details"]["other"]  # a failing detail does not fail /readyz


async def test_metrics_count_requests_by_route(rt_client: httpx.AsyncClient) -> None:
    await rt_client.post("/items", json={"name": "abcd", "count": 1})
    r = await rt_client.get("/metrics")
    assert r.status_code == 200
    assert 'http_requests_total{method="POST",route="/items",status="200"}' in r.text
    assert "http_request_duration_seconds_bucket" in r.text


async def test_client_address_trusts_x_real_ip_only_from_proxies() -> None:
    app = make_app()
    for peer, header, expected in [
        ("127.0.0.1", "203.0.113.9", "203.0.113.9"),
        ("10.1.2.3", "203.0.113.9", "203.0.113.9"),
        ("198.51.100.7", "203.0.113.9", "198.51.100.7"),
        ("127.0.0.1", "not-an-ip", "127.0.0.1"),
    ]:
        transport = httpx.ASGITransport(app=app, client=(peer, 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.get("/ip", headers={"X-Real-IP": header})
        assert r.json() == {"ip": expected}, peer


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "\\ud800", "count": 1}',  # lone surrogate: Python accepts it, storage fails
        b'{"name": "abc", "count": NaN}',
        b"\xff\xfe",
        b'{"name": "abc", "count": 1',
    ],
)
async def test_json_that_only_python_accepts_is_a_400(
    rt_client: httpx.AsyncClient, raw: bytes
) -> None:
    r = await rt_client.post("/items", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["code"] == "malformed_json"


async def test_empty_json_body_is_a_422(rt_client: httpx.AsyncClient) -> None:
    r = await rt_client.post("/items", content=b"", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "body", "code": "missing", "message": "Send a JSON body."}
    ]


async def test_value_the_database_refuses_is_a_422_not_a_500(rt_client: httpx.AsyncClient) -> None:
    # (A NUL itself never gets this far: test_nul.py.)
    r = await rt_client.post("/store", json={"name": "abc", "count": 1})
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_value"


async def test_database_outage_is_a_503_with_retry_after_not_a_500(
    rt_client: httpx.AsyncClient,
) -> None:
    response = await rt_client.get("/db-down")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert body["code"] == "unavailable"
    assert "connection was closed" not in response.text
