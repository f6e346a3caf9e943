"""Client frame parsing and validation (api-v1 §6) and server frame encoding.

Parsing never raises: it returns either a typed frame or a `FrameError` that maps one-to-one onto
the `error` frame the client receives, so the connection can stay open after a bad frame.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from websockets.frames import Frame, Opcode

MAX_TEXT_CODE_POINTS = 4000
MAX_PRESENCE_SUBSCRIPTIONS = 500


class _Frame(BaseModel):
    # Unknown fields are ignored: clients may be newer than this gateway (additive v1 changes).
    model_config = ConfigDict(extra="ignore", frozen=True)


class AuthFrame(_Frame):
    type: Literal["auth"]
    token: Annotated[str, Field(min_length=1, max_length=8192)]


class AuthRefreshFrame(_Frame):
    type: Literal["auth.refresh"]
    token: Annotated[str, Field(min_length=1, max_length=8192)]


class MessageSendFrame(_Frame):
    type: Literal["message.send"]
    client_msg_id: uuid.UUID
    room_id: uuid.UUID
    # Length and whitespace rules are checked after parsing so they get their own error codes.
    text: Annotated[str, Field(strict=True)]


class TypingFrame(_Frame):
    type: Literal["typing"]
    room_id: uuid.UUID


class ReadFrame(_Frame):
    type: Literal["read"]
    room_id: uuid.UUID
    seq: Annotated[int, Field(strict=True, ge=1, le=2**63 - 1)]  # seqs start at 1


class PresenceSetFrame(_Frame):
    type: Literal["presence.set"]
    status: Literal["online", "away"]


class PresenceSubscribeFrame(_Frame):
    type: Literal["presence.subscribe"]
    user_ids: Annotated[list[uuid.UUID], Field(max_length=MAX_PRESENCE_SUBSCRIPTIONS)]

    @field_validator("user_ids")
    @classmethod
    def _unique(cls, value: list[uuid.UUID]) -> list[uuid.UUID]:
        # The contract says uniqueItems; a repeated id is a client bug worth reporting.
        if len(set(value)) != len(value):
            raise ValueError("user ids must not repeat")
        return value


class PingFrame(_Frame):
    type: Literal["ping"]


ClientFrame = (
    AuthFrame
    | AuthRefreshFrame
    | MessageSendFrame
    | TypingFrame
    | ReadFrame
    | PresenceSetFrame
    | PresenceSubscribeFrame
    | PingFrame
)

_MODELS: dict[str, type[_Frame]] = {
    "auth": AuthFrame,
    "auth.refresh": AuthRefreshFrame,
    "message.send": MessageSendFrame,
    "typing": TypingFrame,
    "read": ReadFrame,
    "presence.set": PresenceSetFrame,
    "presence.subscribe": PresenceSubscribeFrame,
    "ping": PingFrame,
}

ErrorCode = Literal[
    "bad_request",
    "unauthorized",
    "not_a_member",
    "message_too_long",
    "client_msg_id_reused",
    "rate_limited",
    "unavailable",
    "internal",
]


@dataclass(frozen=True, slots=True)
class FrameError:
    """A refusal of one client frame; `ref` is the client_msg_id or frame type it answers."""

    code: ErrorCode
    message: str
    ref: str | None


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"] if p != "type") or "frame"
        if err["type"] == "missing":
            parts.append(f"the field '{field}' is missing")
        elif err["type"].startswith("uuid"):
            parts.append(f"'{field}' must be a UUID string")
        else:
            parts.append(f"'{field}': {err['msg']}")
    return "This frame is not valid: " + "; ".join(parts) + "."


def _message_ref(obj: dict[str, Any]) -> str:
    """The client_msg_id when it is a usable UUID (so the client can match it), else the type."""
    raw = obj.get("client_msg_id")
    if isinstance(raw, str):
        try:
            return str(uuid.UUID(raw))
        except ValueError:
            pass
    return "message.send"


# The frontend's heartbeat exactly as it sends it (the protocol's own fast path matches it too).
PING_TEXT = '{"type":"ping"}'
PING_BYTES = PING_TEXT.encode()
_PING = PingFrame(type="ping")  # frozen, so one instance serves every socket


def parse_frame(raw: str | bytes) -> ClientFrame | FrameError:
    """Decode and validate one client frame."""
    if raw in (PING_TEXT, PING_BYTES):
        # The frontend's heartbeat, every heartbeat_s on every idle socket: skip the decoder.
        return _PING
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return FrameError("bad_request", "The frame is not valid JSON.", None)
    if not isinstance(obj, dict):
        return FrameError("bad_request", "A frame must be a JSON object with a 'type'.", None)
    frame_type = obj.get("type")
    if not isinstance(frame_type, str):
        return FrameError("bad_request", "A frame must have a string field 'type'.", None)
    model = _MODELS.get(frame_type)
    if model is None:
        return FrameError(
            "bad_request", f"The frame type '{frame_type[:64]}' is not known.", frame_type[:64]
        )
    ref = _message_ref(obj) if frame_type == "message.send" else frame_type
    try:
        frame = model.model_validate(obj)
    except ValidationError as exc:
        return FrameError("bad_request", _describe(exc), ref)
    if isinstance(frame, MessageSendFrame):
        if len(frame.text) > MAX_TEXT_CODE_POINTS:
            return FrameError(
                "message_too_long",
                f"A message can have at most {MAX_TEXT_CODE_POINTS} characters "
                f"(this one has {len(frame.text)}).",
                ref,
            )
        if not frame.text or frame.text.isspace():
            return FrameError(
                "bad_request", "A message needs at least one character that is not a space.", ref
            )
    return frame  # type: ignore[return-value]


# --- server frames ----------------------------------------------------------------------------


def rfc3339(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds and `Z`, as api-v1 §2 specifies."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(frame: dict[str, Any]) -> str:
    """Encode a server frame once; the same str is written to every recipient."""
    return orjson.dumps(frame).decode()


def encode_text_frame(data: bytes) -> bytes:
    """A server-to-client WebSocket text frame of UTF-8 `data` (final, unmasked, no extension:
    the gateway negotiates none)."""
    return Frame(Opcode.TEXT, data).serialize(mask=False, extensions=[])


def error_frame(error: FrameError) -> str:
    return encode({"type": "error", "code": error.code, "message": error.message, "ref": error.ref})


def ready_frame(
    *, user_id: str, session_id: str, connection_id: str, heartbeat_s: int, now: datetime
) -> str:
    return encode(
        {
            "type": "ready",
            "user_id": user_id,
            "session_id": session_id,
            "connection_id": connection_id,
            "heartbeat_s": heartbeat_s,
            "server_time": rfc3339(now),
        }
    )


PONG = encode({"type": "pong"})
RESYNC = encode({"type": "resync"})
