"""The revocations responder, with a fake service (no broker, no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import cast

import pytest
from auth_service.bus import REVOCATIONS_REPLY, revocations_responder
from auth_service.service import AuthService
from auth_service.store import RevokedSession
from chat_contracts import validate

pytestmark = pytest.mark.unit


class FakeService:
    def __init__(self, revoked: list[RevokedSession]) -> None:
        self.revoked = revoked
        self.calls = 0

    async def recently_revoked(self) -> list[RevokedSession]:
        self.calls += 1
        return self.revoked


async def test_reply_lists_recent_revocations_in_contract_shape() -> None:
    sid, uid = uuid.uuid4(), uuid.uuid4()
    at = datetime(2026, 11, 26, 15, 4, 5, 123000, tzinfo=UTC)
    fake = FakeService([RevokedSession(sid, uid, at)])
    respond = revocations_responder(cast(AuthService, fake))
    reply_type, body = await respond({})
    assert reply_type == REVOCATIONS_REPLY
    assert body == {
        "sessions": [
            {"session_id": str(sid), "user_id": str(uid), "revoked_at": "2026-11-26T15:04:05.123Z"}
        ]
    }
    validate(reply_type, body)
    assert fake.calls == 1


async def test_empty_reply() -> None:
    respond = revocations_responder(cast(AuthService, FakeService([])))
    assert await respond({}) == (REVOCATIONS_REPLY, {"sessions": []})
