"""HTTP basics shared by every service: problems (RFC 9457), correlation id, body limit,
tracing and metrics middleware, health/readiness/metrics endpoints."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, NotRequired, TypedDict

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat_runtime.db import is_infrastructure_error
from chat_runtime.logging import bind_correlation_id, correlation_id_var, get_logger
from chat_runtime.settings import BaseServiceSettings
from chat_runtime.tracing import start_server_span

PROBLEM_MEDIA_TYPE = "application/problem+json"
MAX_BODY_BYTES = 64 * 1024
CORRELATION_HEADER = "X-Correlation-ID"
_CORRELATION_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

log = get_logger("chat_runtime.http")

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["method", "route"]
)


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


_TITLES = {
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
_CODES = {
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
_DETAILS = {
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
        self.title = title or _TITLES.get(status, "Error")
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


# --- validation errors in plain words -------------------------------------------------------

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


async def _validation_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return validation_problem(list(exc.errors())).response()


async def _http_exception_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail else None
    generic = {"Not Found", "Method Not Allowed", _TITLES.get(status)}
    if detail is None or detail in generic:
        detail = _DETAILS.get(status, _TITLES.get(status, "The request failed."))
    return Problem(
        status, _CODES.get(status, "error"), detail, headers=dict(exc.headers or {})
    ).response()


async def _problem_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return exc.response()


async def _data_error_handler(_: Request, exc: Exception) -> Response:
    # The database refused a value the validation let through (e.g. a NUL character in text):
    # that is bad input, so a 4xx, never a 500.
    log.warning("database_refused_value", error=repr(exc)[:300])
    return Problem(
        422,
        "invalid_value",
        "A value in the request cannot be stored (for example it contains a NUL character).",
    ).response()


def _unhandled_problem(exc: BaseException) -> Problem:
    if is_infrastructure_error(exc):
        # The database is down or was restarted (a pooled connection went stale): not a bug,
        # and a retry soon succeeds, so 503 with Retry-After instead of 500.
        log.warning("database_unavailable", error=repr(exc)[:300])
        return Problem(503, "unavailable", _DETAILS[503], headers={"Retry-After": "1"})
    log.error("unhandled_exception", exc_info=exc)
    return Problem(500, "internal", _DETAILS[500])


async def _unhandled_handler(_: Request, exc: Exception) -> Response:
    return _unhandled_problem(exc).response()


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(Problem, _problem_handler)
    app.add_exception_handler(DataError, _data_error_handler)
    app.add_exception_handler(Exception, _unhandled_handler)


# --- middleware ---------------------------------------------------------------------------


def _valid_correlation_id(value: str | None) -> str:
    if value and _CORRELATION_RE.fullmatch(value):
        return value
    return str(uuid.uuid4())


class EdgeMiddleware:
    """Outermost middleware: correlation id, server span, metrics, body limit and a last-resort
    500 problem. One class so every response - errors included - gets the correlation header."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        cid = _valid_correlation_id(headers.get(CORRELATION_HEADER.lower()))
        token = bind_correlation_id(cid)
        structlog.contextvars.bind_contextvars(correlation_id=cid)
        try:
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
                return
            await self._http(scope, receive, send, headers, cid)
        finally:
            structlog.contextvars.unbind_contextvars("correlation_id")
            correlation_id_var.reset(token)

    async def _http(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], cid: str
    ) -> None:
        method = scope["method"]
        started = time.perf_counter()
        state: dict[str, Any] = {"started": False, "status": 500, "done": False, "received": 0}
        cid_header = (CORRELATION_HEADER.lower().encode(), cid.encode())

        async def send_wrapper(message: Message) -> None:
            if state["done"]:
                return  # we already answered (413); drop the app's late response
            if message["type"] == "http.response.start":
                state["started"] = True
                state["status"] = message["status"]
                raw = [h for h in message.get("headers", []) if h[0].lower() != cid_header[0]]
                message = {**message, "headers": [*raw, cid_header]}
            await send(message)

        async def answer(problem: Problem) -> None:
            if state["started"]:
                return
            response = problem_response(problem)
            await response(scope, receive, send_wrapper)
            state["done"] = True

        too_large = Problem(413, "payload_too_large", _DETAILS[413])
        declared = headers.get("content-length")
        if declared is not None:
            try:
                declared_n = int(declared)
            except ValueError:
                declared_n = -1
            if declared_n < 0:
                await answer(Problem(400, "bad_request", "The Content-Length header is invalid."))
                return
            if declared_n > self.max_body:
                await answer(too_large)
                return

        async def receive_wrapper() -> Message:
            if state["done"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.max_body:
                    # Chunked bodies have no Content-Length: count as they stream in.
                    await answer(too_large)
                    return {"type": "http.disconnect"}
            return message

        app_receive: Receive = receive_wrapper
        if "json" in headers.get("content-type", "") and method in ("POST", "PUT", "PATCH"):
            # Check JSON bodies strictly up front: Python's json accepts lone surrogates, NaN and
            # invalid UTF-8 sequences that only fail later (storing, serialising) as a 500.
            body = bytearray()
            while True:
                message = await receive_wrapper()
                if message["type"] != "http.request":
                    return  # client gone or body too large (already answered)
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            if body.strip():
                try:
                    orjson.loads(body)
                except orjson.JSONDecodeError:
                    await answer(
                        Problem(400, "malformed_json", "The request body is not valid JSON.")
                    )
                    return
            app_receive = _replay(bytes(body), receive)

        with start_server_span(
            f"{method} {scope.get('path', '')}",
            headers,
            {"http.request.method": method, "url.path": scope.get("path", "")},
        ) as span:
            try:
                await self.app(scope, app_receive, send_wrapper)
            except Exception as exc:
                if not state["done"]:
                    await answer(_unhandled_problem(exc))
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            span.update_name(f"{method} {route_path}")
            span.set_attribute("http.response.status_code", state["status"])
            if route_path not in ("/metrics", "/healthz", "/readyz"):
                elapsed = time.perf_counter() - started
                HTTP_REQUESTS.labels(method, route_path, str(state["status"])).inc()
                HTTP_LATENCY.labels(method, route_path).observe(elapsed)
                log.info(
                    "http_request",
                    method=method,
                    route=route_path,
                    status=state["status"],
                    duration_ms=round(elapsed * 1000, 2),
                )


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect as usual

    return replay


# --- readiness -----------------------------------------------------------------------------

ReadinessCheck = Callable[[], Awaitable[bool]]


class Readiness:
    def __init__(self, timeout_s: float = 2.0) -> None:
        self._checks: dict[str, ReadinessCheck] = {}
        self._timeout_s = timeout_s

    def add(self, name: str, check: ReadinessCheck) -> None:
        self._checks[name] = check

    async def _run_one(self, check: ReadinessCheck) -> bool:
        try:
            return bool(await asyncio.wait_for(check(), self._timeout_s))
        except Exception:
            return False

    async def run(self) -> dict[str, bool]:
        names = list(self._checks)
        results = await asyncio.gather(*(self._run_one(self._checks[n]) for n in names))
        return dict(zip(names, results, strict=True))


# --- app factory ---------------------------------------------------------------------------

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[Any]]


def create_app(
    settings: BaseServiceSettings, *, title: str, lifespan: Lifespan | None = None
) -> FastAPI:
    app = FastAPI(title=title, version=settings.version, lifespan=lifespan)
    app.state.settings = settings
    app.state.readiness = Readiness()
    install_problem_handlers(app)
    app.add_middleware(EdgeMiddleware)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        readiness: Readiness = request.app.state.readiness
        checks = await readiness.run()
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", "checks": checks},
            status_code=200 if ok else 503,
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def client_address(request: Request, trusted_proxies: list[str] | tuple[str, ...]) -> str:
    """The client's IP: `X-Real-IP` only when the direct peer is a trusted proxy."""
    peer = request.client.host if request.client else ""
    if peer and _is_trusted(peer, trusted_proxies):
        real = request.headers.get("x-real-ip", "").strip()
        try:
            return str(ipaddress.ip_address(real))
        except ValueError:
            return peer
    return peer


def _is_trusted(peer: str, trusted: list[str] | tuple[str, ...]) -> bool:
    try:
        addr = ipaddress.ip_address(peer)
    except ValueError:
        return peer in trusted
    for entry in trusted:
        try:
            if addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False
