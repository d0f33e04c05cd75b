"""The gateway app: GraphQL at /graphql over the services' REST APIs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocket
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.base import BaseRequestProtocol
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from services.gateway.auth import authenticate_graphql
from services.gateway.clients import (
    AppraisalClient,
    CriteriaClient,
    FundingClient,
    Upstreams,
    make_http_client,
    missing_appraisal,
    missing_funding,
)
from services.gateway.context import Context
from services.gateway.schema import build_schema, format_error
from shared.auth import authenticator_for
from shared.authz import authenticator_of
from shared.errors import install_error_handlers, problem_response
from shared.limits import (
    RateLimiter,
    RequestBodyTooLarge,
    body_too_large,
    client_key,
    declared_length,
    limited_receive,
    retry_after,
    too_many_requests,
)
from shared.logging import current_request_id
from shared.service import settle_heap
from shared.settings import Settings


class GatewayRouter(GraphQLRouter[Context, None]):
    """Refuses a client over its rate (429) or a body over the limit (413) before anything is
    parsed; formats errors: codes on every error, unexpected ones masked."""

    def __init__(
        self, *args: Any, max_body_bytes: int, rate_limiter: RateLimiter | None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.max_body_bytes = max_body_bytes
        self.rate_limiter = rate_limiter

    async def run(  # type: ignore[override]
        self,
        request: Request | WebSocket,
        context: Context = UNSET,
        root_value: None = UNSET,
    ) -> Response | WebSocket:
        if isinstance(request, WebSocket):  # no subscriptions in the schema
            return await super().run(request, context, root_value)
        if self.rate_limiter is not None:
            client = await client_key(request, authenticator_of(request))
            wait = self.rate_limiter.admit(client)
            if wait is not None:
                return too_many_requests(request, retry_after(wait))
        declared = declared_length(request)
        limited = Request(
            request.scope, limited_receive(request.receive, self.max_body_bytes, declared)
        )
        try:
            return await super().run(limited, context, root_value)
        except RequestBodyTooLarge as exc:
            return body_too_large(request, exc.limit)

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # a persisted query sent by GET has its hash in `extensions` and no `query` either
        return "extensions" not in request.query_params and super().should_render_graphql_ide(
            request
        )

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        data: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            rid = current_request_id()
            data["errors"] = [format_error(e, rid) for e in result.errors]
        if result.extensions:
            data["extensions"] = result.extensions
        return data

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)  # its JSONDecodeError is json's: still a 400

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)


def graphql_router(upstreams_of: Any, settings: Settings) -> GatewayRouter:
    """`upstreams_of(request)` gives the Upstreams to use (set on app state at startup)."""

    async def get_context(request: Request) -> Context:
        return Context(upstreams_of(request), await authenticate_graphql(request))

    rate = settings.graphql_rate_limit
    return GatewayRouter(
        build_schema(settings),
        context_getter=get_context,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        max_body_bytes=settings.graphql_max_body_bytes,
        rate_limiter=RateLimiter(rate, settings.graphql_rate_burst) if rate else None,
    )


def upstreams_from_settings(
    settings: Settings, transports: dict[str, httpx.AsyncBaseTransport] | None = None
) -> Upstreams:
    """Clients for each upstream: in-process transports when given (embedded), else URLs."""
    transports = transports or {}

    def client(name: str, url: str | None) -> httpx.AsyncClient:
        transport = transports.get(name)
        if transport is None and not url:
            raise RuntimeError(f"NTM_{name.upper()}_URL is required for the gateway")
        return make_http_client(
            url or f"http://{name}", transport=transport, timeout_s=settings.upstream_timeout_s
        )

    funding_transport = transports.get("funding")
    return Upstreams(
        criteria=CriteriaClient(client("criteria", settings.criteria_url)),
        funding=FundingClient(client("funding", settings.funding_url))
        if funding_transport is not None or settings.funding_url
        else missing_funding(),
        appraisal=AppraisalClient(client("appraisal", settings.appraisal_url))
        if transports.get("appraisal") is not None or settings.appraisal_url
        else missing_appraisal(),
    )


def create_app(
    settings: Settings, transports: dict[str, httpx.AsyncBaseTransport] | None = None
) -> FastAPI:
    """The gateway on its own (distributed mode, or in tests with in-process transports)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.upstreams = upstreams_from_settings(settings, transports)
        settle_heap(settings)
        try:
            yield
        finally:
            await app.state.upstreams.aclose()

    app = FastAPI(title="ntm — GraphQL gateway", version="1", lifespan=lifespan)
    app.state.authenticator = authenticator_for(settings)
    install_error_handlers(app)
    app.include_router(
        graphql_router(lambda r: r.app.state.upstreams, settings),
        prefix="/graphql",
    )
    app.include_router(_health())
    return app


def _health() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        upstreams: Upstreams = request.app.state.upstreams
        failing = []
        for client in (upstreams.criteria,):
            try:
                response = await client.http.get("/readyz")
                if response.status_code != 200:
                    failing.append(client.name)
            except httpx.HTTPError:
                failing.append(client.name)
        if failing:
            return problem_response(
                request,
                status=503,
                code="not_ready",
                message_vi="Dịch vụ chưa sẵn sàng: " + ", ".join(failing),
                message_en="Upstreams not ready: " + ", ".join(failing),
            )
        return JSONResponse({"status": "ready"})

    return router
