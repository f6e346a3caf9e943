"""The FastAPI app every service starts from: problems, middleware, health endpoints."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics

from chat_runtime.http.handlers import install_problem_handlers
from chat_runtime.http.middleware import MAX_BODY_BYTES, EdgeMiddleware
from chat_runtime.http.openapi import document_problems
from chat_runtime.http.readiness import Readiness
from chat_runtime.settings import BaseServiceSettings

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[Any]]


def create_app(
    settings: BaseServiceSettings,
    *,
    title: str,
    lifespan: Lifespan | None = None,
    max_body: int = MAX_BODY_BYTES,
) -> FastAPI:
    """`max_body`: api-v1 §2's 64 KiB, except for file-service's uploads (api-v1.1 E)."""
    app = FastAPI(title=title, version=settings.version, lifespan=lifespan)
    app.state.settings = settings
    app.state.readiness = Readiness()
    install_problem_handlers(app)
    document_problems(app)
    app.add_middleware(EdgeMiddleware, max_body=max_body)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        readiness: Readiness = request.app.state.readiness
        checks = await readiness.run()
        ok = all(checks.values())
        body: dict[str, Any] = {"status": "ready" if ok else "not_ready", "checks": checks}
        details = readiness.details()
        if details:
            body["details"] = details
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        # Prometheus asks for OpenMetrics first: that format carries the histograms' trace-id
        # exemplars (chat_runtime.metrics); anything else gets the classic text format.
        if "application/openmetrics-text" in request.headers.get("accept", ""):
            return Response(
                openmetrics.generate_latest(REGISTRY),  # type: ignore[no-untyped-call]
                media_type=openmetrics.CONTENT_TYPE_LATEST,
            )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
