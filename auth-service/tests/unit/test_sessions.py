"""Refresh rotation policy: rotate, grace replay, reuse detection; the successor box."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from auth_service.domain.sessions import (
    RefreshAction,
    RefreshTokenState,
    decide_refresh,
    hash_refresh_token,
    new_refresh_token,
    open_successor,
    seal_successor,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
GRACE = timedelta(seconds=30)


def state(**kw: object) -> RefreshTokenState:
    base: dict[str, object] = {
        "rotated_at": None,
        "successor_rotated": False,
        "session_revoked": False,
        "session_expires_at": NOW + timedelta(days=30),
    }
    base.update(kw)
    return RefreshTokenState(**base)  # type: ignore[arg-type]


def test_current_token_rotates() -> None:
    assert decide_refresh(state(), NOW, GRACE) is RefreshAction.ROTATE


def test_just_rotated_token_within_grace_replays_successor() -> None:
    s = state(rotated_at=NOW - timedelta(seconds=29))
    assert decide_refresh(s, NOW, GRACE) is RefreshAction.REPLAY_SUCCESSOR


def test_just_rotated_token_after_grace_revokes() -> None:
    s = state(rotated_at=NOW - timedelta(seconds=31))
    assert decide_refresh(s, NOW, GRACE) is RefreshAction.REVOKE_SESSION


def test_older_rotated_token_revokes_even_within_grace() -> None:
    s = state(rotated_at=NOW - timedelta(seconds=1), successor_rotated=True)
    assert decide_refresh(s, NOW, GRACE) is RefreshAction.REVOKE_SESSION


@pytest.mark.parametrize(
    "s",
    [None, state(session_revoked=True), state(session_expires_at=NOW)],
)
def test_unknown_revoked_or_expired_is_refused(s: RefreshTokenState | None) -> None:
    assert decide_refresh(s, NOW, GRACE) is RefreshAction.REFUSE


def test_tokens_are_256_bit_random_and_hashed() -> None:
    a, b = new_refresh_token(), new_refresh_token()
    assert a != b
    assert len(a) >= 43  # 32 bytes base64url
    assert hash_refresh_token(a) != hash_refresh_token(b)
    assert len(hash_refresh_token(a)) == 32


def test_successor_box_opens_only_with_the_old_token() -> None:
    box = seal_successor("old-token", "new-token")
    assert open_successor("old-token", box) == "new-token"
    assert open_successor("other-token", box) is None
    assert open_successor("old-token", b"short") is None
