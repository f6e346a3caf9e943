"""Client frames (api-v1 §6) parsed into the generated contract structs, and server frames encoded
from theirs.

Parsing never raises: it returns either a contract struct or a `FrameError` that maps one-to-one
onto the `error` frame the client receives, so the connection can stay open after a bad frame.
The contract (`chat_contracts.decode`) does the validation; this module only chooses the struct
from the frame's `type`, adds the gateway's own limits and turns a refusal into its error code.
"""

from __future__ import annotations

import typing
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import msgspec
from chat_contracts import (
    ContractError,
    Problem,
    contract_of,
    decode,
    encode,
    types,
    unknown_fields,
)
from websockets.frames import Frame, Opcode

ErrorCode = types.KnownErrorCode  # what the gateway itself says; readers accept any code
ClientFrame = (
    types.WsClientAuthV1
    | types.WsClientAuthRefreshV1
    | types.WsClientMessageSendV1
    | types.WsClientTypingV1
    | types.WsClientReadV1
    | types.WsClientPresenceSetV1
    | types.WsClientPresenceSubscribeV1
    | types.WsClientPingV1
)
CLIENT_FRAMES: tuple[type[ClientFrame], ...] = typing.get_args(ClientFrame)


@dataclass(frozen=True, slots=True)
class SendFrame:
    """A `message.send` frame and the fields it carries that this release's contract does not
    name: the gateway forwards every field it receives (api-v1.1 preamble item 1), so a newer
    client's addition reaches the message-service that judges it instead of being dropped."""

    frame: types.WsClientMessageSendV1
    unknown: dict[str, msgspec.Raw]

    @property
    def type(self) -> str:
        return self.frame.type


ParsedFrame = ClientFrame | SendFrame


def frame_type(struct: type[msgspec.Struct]) -> str:
    """The `type` field a frame struct carries (its `Literal`)."""
    (value,) = typing.get_args(typing.get_type_hints(struct)["type"])
    return str(value)


_BY_TYPE: dict[str, type[ClientFrame]] = {frame_type(s): s for s in CLIENT_FRAMES}
_CONTRACTS: dict[str, str] = {t: contract_of(s) for t, s in _BY_TYPE.items()}
MESSAGE_SEND = frame_type(types.WsClientMessageSendV1)
_TEXT = msgspec.inspect.type_info(types.MessageText)
assert isinstance(_TEXT, msgspec.inspect.StrType)
MAX_TEXT_CODE_POINTS = _TEXT.max_length
# The gateway's own limits on top of the contract: a token longer than any we issue, and a
# read position beyond what message-service stores (PostgreSQL bigint).
MAX_TOKEN_CHARS = 8192
MAX_SEQ = 2**63 - 1


@dataclass(frozen=True, slots=True)
class FrameError:
    """A refusal of one client frame; `ref` is the client_msg_id or frame type it answers."""

    code: ErrorCode
    message: str
    ref: str | None


class _Head(msgspec.Struct):
    """Just the `type` of a frame: chooses the contract struct for the real decode."""

    type: str


_HEAD = msgspec.json.Decoder(_Head)

# The frontend's heartbeat exactly as it sends it (the protocol's own fast path matches it too).
PING_TEXT = '{"type":"ping"}'
PING_BYTES = PING_TEXT.encode()
_PING = types.WsClientPingV1(type="ping")  # frozen, so one instance serves every socket


def parse_frame(raw: str | bytes) -> ParsedFrame | FrameError:
    """Decode and validate one client frame."""
    if raw in (PING_TEXT, PING_BYTES):
        # The frontend's heartbeat, every heartbeat_s on every idle socket: skip the decoder.
        return _PING
    head = _frame_head(raw)
    if isinstance(head, FrameError):
        return head
    contract = _CONTRACTS.get(head)
    if contract is None:
        return FrameError("bad_request", f"The frame type '{head[:64]}' is not known.", head[:64])
    try:
        frame = cast(ClientFrame, decode(contract, raw))
    except ContractError as exc:
        return _refusal(head, raw, exc.problems)
    if isinstance(frame, types.WsClientMessageSendV1):
        return SendFrame(frame, unknown_fields(types.WsClientMessageSendV1, raw))
    return _gateway_limits(frame)


