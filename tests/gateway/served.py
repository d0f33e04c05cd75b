"""A gateway with chosen settings over the real services, its upstream requests recorded by
httpx event hooks on the gateway's own upstream clients (instrumentation, not a stand-in)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from services.gateway.app import create_app as create_gateway_app
from services.gateway.clients import Upstreams
from shared.settings import Settings
from tests.conftest import DEFAULT_HEADERS


@dataclass
class Gateway:
    http: httpx.AsyncClient
    upstream_calls: list[str]

    async def post(self, query: str, variables: dict[str, Any] | None = None,
                   **kwargs: Any) -> httpx.Response:  # fmt: skip
        """POST one operation; `kwargs` go to httpx (headers, extensions in `json`…)."""
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, **kwargs
        )


def record_upstream_calls(app: FastAPI) -> list[str]:
    """Every request the gateway sends upstream from now on, as "METHOD /path"."""
    calls: list[str] = []

    async def record(request: httpx.Request) -> None:
        calls.append(f"{request.method} {request.url.path}")

    upstreams: Upstreams = app.state.upstreams
    for client in (upstreams.criteria, upstreams.funding, upstreams.appraisal):
        client.http.event_hooks["request"].append(record)
    return calls


def gateway_app(
    settings: Settings, criteria_app: FastAPI, funding_app: FastAPI | None = None, **changes: Any
) -> FastAPI:
    """The gateway app over in-process criteria (and funding) with `changes` to `settings`."""
    transports: dict[str, httpx.AsyncBaseTransport] = {
        "criteria": httpx.ASGITransport(app=criteria_app)
    }
    if funding_app is not None:
        transports["funding"] = httpx.ASGITransport(app=funding_app)
    changed = Settings(**{**settings.model_dump(), **changes})  # validated, unlike model_copy
    return create_gateway_app(changed, transports=transports)


@asynccontextmanager
async def gateway(
    settings: Settings, criteria_app: FastAPI, funding_app: FastAPI | None = None, **changes: Any
) -> AsyncIterator[Gateway]:
    """The gateway (settings with `changes`) started, and a client of it in-process."""
    app = gateway_app(settings, criteria_app, funding_app, **changes)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://gateway",
            headers=DEFAULT_HEADERS,
        ) as http,
    ):
        yield Gateway(http, record_upstream_calls(app))


@asynccontextmanager
async def over_http(app: FastAPI) -> AsyncIterator[str]:
    """`app` served by uvicorn in this event loop on a free local port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # start-up failed: raise why
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
