"""Wire contracts of the chat product: names, typed structs, decode/encode, and the schema judge.

The JSON Schemas under ``schemas/`` are the source of truth; ``names.py`` and ``types.py`` are
generated from them (``contracts/generate.py``). A bus schema's name is its AMQP ``type``
(``message.created.v1``); a WebSocket frame's is ``ws.client.<type>.v1`` or
``ws.server.<type>.v1``.

Hot path: ``decode`` (bytes → validated frozen struct, one pass in msgspec) and ``encode``
(struct → JSON bytes). ``validate``/``problems``/``is_valid`` run the JSON Schemas themselves:
the judge in tests and the source of the plain-words problems of a refused body.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from chat_contracts import names, types
from chat_contracts._registry import (
    ContractError,
    Problem,
    UnknownTypeError,
    is_known,
    is_valid,
    known_types,
    problems,
    schema,
    schema_path,
    title_of,
    validate,
)

__all__ = [
    "ContractError",
    "Problem",
    "UnknownTypeError",
    "contract_of",
    "decode",
    "encode",
    "is_known",
    "is_valid",
    "known_types",
    "names",
    "problems",
    "raw_fields",
    "schema",
    "schema_path",
    "struct_type",
    "title_of",
    "types",
    "unknown_fields",
    "validate",
]

# Built once: a decoder compiles its type's checks; msgspec keeps no cache of its own.
_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    name: msgspec.json.Decoder(struct) for name, struct in types.STRUCTS.items()
}
_ENCODER = msgspec.json.Encoder()
_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])


def decode(type_name: str, data: bytes | str) -> msgspec.Struct:
    """The body (or frame) ``data`` as the struct of ``type_name``, validated on the way.

    Raises ``UnknownTypeError`` for a name without a contract and ``ContractError`` (its
    ``problems`` say what is wrong, path and JSON Schema keyword) for a body that breaks it.
    """
    try:
        decoder = _DECODERS[type_name]
    except KeyError:
        raise UnknownTypeError(type_name) from None
    try:
        decoded: msgspec.Struct = decoder.decode(data)
    except msgspec.DecodeError as error:  # ValidationError is a DecodeError
        raise _refused(type_name, data, error) from None
    return decoded


def encode(value: msgspec.Struct) -> bytes:
    """JSON bytes of a struct (no validation: structs come from ``decode`` or typed code)."""
    return _ENCODER.encode(value)


def raw_fields(data: bytes | str) -> dict[str, msgspec.Raw]:
    """The top-level fields of the JSON object ``data``, each as its raw JSON (not decoded)."""
    return _FIELDS.decode(data)


def unknown_fields(struct: type[msgspec.Struct], data: bytes | str) -> dict[str, msgspec.Raw]:
    """The top-level fields of the JSON object ``data`` that ``struct`` does not name, raw.

    Readers ignore unknown fields (api-v1.1 preamble item 1); this is for the few places that
    must not: a gateway forwarding every field of a ``message.send``, and message-service
    refusing what it does not implement. ``data`` must already have decoded as ``struct``.
    """
    known = struct.__struct_fields__
    return {name: raw for name, raw in raw_fields(data).items() if name not in known}


def contract_of(value: msgspec.Struct | type[msgspec.Struct]) -> str:
    """The contract name of a contract struct or its class (``"message.created.v1"``)."""
    name = getattr(value, "__contract__", None)
    if not isinstance(name, str):
        raise TypeError(f"{value!r} is not a contract struct (it has no __contract__)")
    return name


def struct_type(type_name: str) -> type[msgspec.Struct]:
    """The generated struct class of ``type_name`` (``message.created.v1`` → MessageCreatedV1)."""
    try:
        return types.STRUCTS[type_name]
    except KeyError:
        raise UnknownTypeError(type_name) from None


def _refused(type_name: str, data: bytes | str, error: msgspec.DecodeError) -> ContractError:
    """A ContractError listing every problem; only runs for a refused body (off the hot path)."""
    try:
        obj = json.loads(data)
    except ValueError:
        return ContractError(type_name, (Problem("$", "json", f"not valid JSON: {error}"),))
    found = problems(type_name, obj)
    if not found:  # the schema accepts what msgspec refuses (see README: integral floats)
        text = str(error)
        message, _, at = text.rpartition(" - at `")
        path = at.rstrip("`") if message else "$"
        found = (Problem(path, "schema", message or text),)
    return ContractError(type_name, found)
