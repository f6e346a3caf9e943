"""Every operation's OpenAPI documents the problem answers (tests/fuzz checks them)."""

from typing import Any

import pytest
from chat_runtime.http import create_app
from chat_runtime.http.openapi import EVERY_OPERATION, WITH_A_BODY
from chat_runtime.settings import BaseServiceSettings
from pydantic import BaseModel

pytestmark = pytest.mark.unit

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


class Body(BaseModel):
    name: str


def openapi() -> dict[str, Any]:
    app = create_app(BaseServiceSettings(), title="test")

    @app.get("/v1/things/{thing_id}")
    async def read(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    @app.post(
        "/v1/things",
        status_code=201,
        responses={429: {"description": "Slow down.", "headers": {"Retry-After": {}}}},
    )
    async def create(body: Body) -> dict[str, str]:
        return {"name": body.name}

    return app.openapi()


def test_every_operation_documents_the_problem_answers() -> None:
    spec = openapi()
    read = spec["paths"]["/v1/things/{thing_id}"]["get"]["responses"]
    create = spec["paths"]["/v1/things"]["post"]["responses"]
    assert sorted(read) == sorted(["200", *map(str, EVERY_OPERATION)])
    assert sorted(create) == sorted(["201", "429", *map(str, EVERY_OPERATION + WITH_A_BODY)])
    assert "429" not in read  # a limit is a route's own
    for responses in (read, create):
        for status, entry in responses.items():
            if status.startswith("4") or status.startswith("5"):
                assert entry["content"] == PROBLEM, status
                assert entry["description"]
    # FastAPI's own 422 body (never sent) is gone; a route's description and headers stay.
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert create["429"]["description"] == "Slow down."
    assert "Retry-After" in create["429"]["headers"]
    problem = spec["components"]["schemas"]["Problem"]
    assert problem["required"] == ["type", "title", "status", "code", "detail"]
    assert "FieldError" in spec["components"]["schemas"]


def test_the_schema_is_computed_once() -> None:
    app = create_app(BaseServiceSettings(), title="test")
    assert app.openapi() is app.openapi()
