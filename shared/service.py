"""What every service app shares: wiring of errors, health and readiness, and its own lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from shared.db import Database, MigrationTree, check_ready
from shared.errors import install_error_handlers, problem_response
from shared.settings import Settings


def health_router(trees: Sequence[MigrationTree]) -> APIRouter:
    """`/healthz` (the process answers) and `/readyz` (database reachable, migrations at head)."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: database reachable and migrations at head")
    async def readyz(request: Request) -> JSONResponse:
        db = getattr(request.app.state, "db", None)
        if not isinstance(db, Database):
            problems = {"database": "not connected yet"}
        else:
            problems = await check_ready(db, list(trees))
        if problems:
            return problem_response(
                request,
                status=503,
                code="not_ready",
                message_vi="Dịch vụ chưa sẵn sàng: "
                + "; ".join(f"{k}: {v}" for k, v in problems.items()),
                message_en="Not ready: " + "; ".join(f"{k}: {v}" for k, v in problems.items()),
            )
        return JSONResponse({"status": "ready", "schemas": [t.schema for t in trees]})

    return router


def build_service_app(
    *,
    title: str,
    description: str,
    settings: Settings,
    trees: Sequence[MigrationTree],
    routers: Sequence[APIRouter],
    db: Database | None = None,
) -> FastAPI:
    """A service's FastAPI app. With `db` it runs inside the embedded process (which owns the
    database); without, its own lifespan opens the engine from DATABASE_URL."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned: Database | None = None
        if getattr(app.state, "db", None) is None:
            url = settings.async_database_url
            if url is None:
                raise RuntimeError("DATABASE_URL is required to run a service on its own")
            owned = Database.from_url(
                url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
            )
            app.state.db = owned
        try:
            yield
        finally:
            if owned is not None:
                await owned.dispose()

    app = FastAPI(title=title, description=description, version="1", lifespan=lifespan)
    app.state.db = db
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(health_router(trees))
    for router in routers:
        app.include_router(router)
    return app
