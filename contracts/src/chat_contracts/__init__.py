"""Wire contracts of the chat product: validation of bus bodies and WebSocket frames.

The JSON Schemas under ``schemas/`` are the source of truth. A bus schema's name is its AMQP
``type`` (``message.created.v1``); a WebSocket frame's is ``ws.client.<type>.v1`` or
``ws.server.<type>.v1``. Validators are built once, at import, because ``validate`` runs on every
publish and every consumed message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "ContractError",
    "Problem",
    "UnknownTypeError",
    "is_known",
    "is_valid",
    "known_types",
    "model",
    "problems",
    "schema",
    "schema_path",
    "title_of",
    "validate",
]


def model(type_name: str) -> type[BaseModel]:
    """The generated pydantic model of ``type_name`` (imported on first use, off the hot path)."""
    from chat_contracts.typed import model as _model

    return _model(type_name)
