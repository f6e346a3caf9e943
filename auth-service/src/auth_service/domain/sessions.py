"""Refresh-token rotation policy (api-v1 §3), pure.

Every refresh rotates the token. The token that was just rotated, presented again within the
grace period, gets the same successor (two tabs refreshing at once both stay signed in); any
other rotated token presented again means it was copied, so the whole session ends.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

REFRESH_TOKEN_BYTES = 32  # 256 bits


class RevokeReason(StrEnum):
    LOGOUT = "logout"
    LOGOUT_ALL = "logout_all"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a reason
    REFRESH_REUSE = "refresh_reuse"


class RefreshAction(StrEnum):
    ROTATE = "rotate"
    REPLAY_SUCCESSOR = "replay_successor"
    REVOKE_SESSION = "revoke_session"
    REFUSE = "refuse"


@dataclass(frozen=True)
class RefreshTokenState:
    rotated_at: datetime | None
    successor_rotated: bool  # the successor was itself rotated: this token is two steps old
    session_revoked: bool
    session_expires_at: datetime


def new_refresh_token() -> str:
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def hash_refresh_token(token: str) -> bytes:
    # 256 random bits need no slow hash: a fast digest is enough to keep a database leak useless.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def decide_refresh(
    state: RefreshTokenState | None, now: datetime, grace: timedelta
) -> RefreshAction:
    if state is None or state.session_revoked or state.session_expires_at <= now:
        return RefreshAction.REFUSE
    if state.rotated_at is None:
        return RefreshAction.ROTATE
    if not state.successor_rotated and now - state.rotated_at <= grace:
        return RefreshAction.REPLAY_SUCCESSOR
    return RefreshAction.REVOKE_SESSION
