"""The FastAPI app every service starts from: problems, middleware, health endpoints."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chat_runtime.http.handlers import install_problem_handlers
from chat_runtime.http.middleware import EdgeMiddleware
from chat_runtime.http.readiness import Readiness
from chat_runtime.settings import BaseServiceSettings

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
