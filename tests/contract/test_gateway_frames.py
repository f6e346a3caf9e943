"""(d) for WebSocket frames: the gateway's own parser and encoders against the frame schemas.

Client frames: the committed examples are what clients send; the gateway (the consumer) must accept
every valid one as a frame of that type and refuse every invalid one. Server frames: what the
gateway's encoders produce must satisfy the schemas the clients rely on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import chat_contracts
import pytest
from chat_contracts.examples import Example, examples

pytestmark = pytest.mark.contract

frames: Any = pytest.importorskip(
    "gateway_service.domain.frames", reason="gateway_service.domain.frames not written yet"
)

CLIENT = [e for e in examples() if e.type_name.startswith("ws.client.")]
ALICE = "6f1c2a3e-8b4d-4f5a-9c1e-2d3b4a5c6e7f"
SESSION = "c2d4e6f8-0a1b-4c3d-9e5f-7a9b1c3d5e7f"
CONN = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"


def _need(*names: str) -> None:
    missing = [n for n in names if not hasattr(frames, n)]
    if missing:
        pytest.skip(f"gateway_service.domain.frames has no {', '.join(missing)} (API changed?)")


def _short_type(type_name: str) -> str:
    return type_name.split(".", 2)[2].removesuffix(".v1")


@pytest.mark.parametrize("example", CLIENT, ids=[e.path for e in CLIENT])
def test_gateway_parser_agrees_with_client_examples(example: Example) -> None:
    _need("parse_frame", "FrameError")
    parsed = frames.parse_frame(json.dumps(example.body))
    is_error = isinstance(parsed, frames.FrameError)
    if example.valid:
        assert not is_error, f"gateway refused a valid {example.type_name}: {parsed}"
        assert parsed.type == _short_type(example.type_name)
    else:
        # Refused, or (a frame whose `type` names another frame) read as that other frame.
        wrong_type = not is_error and parsed.type != _short_type(example.type_name)
        assert is_error or wrong_type, f"gateway accepted an invalid {example.type_name}"


def test_text_rules_map_to_their_error_codes() -> None:
    _need("parse_frame", "FrameError")
    base = examples("ws.client.message.send.v1", valid=True)[0].body
    assert isinstance(base, dict)
    too_long = frames.parse_frame(json.dumps({**base, "text": "x" * 4001}))
    blank = frames.parse_frame(json.dumps({**base, "text": " \t "}))
    assert too_long.code == "message_too_long"
    assert blank.code == "bad_request"
    # Both are contract violations of the frame as well.
    assert not chat_contracts.is_valid("ws.client.message.send.v1", {**base, "text": "x" * 4001})
    assert not chat_contracts.is_valid("ws.client.message.send.v1", {**base, "text": " \t "})


def test_gateway_server_frames_satisfy_their_schemas() -> None:
    _need("ready_frame", "error_frame", "FrameError", "PONG", "RESYNC")
    now = datetime(2026, 11, 26, 15, 4, 5, 123456, tzinfo=UTC)
    ready = frames.ready_frame(
        user_id=ALICE, session_id=SESSION, connection_id=CONN, heartbeat_s=25, now=now
    )
    chat_contracts.validate("ws.server.ready.v1", json.loads(ready))
    for error in (
        frames.FrameError("bad_request", "The frame is not valid JSON.", None),
        frames.FrameError("message_too_long", "Too long.", "e4c7b2a1-9d3f-4e8b-a6c5-1f2e3d4c5b6a"),
        frames.FrameError("unauthorized", "Sign in again.", "auth"),
    ):
        chat_contracts.validate("ws.server.error.v1", json.loads(frames.error_frame(error)))
    chat_contracts.validate("ws.server.pong.v1", json.loads(frames.PONG))
    chat_contracts.validate("ws.server.resync.v1", json.loads(frames.RESYNC))
