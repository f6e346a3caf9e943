"""RFC 9457 problem responses: the `Problem` exception and its JSON body."""

from __future__ import annotations

from typing import NotRequired, TypedDict

import orjson
from fastapi.responses import Response

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(TypedDict):
    field: str
    code: str
    message: str


class ProblemBody(TypedDict):
    type: str
    title: str
    status: int
    code: str
    detail: str
    errors: NotRequired[list[FieldError]]


TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
}
DETAILS = {
    400: "The request could not be understood.",
    401: "Sign in to continue.",
    403: "You are not allowed to do that.",
    404: "There is nothing at this address.",
    405: "This address does not accept that method.",
    413: "The request body is larger than 64 KiB.",
    415: "Send the body as application/json.",
    500: "Something went wrong on our side. Please try again.",
    503: "The service is not available right now. Please try again soon.",
}


class Problem(Exception):
    """Raise anywhere in a request to answer with an RFC 9457 problem."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or TITLES.get(status, "Error")
        self.errors = errors
        self.headers = headers

    def body(self) -> ProblemBody:
        body: ProblemBody = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        return body

    def response(self) -> Response:
        return problem_response(self)


def problem_response(problem: Problem) -> Response:
    return Response(
        content=orjson.dumps(problem.body()),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=problem.headers,
    )
