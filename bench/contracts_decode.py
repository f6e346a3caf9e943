"""What validating and encoding one bus body or WebSocket frame costs, per message, three ways.

Decode + validate, bytes in:
  (a) ``orjson.loads`` + the compiled JSON Schema (``chat_contracts.validate``, fastjsonschema):
      the consumer path before msgspec;
  (b) pydantic v2 ``model_validate_json`` of the models that datamodel-code-generator made from
      the schemas (the deleted ``chat_contracts/models.py``; the classes needed are copied below,
      UUIDs as ``uuid.UUID`` and timestamps as ``AwareDatetime`` as it generated them);
  (c) ``chat_contracts.decode``: msgspec with the generated structs (one pass).
Encode, object out: ``orjson.dumps`` of the dict, pydantic ``model_dump_json``,
``chat_contracts.encode`` of the struct; and the old publish path, schema check + ``orjson.dumps``.

Bodies: message.created.v1, message.send.v1, ws.client.message.send.v1 (the committed fixtures)
and a presence.gateway.heartbeat.v1 listing 10 000 connections. Each figure is the median of
--repeats timeit repeats, each long enough (autorange, >= 0.2 s) to be steady.

    .venv/bin/python bench/contracts_decode.py [--repeats 7] [--out bench/results/x.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import timeit
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

import chat_contracts
import fastjsonschema
import msgspec
import orjson
import pydantic
from chat_contracts import names
from chat_contracts._checks import check_timestamp
from chat_contracts.examples import examples
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "results" / "contracts-decode-2026-12-06.json"

# -- the pydantic models as contracts/generate_models.py generated them (descriptions left out) --

MessageText = Annotated[str, Field(min_length=1, max_length=4000, pattern=r"\S")]


class Message(BaseModel):
    id: UUID
    room_id: UUID
    seq: Annotated[int, Field(ge=1)]
    kind: Literal["text", "edit", "delete", "system"]
    sender_id: UUID
    text: MessageText
    client_msg_id: UUID
    created_at: AwareDatetime


class MessageCreatedV1(BaseModel):
    message: Message


class MessageSendV1(BaseModel):
    client_msg_id: UUID
    room_id: UUID
    sender_id: UUID
    session_id: UUID
    text: MessageText
    gateway_id: UUID
    connection_id: UUID


class WsClientMessageSendV1(BaseModel):
    # The generated model had no `type` field (the const was dropped); it is here so that all
    # three paths check the same rules.
    type: Literal["message.send"]
    client_msg_id: UUID
    room_id: UUID
    text: MessageText


class HeartbeatConnection(BaseModel):
    connection_id: UUID
    user_id: UUID
    status: Literal["online", "away"]


class PresenceGatewayHeartbeatV1(BaseModel):
    gateway_id: UUID
    sent_at: AwareDatetime
    interval_s: Annotated[float, Field(gt=0)]
    connections: list[HeartbeatConnection]


PYDANTIC: dict[str, type[BaseModel]] = {
    names.MESSAGE_CREATED_V1: MessageCreatedV1,
    names.MESSAGE_SEND_V1: MessageSendV1,
    names.WS_CLIENT_MESSAGE_SEND_V1: WsClientMessageSendV1,
    names.PRESENCE_GATEWAY_HEARTBEAT_V1: PresenceGatewayHeartbeatV1,
}

# -- pydantic with exactly the schema's rules, as the structs have them: ids and timestamps stay
# strings checked by the schema's patterns (pydantic-core's Rust regex: `$` is the end), and the
# same Python check that the date exists. The generated models above accept more than the schema
# (UUIDs without hyphens or in braces, other date-time spellings) and re-spell timestamps.

COMMON = ROOT / "contracts" / "schemas" / "common"


def _pattern(name: str) -> str:
    pattern: str = json.loads((COMMON / name).read_text(encoding="utf-8"))["pattern"]
    return pattern


def _real_date(value: str) -> str:
    check_timestamp("timestamp", value)
    return value


Uuid = Annotated[str, Field(pattern=_pattern("uuid.json"))]
Timestamp = Annotated[str, Field(pattern=_pattern("timestamp.json")), AfterValidator(_real_date)]


class SameMessage(BaseModel):
    id: Uuid
    room_id: Uuid
    seq: Annotated[int, Field(ge=1, strict=True)]
    kind: Literal["text", "edit", "delete", "system"]
    sender_id: Uuid
    text: MessageText
    client_msg_id: Uuid
    created_at: Timestamp


class SameMessageCreatedV1(BaseModel):
    message: SameMessage


class SameMessageSendV1(BaseModel):
    client_msg_id: Uuid
    room_id: Uuid
    sender_id: Uuid
    session_id: Uuid
    text: MessageText
    gateway_id: Uuid
    connection_id: Uuid


class SameWsClientMessageSendV1(BaseModel):
    type: Literal["message.send"]
    client_msg_id: Uuid
    room_id: Uuid
    text: MessageText


class SameHeartbeatConnection(BaseModel):
    connection_id: Uuid
    user_id: Uuid
    status: Literal["online", "away"]


class SamePresenceGatewayHeartbeatV1(BaseModel):
    gateway_id: Uuid
    sent_at: Timestamp
    interval_s: Annotated[int, Field(gt=0, strict=True)] | Annotated[float, Field(gt=0)]
    connections: list[SameHeartbeatConnection]


SAME_RULES: dict[str, type[BaseModel]] = {
    names.MESSAGE_CREATED_V1: SameMessageCreatedV1,
    names.MESSAGE_SEND_V1: SameMessageSendV1,
    names.WS_CLIENT_MESSAGE_SEND_V1: SameWsClientMessageSendV1,
    names.PRESENCE_GATEWAY_HEARTBEAT_V1: SamePresenceGatewayHeartbeatV1,
}

# -- bodies ------------------------------------------------------------------------------------


def _fixture(type_name: str) -> dict[str, Any]:
    body = examples(type_name, valid=True)[0].body
    assert isinstance(body, dict)
    return body


def heartbeat(connections: int) -> dict[str, Any]:
    users = [str(uuid.uuid4()) for _ in range(connections // 2 + 1)]
    return {
        "gateway_id": str(uuid.uuid4()),
        "sent_at": "2026-12-06T10:00:00.000Z",
        "interval_s": 10,
        "connections": [
            {
                "connection_id": str(uuid.uuid4()),
                "user_id": users[i // 2],
                "status": "online" if i % 5 else "away",
            }
            for i in range(connections)
        ],
    }


def bodies() -> dict[str, dict[str, Any]]:
    return {
        names.MESSAGE_CREATED_V1: _fixture(names.MESSAGE_CREATED_V1),
        names.MESSAGE_SEND_V1: _fixture(names.MESSAGE_SEND_V1),
        names.WS_CLIENT_MESSAGE_SEND_V1: _fixture(names.WS_CLIENT_MESSAGE_SEND_V1),
        names.PRESENCE_GATEWAY_HEARTBEAT_V1 + " (10 000 connections)": heartbeat(10_000),
    }


# -- timing ------------------------------------------------------------------------------------


def median_us(call: Callable[[], object], repeats: int) -> dict[str, Any]:
    timer = timeit.Timer(call)
    number, _ = timer.autorange()
    number = max(number, 1)
    # autorange stops at >= 0.2 s; take that per repeat.
    runs = [t / number * 1e6 for t in timer.repeat(repeat=repeats, number=number)]
    return {
        "median_us": round(statistics.median(runs), 3),
        "min_us": round(min(runs), 3),
        "max_us": round(max(runs), 3),
        "number": number,
        "repeats": repeats,
    }


def measure(label: str, body: dict[str, Any], repeats: int) -> dict[str, Any]:
    type_name = label.split(" ")[0]
    raw = orjson.dumps(body)
    model = PYDANTIC[type_name]
    same_rules = SAME_RULES[type_name]
    struct = chat_contracts.decode(type_name, raw)
    parsed = model.model_validate_json(raw)
    same_parsed = same_rules.model_validate_json(raw)
    assert orjson.loads(same_parsed.model_dump_json()) == body
    chat_contracts.validate(type_name, orjson.loads(raw))
    # Same wire bytes out of the msgspec struct (key order is the schema's, equal JSON).
    assert orjson.loads(chat_contracts.encode(struct)) == body

    def old_consume() -> None:
        chat_contracts.validate(type_name, orjson.loads(raw))

    def old_publish() -> bytes:
        chat_contracts.validate(type_name, body)
        return orjson.dumps(body)

    paths: dict[str, Callable[[], object]] = {
        "decode: orjson.loads + fastjsonschema validate": old_consume,
        "decode: pydantic model_validate_json (generated models)": (
            lambda: model.model_validate_json(raw)
        ),
        "decode: pydantic model_validate_json (schema's rules)": (
            lambda: same_rules.model_validate_json(raw)
        ),
        "decode: msgspec chat_contracts.decode": lambda: chat_contracts.decode(type_name, raw),
        "encode: orjson.dumps(dict)": lambda: orjson.dumps(body),
        "encode: pydantic model_dump_json (generated models)": lambda: parsed.model_dump_json(),
        "encode: pydantic model_dump_json (schema's rules)": lambda: same_parsed.model_dump_json(),
        "encode: msgspec chat_contracts.encode(struct)": lambda: chat_contracts.encode(struct),
        "publish before: fastjsonschema validate + orjson.dumps": old_publish,
    }
    results = {}
    for path, call in paths.items():
        results[path] = median_us(call, repeats)
        print(f"{label:52} {path:58} {results[path]['median_us']:>11.2f} µs", flush=True)
    return {"type": label, "bytes": len(raw), "paths": results}


def machine() -> dict[str, Any]:
    model = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "system": platform.system(),
        "release": platform.release(),
        "arch": platform.machine(),
        "cpu": model,
        "cpus": os.cpu_count(),
    }


def commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    measured = [measure(label, body, args.repeats) for label, body in bodies().items()]
    report = {
        "benchmark": "contracts decode/encode per message",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "python": sys.version.split()[0],
        "libraries": {
            "msgspec": msgspec.__version__,
            "orjson": orjson.__version__,
            "pydantic": pydantic.VERSION,
            "fastjsonschema": fastjsonschema.VERSION,
        },
        "machine": machine(),
        "note": "median per message in microseconds; the worktree had uncommitted changes",
        "results": measured,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
