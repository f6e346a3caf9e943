"""Request validation errors in plain words, as one 422 problem (400 for malformed JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chat_runtime.http.problems import FieldError, Problem

_LOCATION_PREFIXES = {"body", "query", "path", "header", "cookie"}


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in _LOCATION_PREFIXES:
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "body"


def _plain_message(err: Mapping[str, Any]) -> str:
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    messages: dict[str, str] = {
        "missing": "This field is required.",
        "extra_forbidden": "This field is not allowed here.",
        "string_type": "Use text here.",
        "int_type": "Use a whole number here.",
        "int_parsing": "Use a whole number here.",
        "float_parsing": "Use a number here.",
        "bool_parsing": "Use true or false here.",
        "uuid_parsing": "Use a valid UUID here.",
        "uuid_type": "Use a valid UUID here.",
        "dict_type": "Use a JSON object here.",
        "list_type": "Use a list here.",
        "model_attributes_type": "Send a JSON object.",
        "json_invalid": "The body is not valid JSON.",
        "enum": f"Use one of: {ctx.get('expected', 'the allowed values')}.",
        "literal_error": f"Use one of: {ctx.get('expected', 'the allowed values')}.",
        "string_too_short": f"Use at least {ctx.get('min_length')} characters.",
        "string_too_long": f"Use at most {ctx.get('max_length')} characters.",
        "too_short": f"Give at least {ctx.get('min_length')} items.",
        "too_long": f"Give at most {ctx.get('max_length')} items.",
        "greater_than": f"Use a number greater than {ctx.get('gt')}.",
        "greater_than_equal": f"Use a number of at least {ctx.get('ge')}.",
        "less_than": f"Use a number less than {ctx.get('lt')}.",
        "less_than_equal": f"Use a number of at most {ctx.get('le')}.",
        "string_pattern_mismatch": "This value has the wrong format.",
    }
    if kind == "missing" and list(err.get("loc", ())) == ["body"]:
        return "Send a JSON body."
    if kind in messages:
        return messages[kind]
    msg = str(err.get("msg") or "This value is not valid")
    # pydantic prefixes custom validator messages with "Value error, ".
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return msg if msg.endswith(".") else msg + "."


def validation_problem(errors: list[Mapping[str, Any]]) -> Problem:
    if any(e.get("type") == "json_invalid" for e in errors):
        return Problem(400, "malformed_json", "The request body is not valid JSON.")
    fields: list[FieldError] = [
        {
            "field": _field_name(e.get("loc", ())),
            "code": str(e.get("type", "invalid")),
            "message": _plain_message(e),
        }
        for e in errors
    ]
    count = len(fields)
    detail = (
        "One field is not valid; see errors."
        if count == 1
        else f"{count} fields are not valid; see errors."
    )
    return Problem(422, "validation_failed", detail, errors=fields)
