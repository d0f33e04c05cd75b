"""A gateway wired to the real criteria app, with a transport that counts upstream calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.app import create_app as create_gateway_app
from shared.settings import Settings
from tests.conftest import DEFAULT_HEADERS


class CountingTransport(httpx.AsyncBaseTransport):
    """Passes requests to the real upstream app and records each one."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.calls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path}")
        return await self.inner.handle_async_request(request)


@dataclass
class GraphQL:
    http: httpx.AsyncClient
    upstream: CountingTransport
    last_response: httpx.Response | None = field(default=None)

    async def __call__(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """POST a query (as the client's default caller, a central officer, or with `headers`,
        e.g. another caller's `auth_headers`); returns the whole response body."""
        self.upstream.calls.clear()
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        self.last_response = response
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The `data` of a query that must succeed."""
        body = await self(query, variables, headers=headers)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result


async def gateway_for(
    settings: Settings, transport: httpx.AsyncBaseTransport
) -> AsyncIterator[GraphQL]:
    counting = CountingTransport(transport)
    app = create_gateway_app(settings, transports={"criteria": counting})
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://gateway",
            headers=DEFAULT_HEADERS,
        ) as client,
    ):
        yield GraphQL(client, counting)


@pytest.fixture
async def gql(settings: Settings, criteria_app: FastAPI) -> AsyncIterator[GraphQL]:
    async for client in gateway_for(settings, httpx.ASGITransport(app=criteria_app)):
        yield client


@pytest.fixture
async def gql_funding(
    settings: Settings, criteria_app: FastAPI, funding_app: FastAPI
) -> AsyncIterator[GraphQL]:
    """A gateway over the real criteria and funding apps; `upstream.calls` lists the calls to
    both (their paths tell them apart)."""
    criteria = CountingTransport(httpx.ASGITransport(app=criteria_app))
    funding = CountingTransport(httpx.ASGITransport(app=funding_app))
    funding.calls = criteria.calls  # one list, cleared before each query
    app = create_gateway_app(settings, transports={"criteria": criteria, "funding": funding})
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://gateway",
            headers=DEFAULT_HEADERS,
        ) as client,
    ):
        yield GraphQL(client, criteria)


@pytest.fixture
async def gql_appraisal(
    settings: Settings, criteria_app: FastAPI, funding_app: FastAPI, appraisal_app: FastAPI
) -> AsyncIterator[GraphQL]:
    """A gateway over the real criteria, funding and appraisal apps; `upstream.calls` lists the
    calls to the three (their paths tell them apart)."""
    criteria = CountingTransport(httpx.ASGITransport(app=criteria_app))
    funding = CountingTransport(httpx.ASGITransport(app=funding_app))
    appraisal = CountingTransport(httpx.ASGITransport(app=appraisal_app))
    funding.calls = appraisal.calls = criteria.calls  # one list, cleared before each query
    app = create_gateway_app(
        settings, transports={"criteria": criteria, "funding": funding, "appraisal": appraisal}
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://gateway",
            headers=DEFAULT_HEADERS,
        ) as client,
    ):
        yield GraphQL(client, criteria)
