"""Problem answers documented in every service's OpenAPI (api-v1 §3, RFC 9457).

FastAPI documents only a route's success and its 422 - and that 422 as its own
`HTTPValidationError` JSON, which no service ever sends. Every API operation here also gets the
problem answers the shared layers can give it, each as `application/problem+json` with the one
`Problem` schema: 400 (malformed JSON, a bad header), 401 (no or a refused token), 403, 404,
409 (the route's own refusals), 422 (validation, a NUL character) and 503 (a dependency down);
413 and 415 on writes (POST, PUT, PATCH: the body's size and type). 429 only where a route
documents it (`rate_limit.RATE_LIMITED_RESPONSE`, throttles): a limit is a route's own. Any
error status a route documents keeps its description and headers (e.g. 429's Retry-After);
its body becomes the Problem schema.
tests/fuzz checks every answer of every service against this (status, media type, schema).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from chat_runtime.http.problems import PROBLEM_MEDIA_TYPE, TITLES

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem (api-v1 §3); `code` is the stable machine-readable reason.",
    "type": "object",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string", "minLength": 1},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
    },
}
FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "title": "FieldError",
    "type": "object",
    "required": ["field", "code", "message"],
    "properties": {
        "field": {"type": "string"},
        "code": {"type": "string"},
        "message": {"type": "string"},
    },
}
EVERY_OPERATION = (400, 401, 403, 404, 409, 422, 503)
WITH_A_BODY = (413, 415)
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
_FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": dict(PROBLEM_REF)}}


def add_problem_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (an OpenAPI document) with the problem answers on every operation."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["FieldError"] = FIELD_ERROR_SCHEMA
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            writes = "requestBody" in operation or method in ("post", "put", "patch")
            statuses = EVERY_OPERATION + (WITH_A_BODY if writes else ())
            documented = {int(k) for k in responses if k.isdigit() and int(k) >= 400}
            for status in sorted(set(statuses) | documented):
                key = str(status)
                entry = responses.setdefault(key, {})
                if not entry.get("description") or entry["description"] == "Validation Error":
                    entry["description"] = f"{TITLES.get(status, 'Problem')} (a problem; see code)"
                entry["content"] = _problem_content()
    if _FASTAPI_VALIDATION not in str(schema.get("paths", {})):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return schema


def document_problems(app: FastAPI) -> None:
    """Make `app.openapi()` return its schema with the problem answers (computed once)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_problem_responses(original())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
