"""(d) for WebSocket frames: the gateway's parser, handlers and encoders against the schemas.

Client frames: the committed examples are what clients send; the gateway (the consumer) must accept
every valid one as the struct of that frame and refuse every invalid one; what it publishes for a
valid one (a command, typing, a presence signal) must be a valid bus body. Server frames: what
the gateway's encoders produce, its own answers and the frames it makes of every committed bus
example it consumes (events.py), must satisfy the schemas the clients rely on.
"""

from __future__ import annotations

import asyncio
import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import chat_contracts
import msgspec
import pytest
from chat_contracts import names, types
from chat_contracts.examples import Example, examples
from chat_runtime.messaging import Envelope
from gateway_service import events
from gateway_service.domain import frames
from gateway_service.frame_handlers import FRAME_HANDLERS
from gateway_service.hub import Gateway
from gateway_service.ports import Claims, Output
from gateway_service.settings import GatewaySettings
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.contract

CLIENT = [e for e in examples() if e.type_name.startswith("ws.client.")]
# Client frames whose handler publishes on the bus (the others answer the socket only).
PUBLISHING = {"message.send", "typing", "read", "presence.set"}
CONSUMED = [e for t in sorted(events.EVENT_HANDLERS) for e in examples(t, valid=True)]
ALICE = "6f1c2a3e-8b4d-4f5a-9c1e-2d3b4a5c6e7f"
BOB = "0b3e5d7f-9a1c-4e2b-8d4f-6a8c0e2b4d6f"
CAROL = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
SESSION = "c2d4e6f8-0a1b-4c3d-9e5f-7a9b1c3d5e7f"
CONN = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
OTHER_CONN = "7c6b5a4f-3e2d-4c1b-9a0f-8e7d6c5b4a3f"
UUIDS = st.uuids().map(str)
MOMENTS = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


def _short_type(type_name: str) -> str:
    return type_name.split(".", 2)[2].removesuffix(".v1")


def _check_frame(text: str) -> str:
    """A server frame as a client takes it: its schema accepts it. Returns its `type`."""
    frame = json.loads(text)
    contract = f"ws.server.{frame['type']}.v1"
    chat_contracts.validate(contract, frame)
    chat_contracts.decode(contract, text)
    type_: str = frame["type"]
    return type_


def _check_body(body: msgspec.Struct) -> str:
    """A bus body as its consumer takes it: the schema accepts it and decode gives it back."""
    type_name = chat_contracts.contract_of(body)
    chat_contracts.validate(type_name, msgspec.to_builtins(body))
    assert chat_contracts.decode(type_name, chat_contracts.encode(body)) == body
    return type_name


# -- client frames: the parser ------------------------------------------------------------------


@pytest.mark.parametrize("example", CLIENT, ids=[e.path for e in CLIENT])
def test_gateway_parser_agrees_with_client_examples(example: Example) -> None:
    parsed = frames.parse_frame(json.dumps(example.body))
    if example.valid:
        assert not isinstance(parsed, frames.FrameError), f"refused a valid one: {parsed}"
        # message.send comes with the fields to forward beside it (frames.SendFrame).
        struct = parsed.frame if isinstance(parsed, frames.SendFrame) else parsed
        assert isinstance(struct, chat_contracts.struct_type(example.type_name))
        assert parsed.type == _short_type(example.type_name)
    else:
        # Refused, or (a frame whose `type` names another frame) read as that other frame.
        wrong_type = not isinstance(parsed, frames.FrameError) and parsed.type != _short_type(
            example.type_name
        )
        assert isinstance(parsed, frames.FrameError) or wrong_type, "accepted an invalid one"


def test_every_client_frame_has_a_handler() -> None:
    send = types.WsClientMessageSendV1
    parsed = {frames.SendFrame if s is send else s for s in frames.CLIENT_FRAMES}
    assert set(FRAME_HANDLERS) == parsed
    contracts = {chat_contracts.contract_of(s) for s in frames.CLIENT_FRAMES}
    assert contracts == {t for t in chat_contracts.known_types() if t.startswith("ws.client.")}


def test_text_rules_map_to_their_error_codes() -> None:
    base = examples("ws.client.message.send.v1", valid=True)[0].body
    assert isinstance(base, dict)
    too_long = frames.parse_frame(json.dumps({**base, "text": "x" * 4001}))
    blank = frames.parse_frame(json.dumps({**base, "text": " \t "}))
    assert isinstance(too_long, frames.FrameError)
    assert isinstance(blank, frames.FrameError)
    assert too_long.code == "message_too_long"
    assert blank.code == "bad_request"
    # Both are contract violations of the frame as well.
    assert not chat_contracts.is_valid("ws.client.message.send.v1", {**base, "text": "x" * 4001})
    assert not chat_contracts.is_valid("ws.client.message.send.v1", {**base, "text": " \t "})


