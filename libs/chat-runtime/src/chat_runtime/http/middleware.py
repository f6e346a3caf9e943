"""The outermost middleware: correlation id, server span, metrics, request log, body limit,
`Cache-Control: no-store` by default, and a security log line for every 403."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import orjson
import structlog
from prometheus_client import Counter, Histogram
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat_runtime.http.client import client_address
from chat_runtime.http.handlers import unhandled_problem
from chat_runtime.http.nul import json_value_nul_fields, nul_problem, path_and_query_nul_fields
from chat_runtime.http.problems import DETAILS, Problem, problem_response
from chat_runtime.logging import (
    bind_correlation_id,
    correlation_id_var,
    get_logger,
    security_event,
)
from chat_runtime.tracing import start_server_span

MAX_BODY_BYTES = 64 * 1024
CORRELATION_HEADER = "X-Correlation-ID"
_CORRELATION_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# api-v1.1 F: token, user and message answers must not be kept by browsers or shared caches;
# every answer that names no policy of its own gets this one (file-service's bytes name theirs).
DEFAULT_CACHE_CONTROL = (b"cache-control", b"no-store")
# How much of a 403 body is kept to name its problem code in the security line.
_FORBIDDEN_BODY_KEEP = 4096

log = get_logger("chat_runtime.http")

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["method", "route"]
)


def _valid_correlation_id(value: str | None) -> str:
    if value and _CORRELATION_RE.fullmatch(value):
        return value
    return str(uuid.uuid4())


# Methods whose JSON bodies are read up front (strict JSON for writes, NULs for all four).
_JSON_BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class EdgeMiddleware:
    """Outermost middleware: correlation id, server span, metrics, body limit, a last-resort
    500 problem, `Cache-Control: no-store` unless the answer set its own, and a `forbidden`
    security line for every 403. One class so every response - errors included - gets them."""

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
                if path_and_query_nul_fields(scope):
                    await send({"type": "websocket.close", "code": 1008})
                    return
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
        forbidden_body = bytearray()

        async def send_wrapper(message: Message) -> None:
            if state["done"]:
                return  # we already answered (413); drop the app's late response
            if message["type"] == "http.response.start":
                state["started"] = True
                state["status"] = message["status"]
                raw = [h for h in message.get("headers", []) if h[0].lower() != cid_header[0]]
                extra = [cid_header]
                if not any(h[0].lower() == DEFAULT_CACHE_CONTROL[0] for h in raw):
                    extra.append(DEFAULT_CACHE_CONTROL)
                message = {**message, "headers": [*raw, *extra]}
            elif message["type"] == "http.response.body" and state["status"] == 403:
                room = _FORBIDDEN_BODY_KEEP - len(forbidden_body)
                if room > 0:
                    forbidden_body.extend(message.get("body", b"")[:room])
            await send(message)

        async def answer(problem: Problem) -> None:
            if state["started"]:
                return
            response = problem_response(problem)
            await response(scope, receive, send_wrapper)
            state["done"] = True

        too_large = Problem(413, "payload_too_large", DETAILS[413])
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

        nul_fields = path_and_query_nul_fields(scope)
        if nul_fields:
            await answer(nul_problem(nul_fields))
            return

        app_receive: Receive = receive_wrapper
        if "json" in headers.get("content-type", "") and method in _JSON_BODY_METHODS:
            # Check JSON bodies strictly up front: Python's json accepts lone surrogates, NaN and
            # invalid UTF-8 sequences that only fail later (storing, serialising) as a 500; and
            # a NUL anywhere in them, which PostgreSQL refuses (chat_runtime.http.nul).
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
                    value = orjson.loads(body)
                except orjson.JSONDecodeError:
                    # DELETE bodies are read for NULs only; their routes judge the rest.
                    if method != "DELETE":
                        await answer(
                            Problem(400, "malformed_json", "The request body is not valid JSON.")
                        )
                        return
                else:
                    nul_fields = json_value_nul_fields(value)
                    if nul_fields:
                        await answer(nul_problem(nul_fields))
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
                    await answer(unhandled_problem(exc))
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            span.update_name(f"{method} {route_path}")
            span.set_attribute("http.response.status_code", state["status"])
            if state["status"] == 403:
                _log_forbidden(scope, method, route_path, bytes(forbidden_body))
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


def _log_forbidden(scope: Scope, method: str, route: str, body: bytes) -> None:
    """DESIGN-20 decision 3: every 403 of any service leaves a `forbidden` security line (who
    asked is in the service's own lines of the same correlation id)."""
    code = "forbidden"
    try:
        parsed = orjson.loads(body)
        if isinstance(parsed, dict) and isinstance(parsed.get("code"), str):
            code = parsed["code"][:64]
    except orjson.JSONDecodeError:
        pass
    settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
    trusted = getattr(settings, "trusted_proxies", ("127.0.0.1", "::1"))
    security_event(
        "forbidden",
        method=method,
        route=route,
        path=scope.get("path", ""),
        code=code,
        address=client_address(Request(scope), trusted),
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
