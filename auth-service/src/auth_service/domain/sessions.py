"""Refresh-token rotation policy (api-v1 §3), pure.

Every refresh rotates the token. The token that was just rotated, presented again within the
grace period, gets the same successor (two tabs refreshing at once both stay signed in); any
other rotated token presented again means it was copied, so the whole session ends.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

REFRESH_TOKEN_BYTES = 32  # 256 bits


class RevokeReason(StrEnum):
    LOGOUT = "logout"
    LOGOUT_ALL = "logout_all"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a reason
    REFRESH_REUSE = "refresh_reuse"
    # api-v1.1 C
    DEACTIVATED = "deactivated"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a reason
    SESSION_ENDED = "session_ended"
    ACCOUNT_DELETED = "account_deleted"


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
    # When the session was last signed in or refreshed (None: before it was recorded).
    last_used_at: datetime | None = None


def new_refresh_token() -> str:
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def hash_refresh_token(token: str) -> bytes:
    # 256 random bits need no slow hash: a fast digest is enough to keep a database leak useless.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def decide_refresh(
    state: RefreshTokenState | None,
    now: datetime,
    grace: timedelta,
    idle: timedelta | None = None,
) -> RefreshAction:
    """`idle`: a session unused that long is refused (api-v1.1 C, CHAT_AUTH_REFRESH_IDLE_S)."""
    if state is None or state.session_revoked or state.session_expires_at <= now:
        return RefreshAction.REFUSE
    if idle is not None and state.last_used_at is not None and now - state.last_used_at > idle:
        return RefreshAction.REFUSE
    if state.rotated_at is None:
        return RefreshAction.ROTATE
    if not state.successor_rotated and now - state.rotated_at <= grace:
        return RefreshAction.REPLAY_SUCCESSOR
    return RefreshAction.REVOKE_SESSION


# -- successor box: the refresh token's successor, readable only with the token itself ---------
def _box_key(token: str) -> bytes:
    return hashlib.sha256(b"chat-refresh-successor\x00" + token.encode()).digest()


def seal_successor(token: str, successor: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(_box_key(token)).encrypt(nonce, successor.encode(), None)


def open_successor(token: str, box: bytes) -> str | None:
    try:
        return AESGCM(_box_key(token)).decrypt(box[:12], box[12:], None).decode()
    except (InvalidTag, ValueError):
        return None
