"""Who is on a socket: the token of the first frame (sign-in), and `auth.refresh` later.

A refused token closes 4401 (`unauthorized`) and leaves a `socket_refused` security line (the
reason, the user when known, never the token); a token that cannot be checked now (signing keys
or revocations not at hand: `InvalidToken` with a reason in `UNAVAILABLE_REASONS`) or a socket
that cannot be served now (memberships or bindings failing) closes 1011 (`unavailable`), so the
client retries instead of signing out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from chat_contracts import types
from chat_runtime.logging import get_logger, security_event
from chat_runtime.tokens import UNAVAILABLE_REASONS, InvalidToken

from gateway_service.domain import frames as f
from gateway_service.domain.close_codes import CLOSE_INTERNAL, CLOSE_POLICY, CLOSE_UNAUTHORIZED
from gateway_service.hub import Gateway, claims_expiry
from gateway_service.metrics import CLOSED
from gateway_service.ports import SessionPort, Unavailable

log = get_logger(__name__)

FIRST_FRAME = 'The first frame must be {"type": "auth", "token": ...}.'


async def sign_in(
    gw: Gateway,
    session: SessionPort,
    receive: Callable[[], Awaitable[str | bytes | None]],
) -> bool:
    """Read the first frame and authenticate the socket with its token: verified, registered,
    bound to the user's rooms, then `ready` sent. False (the client told why, the socket
    closing) when any of that fails, or the socket is closing already. While the gateway drains
    a socket is sent away (`reconnect`, 1012) instead."""
    if gw.drainer.late(session):
        return False
    try:
        raw = await asyncio.wait_for(receive(), gw.settings.auth_timeout_s)
    except TimeoutError:
        refuse(session, "No auth frame arrived in time.", "no_auth_frame")
        return False
    if raw is None:
        return False
    frame = f.parse_frame(raw)
    if not isinstance(frame, types.WsClientAuthV1):
        refuse(session, FIRST_FRAME, "not_an_auth_frame")
        return False
    try:
        claims = await gw.verifier.verify(frame.token)
    except InvalidToken as exc:
        if exc.reason in UNAVAILABLE_REASONS:
            # Signing keys or revocations not at hand: the token may be fine, so let it retry.
            log.warning("sign_in_unavailable", reason=exc.reason)
            _unavailable(session, "Sign-in cannot be checked now; retry soon.")
        else:
            refuse(session, "The access token is not valid.", "invalid_token", check=exc.reason)
        return False
    session.user_id = str(claims.user_id)
    session.session_id = str(claims.session_id)
    if gw.clock() >= claims_expiry(claims):
        refuse(session, "The access token is not valid.", "token_expired")
        return False
    # Checked and registered (in `attach`) with no await between: the cap holds under races.
    if gw.at_socket_cap(session.user_id):
        _too_many(gw, session)
        return False
    try:
        await gw.attach(session, claims)
    except Unavailable:
        _unavailable(session, "The chat is unavailable; retry soon.")
        return False
    if session.output.closing:  # revoked or expired while we were binding
        return False
    session.output.send(
        f.ready_frame(
            user_id=session.user_id,
            session_id=session.session_id,
            connection_id=session.connection_id,
            heartbeat_s=gw.settings.ws_heartbeat_s,
            now=gw.now(),
            features=gw.settings.feature_switches.listed(),
        )
    )
    gw.mark_ready(session)
    # Signed in while the drain began: not in its plan, so sent away now (it was ready: a
    # client that got `ready` is one that works; it reconnects elsewhere).
    gw.drainer.late(session)
    return True


async def refresh(gw: Gateway, session: SessionPort, frame: types.WsClientAuthRefreshV1) -> None:
    """A new token for the same user: the socket lives until the new expiry."""
    try:
        claims = await gw.verifier.verify(frame.token)
    except InvalidToken as exc:
        if exc.reason in UNAVAILABLE_REASONS:
            # The current token still holds; the client may try again.
            session.output.send_error(
                "unavailable", "The token cannot be checked now.", "auth.refresh"
            )
        else:
            refuse(
                session,
                "The new access token is not valid.",
                "invalid_token",
                stage="refresh",
                check=exc.reason,
            )
        return
    if str(claims.user_id) != session.user_id:
        refuse(
            session,
            "The new access token belongs to another user.",
            "another_users_token",
            stage="refresh",
            other_user_id=str(claims.user_id),
        )
        return
    gw.refresh(session, claims)


def refuse(
    session: SessionPort, message: str, reason: str, *, stage: str = "sign_in", **fields: str
) -> None:
    """Close 4401 with `unauthorized`, after a `socket_refused` security line (issue #20)."""
    CLOSED.labels("unauthorized").inc()
    if session.user_id:
        fields["user_id"] = session.user_id
    security_event(
        "socket_refused",
        reason=reason,
        stage=stage,
        address=session.address,
        connection_id=session.connection_id,
        **fields,
    )
    session.output.send_error("unauthorized", message, "auth")
    session.output.close(CLOSE_UNAUTHORIZED, "unauthorized")


def _too_many(gw: Gateway, session: SessionPort) -> None:
    """api-v1.1 F: one socket over the per-user cap gets `too_many_connections` and 1008."""
    CLOSED.labels("too_many_connections").inc()
    security_event(
        "too_many_connections",
        user_id=session.user_id,
        address=session.address,
        cap=gw.settings.max_sockets_per_user,
        gateway_id=gw.gateway_id,
    )
    session.output.send_error(
        "too_many_connections",
        "You have too many chat windows open. Close some of them and reload this one.",
        "auth",
    )
    session.output.close(CLOSE_POLICY, "too many connections")


def _unavailable(session: SessionPort, message: str) -> None:
    session.output.send_error("unavailable", message, "auth")
    session.output.close(CLOSE_INTERNAL, "unavailable")
