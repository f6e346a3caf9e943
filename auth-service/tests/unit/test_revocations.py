"""The reply of the revocations responder (the database query runs in the integration tests)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from auth_service.revocations import reply_of
from auth_service.store import RevokedSession
from chat_contracts import contract_of, decode, encode, names, validate
from chat_contracts.types import AuthRevocationsReplyV1
from chat_contracts.types import RevokedSession as WireRevokedSession

pytestmark = pytest.mark.unit


def test_reply_lists_recent_revocations_in_contract_shape() -> None:
    sid, uid = uuid.uuid4(), uuid.uuid4()
    at = datetime(2026, 11, 26, 15, 4, 5, 123000, tzinfo=UTC)
    reply = reply_of([RevokedSession(sid, uid, at)])
    assert contract_of(reply) == names.AUTH_REVOCATIONS_REPLY_V1
    assert reply == AuthRevocationsReplyV1(
        sessions=[
            WireRevokedSession(
                session_id=str(sid), user_id=str(uid), revoked_at="2026-11-26T15:04:05.123Z"
            )
        ]
    )
    validate(names.AUTH_REVOCATIONS_REPLY_V1, json.loads(encode(reply)))
    assert decode(names.AUTH_REVOCATIONS_REPLY_V1, encode(reply)) == reply


def test_empty_reply() -> None:
    assert encode(reply_of([])) == b'{"sessions":[]}'