# -- server frames: the encoders ----------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    user_id=UUIDS,
    session_id=UUIDS,
    connection_id=UUIDS,
    heartbeat_s=st.integers(1, 3600),
    now=MOMENTS,
    features=st.sets(st.sampled_from(typing.get_args(types.KnownFeatureName))),
)
def test_ready_frames_satisfy_their_schema(
    user_id: str,
    session_id: str,
    connection_id: str,
    heartbeat_s: int,
    now: datetime,
    features: set[str],
) -> None:
    ready = frames.ready_frame(
        user_id=user_id,
        session_id=session_id,
        connection_id=connection_id,
        heartbeat_s=heartbeat_s,
        now=now,
        features=sorted(features),
    )
    assert _check_frame(ready) == "ready"


@settings(max_examples=40, deadline=None)
@given(
    code=st.sampled_from(typing.get_args(types.KnownErrorCode)),
    message=st.text(max_size=200),
    ref=st.none() | UUIDS | st.sampled_from(sorted(_short_type(e.type_name) for e in CLIENT)),
)
def test_error_frames_satisfy_their_schema(
    code: types.KnownErrorCode, message: str, ref: str | None
) -> None:
    assert _check_frame(frames.error_frame(frames.FrameError(code, message, ref))) == "error"


def test_constant_frames_satisfy_their_schemas() -> None:
    assert _check_frame(frames.PONG) == "pong"
    assert _check_frame(frames.RESYNC) == "resync"
    for after_ms in (0, 1, 12_345, 600_000):
        assert _check_frame(frames.reconnect_frame(after_ms)) == "reconnect"


# -- a gateway with recording fakes around it ---------------------------------------------------


@dataclass
class RecordingBus:
    """The gateway's broker side (ports.GatewayBus): records what is published."""

    published: list[tuple[str, msgspec.Struct]] = field(default_factory=list)

    async def bind(self, key: str) -> None:
        pass

    async def unbind(self, key: str) -> None:
        pass

    async def redeclare(self, keys: object) -> None:
        pass

    async def publish_command(
        self,
        routing_key: str,
        body: msgspec.Struct,
        *,
        extra_fields: Mapping[str, msgspec.Raw] | None = None,
    ) -> None:
        # The contract body; fields the client sent beyond it ride along unchecked (forwarded).
        self.published.append((routing_key, body))

    async def publish_event(
        self, routing_key: str, body: msgspec.Struct, *, transient: bool = False
    ) -> None:
        self.published.append((routing_key, body))

    async def membership(self, user_id: str, timeout_s: float) -> list[str]:
        return []


class NoTokens:
    async def verify(self, token: str) -> Claims:
        raise AssertionError("no token is verified here")


@dataclass
class RecordingOutput:
    """A socket's output (ports.Output): records every frame written to it."""

    written: list[str] = field(default_factory=list)

    def send(self, text: str, size: int | None = None) -> None:
        self.written.append(text)

    def send_encoded(self, text: str, size: int, frame: bytes) -> None:
        self.written.append(text)

    def send_error(self, code: types.KnownErrorCode, message: str, ref: str | None) -> None:
        self.written.append(frames.error_frame(frames.FrameError(code, message, ref)))

    async def reply(self, text: str) -> None:
        self.written.append(text)

    def close(self, code: int, reason: str) -> None:
        pass

    @property
    def closing(self) -> bool:
        return False


@dataclass
class Socket:
    """One signed-in, ready socket (ports.SessionPort)."""

    connection_id: str
    user_id: str
    session_id: str = SESSION
    status: types.ConnectionStatus = "online"
    ready: bool = True
    address: str = ""
    recorded: RecordingOutput = field(default_factory=RecordingOutput)

    @property
    def output(self) -> Output:
        return self.recorded


def _gateway(bus: RecordingBus, *sockets: tuple[Socket, list[str]]) -> Gateway:
    """A gateway whose registry has each socket as connected, ready and in its rooms."""
    gw = Gateway(GatewaySettings(), bus, NoTokens())
    for socket, rooms in sockets:
        gw.sessions[socket.connection_id] = socket
        gw.registry.add_connection(socket.connection_id, socket.user_id, socket.session_id)
        gw.registry.add_rooms(socket.user_id, rooms)
    return gw


# -- client frames: what the gateway publishes for them ----------------------------------------


PUBLISHERS = [e for e in CLIENT if e.valid and _short_type(e.type_name) in PUBLISHING]


