"""Typed access to the generated pydantic models by contract name."""

from __future__ import annotations

from pydantic import BaseModel

from chat_contracts import models
from chat_contracts._registry import UnknownTypeError, is_known, title_of

__all__ = ["model"]


def model(type_name: str) -> type[BaseModel]:
    """The generated model of ``type_name`` (``message.created.v1`` → ``MessageCreatedV1``).

    The JSON Schema stays the judge of validity (models do not check uniqueness or UUID spelling);
    models give typed access to bodies that already passed ``validate``.
    """
    if not is_known(type_name):
        raise UnknownTypeError(type_name)
    found = getattr(models, title_of(type_name))
    if not (isinstance(found, type) and issubclass(found, BaseModel)):
        raise TypeError(f"models.{title_of(type_name)} is not a pydantic model")
    return found
