"""The events auth-service writes to its outbox, against their contracts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from auth_service.domain.sessions import RevokeReason
from auth_service.events import session_revoked
from auth_service.store import RevokedSession, UserRecord
from auth_service.wire import rfc3339, user_of
from chat_contracts import decode, encode, names, types, validate

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 26, 15, 4, 5, 123456, tzinfo=UTC)


@pytest.mark.parametrize("reason", list(RevokeReason))
def test_every_revoke_reason_is_one_the_contract_knows(reason: RevokeReason) -> None:
    event = session_revoked(RevokedSession(uuid.uuid4(), uuid.uuid4(), AT), reason)
    data = encode(event)
    validate(names.AUTH_SESSION_REVOKED_V1, json.loads(data))
    assert decode(names.AUTH_SESSION_REVOKED_V1, data) == event
    assert event.reason == reason.value


def test_user_registered_carries_the_api_user_object() -> None:
    user = UserRecord(uuid.uuid4(), "alice", "Alice", "$argon2id$...", AT)
    event = types.AuthUserRegisteredV1(user=user_of(user))
    data = encode(event)
    validate(names.AUTH_USER_REGISTERED_V1, json.loads(data))
    assert b"argon2" not in data
    assert event.user.created_at == "2026-11-26T15:04:05.123Z"


def test_times_are_utc_with_milliseconds() -> None:
    paris = timezone(timedelta(hours=1))
    assert rfc3339(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=paris)) == (
        "2026-01-02T02:04:05.678Z"
    )