@pytest.mark.parametrize("example", PUBLISHERS, ids=[e.path for e in PUBLISHERS])
async def test_what_a_client_frame_publishes_is_a_contract_body(example: Example) -> None:
    frame = frames.parse_frame(json.dumps(example.body))
    assert not isinstance(frame, frames.FrameError)
    struct = frame.frame if isinstance(frame, frames.SendFrame) else frame
    room = str(getattr(struct, "room_id", "")).lower()
    bus, socket = RecordingBus(), Socket(CONN, ALICE)
    gw = _gateway(bus, (socket, [room]))
    await FRAME_HANDLERS[type(frame)](gw, socket, frame)
    sent = example.body
    assert isinstance(sent, dict)
    # Every api-v1.1 addition is implemented now (attachments included): all are forwarded.
    assert not socket.recorded.written, f"refused: {socket.recorded.written}"
    assert bus.published, f"{example.type_name} published nothing"
    shards = range(gw.settings.send_shards)
    for routing_key, body in bus.published:
        type_name = _check_body(body)
        if "thread_root_id" in sent:
            assert getattr(body, "thread_root_id", None) == str(sent["thread_root_id"]).lower()
        if "attachments" in sent:
            assert [str(a).lower() for a in getattr(body, "attachments", [])] == [
                str(a).lower() for a in sent["attachments"]
            ]
        keys = {
            names.MESSAGE_SEND_V1: {names.send_routing_key(s) for s in shards},
            names.ROOM_READ_V1: {names.read_routing_key(s) for s in shards},
            names.TYPING_V1: {names.room_key(room, names.TYPING_V1)},
        }.get(type_name, {type_name})
        assert routing_key in keys


@settings(max_examples=30, deadline=None)
@given(
    gateway_id=UUIDS,
    statuses=st.lists(st.sampled_from(["online", "away"]), min_size=1, max_size=5),
    interval_s=st.integers(1, 3600) | st.floats(0.001, 3600),
    now=MOMENTS,
)
def test_presence_signals_are_contract_bodies(
    gateway_id: str, statuses: list[types.ConnectionStatus], interval_s: float, now: datetime
) -> None:
    async def signal() -> list[tuple[str, msgspec.Struct]]:
        bus = RecordingBus()
        gw = Gateway(
            GatewaySettings(gateway_id=gateway_id, heartbeat_interval_s=interval_s),
            bus,
            NoTokens(),
            clock=now.timestamp,
        )
        for i, status in enumerate(statuses):
            socket = Socket(f"{CONN[:-2]}{i:02d}", ALICE, status=status)
            await gw.presence.opened(socket)
            gw.presence.track(socket)
            socket.status = "away" if status == "online" else "online"
            await gw.presence.status_changed(socket)
        bus.published.append((names.PRESENCE_GATEWAY_HEARTBEAT_V1, gw.presence.heartbeat()))
        await gw.presence.closed(socket)
        return bus.published

    published = asyncio.run(signal())
    assert {_check_body(body) for _, body in published} == {
        names.PRESENCE_CONNECTION_OPENED_V1,
        names.PRESENCE_CONNECTION_UPDATED_V1,
        names.PRESENCE_CONNECTION_CLOSED_V1,
        names.PRESENCE_GATEWAY_HEARTBEAT_V1,
    }
    # Signals are routed by their type name (asyncapi.yaml).
    assert all(key == chat_contracts.contract_of(body) for key, body in published)


# -- bus events: the frames the gateway makes of them -------------------------------------------


@pytest.mark.parametrize("example", CONSUMED, ids=[e.path for e in CONSUMED])
async def test_frames_made_of_consumed_events_satisfy_their_schemas(example: Example) -> None:
    body = chat_contracts.decode(example.type_name, json.dumps(example.body))
    # Who and where, wherever the body keeps them (a message event: in its `message`).
    message = getattr(body, "message", None)
    fields: dict[str, Any] = {
        **(msgspec.to_builtins(message) if isinstance(message, types.Message) else {}),
        **msgspec.to_builtins(body),
    }
    actor: str = fields.get("user_id") or fields["sender_id"]
    room: str = fields.get("room_id", CAROL)
    client_msg_id: str | None = fields.get("client_msg_id")
    other = BOB if actor != BOB else CAROL
    # The actor's socket (it sent the message, is joining, ...) and someone else's in the room,
    # who follows the actor's presence.
    mine, theirs = Socket(CONN, actor), Socket(OTHER_CONN, other)
    gw = _gateway(RecordingBus(), (mine, [room]), (theirs, [room]))
    gw.subscriptions.replace(theirs.connection_id, [actor])
    if client_msg_id is not None:
        gw.pending.add(actor, client_msg_id, mine.connection_id, gw.clock())
    envelope = Envelope(
        type_name=example.type_name,
        body=body,
        message_id=None,
        correlation_id=None,
        headers={},
        routing_key=example.type_name,
        raw=json.dumps(example.body).encode(),
    )
    await events.handlers(gw)[example.type_name](envelope)
    written = mine.recorded.written + theirs.recorded.written
    assert written, f"{example.type_name}: no frame for anyone"
    for text in written:
        _check_frame(text)
