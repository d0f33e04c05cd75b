"""Assembling processes: the embedded all-in-one app, and start-up steps shared with the CLI."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.appraisal.app import attach_relay
from services.gateway.app import graphql_router, upstreams_from_settings
from services.registry import SERVICES
from shared.auth import authenticator_for, local_key
from shared.db import Database, check_ready, upgrade
from shared.errors import install_error_handlers, problem_response
from shared.limits import in_process
from shared.service import run_hooks, settle_heap
from shared.settings import Settings

log = logging.getLogger("ntm")


async def prepare_database(db: Database, *, load_reference: bool = True) -> None:
    """Run every service's migrations to head, then load the national reference data."""
    for spec in SERVICES.values():
        await upgrade(db.engine, spec.tree)
    if load_reference:
        for spec in SERVICES.values():
            if spec.load_reference is not None:
                await spec.load_reference(db)


def create_embedded_app(settings: Settings, database_url: str, *, prepare: bool = True) -> FastAPI:
    """All four apps in one process: `/criteria`, `/funding`, `/appraisal` and `/graphql`.

    The gateway reaches the services through in-process ASGI transports, so the same code
    path as the distributed mode runs without sockets. `prepare`: migrate and load the
    reference data on startup (a worker of `ntm serve --workers N` leaves it to its parent)."""
    service_apps = {name: spec.create_app(settings, None) for name, spec in SERVICES.items()}
    # marked in-process: the rate limit of a service does not count these calls again (the
    # request they serve was counted where it came in)
    transports: dict[str, httpx.AsyncBaseTransport] = {
        name: httpx.ASGITransport(app=in_process(app)) for name, app in service_apps.items()
    }
    # appraisal reads criteria and funding, and its outbox relay delivers title events to
    # criteria, through the same in-process transports
    service_apps["appraisal"].state.transports = transports

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database.from_url(
            database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
        )
        try:
            if prepare:
                await prepare_database(db)
            app.state.db = db
            for service_app in service_apps.values():
                service_app.state.db = db
            app.state.upstreams = upstreams_from_settings(settings, transports)
            relay = attach_relay(service_apps["appraisal"], settings)
            relay.start()
            # mounted apps' lifespans do not run: start their hooks (criteria's NATS consumer)
            for service_app in service_apps.values():
                await run_hooks(service_app, "startup")
            settle_heap(settings)
            log.info("ntm ready", extra={"port": settings.port})
            yield
            for service_app in service_apps.values():
                await run_hooks(service_app, "shutdown")
            await relay.stop()
            await app.state.upstreams.aclose()
        finally:
            await db.dispose()

    root = FastAPI(title="ntm", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)
    root.state.authenticator = authenticator_for(settings)
    install_error_handlers(root)

    @root.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @root.get("/readyz", tags=["health"])
    async def readyz(request: Request) -> JSONResponse:
        db = getattr(request.app.state, "db", None)
        problems = (
            await check_ready(db, [s.tree for s in SERVICES.values()])
            if isinstance(db, Database)
            else {"database": "starting"}
        )
        if problems:
            detail = "; ".join(f"{k}: {v}" for k, v in problems.items())
            return problem_response(
                request,
                status=503,
                code="not_ready",
                message_vi=f"Hệ thống chưa sẵn sàng: {detail}",
                message_en=f"Not ready: {detail}",
            )
        return JSONResponse({"status": "ready", "services": list(SERVICES)})

    @root.get("/.well-known/jwks.json", tags=["auth"])
    async def jwks(request: Request) -> JSONResponse:
        """The public key of the local signing key (`ntm token`), for clients and gateways
        that verify tokens themselves; 404 when an identity provider's JWKS is configured."""
        if settings.auth_jwks_url is not None:
            return problem_response(
                request,
                status=404,
                code="auth.no_local_key",
                message_vi="Hệ thống dùng khoá của máy chủ định danh: " + settings.auth_jwks_url,
                message_en="Tokens are verified with the identity provider's keys: "
                + settings.auth_jwks_url,
            )
        key = await asyncio.to_thread(local_key, settings.auth_key_path)
        return JSONResponse(key.jwks(), headers={"Cache-Control": "public, max-age=300"})

    @root.get("/", include_in_schema=False)
    async def index() -> dict[str, object]:
        return {
            "name": "ntm — Nông thôn mới",
            "graphql": "/graphql",
            "docs": {name: f"/{name}/docs" for name in SERVICES},
            "health": ["/healthz", "/readyz"],
            "jwks": "/.well-known/jwks.json",
        }

    root.include_router(
        graphql_router(lambda r: r.app.state.upstreams, settings),
        prefix="/graphql",
    )
    for name, service_app in service_apps.items():
        root.mount(f"/{name}", service_app)
    return root
