"""Per-user upload limit (issue #20): POST /v1/files answers 429 `rate_limited` with Retry-After
past CHAT_RATE_FILE_UPLOAD, before reading the body; other users are unaffected."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from chat_runtime.testing import temporary_database
from chat_runtime.tokens import AccessClaims
from file_service.bootstrap import build
from file_service.settings import FileSettings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


class Verifier:
    """`user:<uuid>` is that user's token."""

    async def verify(self, token: str) -> AccessClaims:
        user_id = str(uuid.UUID(token.removeprefix("user:")))
        return AccessClaims(
            user_id=user_id, session_id=str(uuid.uuid4()), jti="j", issued_at=0, expires_at=2**40
        )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    file_dir: Path = tmp_path_factory.mktemp("lim-files")
    async with temporary_database("lim_files") as db:
        settings = FileSettings(database_url=db, file_dir=file_dir, rate_file_upload="2/min")
        app = build(settings, verifier=Verifier(), connect_bus=False).app
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://files") as c:
                yield c


async def _upload(client: httpx.AsyncClient, user: uuid.UUID) -> httpx.Response:
    return await client.post(
        "/v1/files",
        files={"file": ("notes.txt", b"hello limits", "text/plain")},
        headers={"Authorization": f"Bearer user:{user}"},
    )


async def test_uploads_are_limited_per_user(client: httpx.AsyncClient) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    for _ in range(2):
        r = await _upload(client, alice)
        assert r.status_code == 201, r.text
    refused = await _upload(client, alice)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 30
    body = refused.json()
    assert body["code"] == "rate_limited"
    assert body["detail"] == (
        f"You are uploading files too fast. Please wait {retry_after} seconds and try again."
    )
    assert (await _upload(client, bob)).status_code == 201


async def test_the_limit_is_documented(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "429" in spec["paths"]["/v1/files"]["post"]["responses"]