def ref_of(frame: ParsedFrame) -> str:
    """The `ref` of an answer to a parsed frame: its client_msg_id, else its type."""
    if isinstance(frame, SendFrame):
        return frame.frame.client_msg_id.lower()
    return frame.type


def _frame_head(raw: str | bytes) -> str | FrameError:
    try:
        return _HEAD.decode(raw).type
    except msgspec.ValidationError:
        pass  # JSON, but not an object with a string `type`: say which
    except msgspec.DecodeError:
        return FrameError("bad_request", "The frame is not valid JSON.", None)
    if not isinstance(msgspec.json.decode(raw), dict):
        return FrameError("bad_request", "A frame must be a JSON object with a 'type'.", None)
    return FrameError("bad_request", "A frame must have a string field 'type'.", None)


def _refusal(kind: str, raw: str | bytes, problems: tuple[Problem, ...]) -> FrameError:
    """The error code and words for a frame its contract refused."""
    if kind != MESSAGE_SEND:
        return FrameError("bad_request", _describe(problems), kind)
    obj: dict[str, Any] = msgspec.json.decode(raw)
    ref = _message_ref(obj)
    text = obj.get("text")
    # The text rules get their own answers, but only when the text is the frame's one fault.
    if isinstance(text, str) and all(p.path == "$.text" for p in problems):
        if any(p.keyword == "maxLength" for p in problems):
            return FrameError(
                "message_too_long",
                f"A message can have at most {MAX_TEXT_CODE_POINTS} characters "
                f"(this one has {len(text)}).",
                ref,
            )
        return FrameError(
            "bad_request", "A message needs at least one character that is not a space.", ref
        )
    return FrameError("bad_request", _describe(problems), ref)


def _gateway_limits(frame: ClientFrame) -> ClientFrame | FrameError:
    if isinstance(frame, types.WsClientReadV1) and frame.seq > MAX_SEQ:
        return FrameError("bad_request", f"This frame is not valid: seq: above {MAX_SEQ}.", "read")
    if (
        isinstance(frame, types.WsClientAuthV1 | types.WsClientAuthRefreshV1)
        and len(frame.token) > MAX_TOKEN_CHARS
    ):
        return FrameError(
            "bad_request",
            f"This frame is not valid: token: longer than {MAX_TOKEN_CHARS} characters.",
            frame.type,
        )
    return frame


def _describe(problems: tuple[Problem, ...]) -> str:
    parts = [f"{p.path.removeprefix('$.')}: {p.message}" for p in problems]
    return "This frame is not valid: " + "; ".join(parts) + "."


def _message_ref(obj: dict[str, Any]) -> str:
    """The client_msg_id when it is a usable UUID (so the client can match it), else the type."""
    raw = obj.get("client_msg_id")
    if isinstance(raw, str):
        try:
            return str(uuid.UUID(raw))
        except ValueError:
            pass
    return MESSAGE_SEND


# --- server frames ----------------------------------------------------------------------------


def rfc3339(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds and `Z`, as api-v1 §2 specifies."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_frame(frame: msgspec.Struct) -> str:
    """Encode a server frame once; the same str is written to every recipient."""
    return encode(frame).decode()


def encode_text_frame(data: bytes) -> bytes:
    """A server-to-client WebSocket text frame of UTF-8 `data` (final, unmasked, no extension:
    the gateway negotiates none)."""
    return Frame(Opcode.TEXT, data).serialize(mask=False, extensions=[])


def error_frame(error: FrameError) -> str:
    return encode_frame(
        types.WsServerErrorV1(type="error", code=error.code, message=error.message, ref=error.ref)
    )


def ready_frame(
    *,
    user_id: str,
    session_id: str,
    connection_id: str,
    heartbeat_s: int,
    now: datetime,
    features: list[str],
) -> str:
    return encode_frame(
        types.WsServerReadyV1(
            type="ready",
            user_id=user_id,
            session_id=session_id,
            connection_id=connection_id,
            heartbeat_s=heartbeat_s,
            server_time=rfc3339(now),
            features=features,
        )
    )


PONG = encode_frame(types.WsServerPongV1(type="pong"))
RESYNC = encode_frame(types.WsServerResyncV1(type="resync"))


def reconnect_frame(after_ms: int) -> str:
    """`reconnect` (api-v1.1 F): this gateway is draining; come back after `after_ms`."""
    return encode_frame(types.WsServerReconnectV1(type="reconnect", after_ms=after_ms))
